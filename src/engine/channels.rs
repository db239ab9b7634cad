//! Outbound channels: SMTP email, signed webhooks, Slack-compatible chat webhooks, and SMS or
//! voice through a Twilio-compatible HTTP API.

use std::time::Duration;

use jiff::Timestamp;
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::json;

use crate::markup::escape;
use crate::secret::sign_webhook;

/// Where outbound messages go; each channel is optional.
#[derive(Debug, Clone, Default)]
pub struct OutboundConfig {
    /// `smtp://[user:password@]host[:port][?tls=none|starttls]` (STARTTLS when offered by
    /// default; `starttls` requires it) or `smtps://…` for TLS from the first byte.
    pub smtp_url: Option<String>,
    /// PEM file of an extra CA to trust for the SMTP server's certificate (a private relay).
    pub smtp_ca_file: Option<std::path::PathBuf>,
    pub smtp_from: String,
    /// Base URL of a Twilio-compatible API, with account SID, auth token and sender number.
    pub twilio: Option<TwilioConfig>,
    /// Where people reach this server, for links in messages.
    pub public_url: String,
}

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
}

/// What a page says, whatever the channel.
#[derive(Debug, Clone)]
pub struct PageMessage {
    pub delivery_id: i64,
    pub incident_id: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub incident_url: String,
    pub about: Notice,
    /// About a drill: the line starts with "DRILL", and the webhook event says `drill`.
    pub drill: bool,
}

/// What the message asks of its reader.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A page: acknowledge the incident.
    Page { page_id: i64, ack_url: String },
    /// A check-in reminder: report progress on a task.
    CheckIn {
        task_id: i64,
        task: String,
        url: String,
    },
    /// An overdue status update: post one.
    UpdateDue { url: String },
    /// An action item due soon or overdue: do it, or say where it stands.
    ActionItem {
        item_id: i64,
        item: String,
        /// RFC 3339.
        due_at: Option<String>,
        overdue: bool,
        url: String,
    },
    /// A published status update, to a stakeholder who subscribed.
    StatusUpdate {
        update_id: i64,
        phase: String,
        text: String,
        url: String,
    },
}

impl PageMessage {
    /// The message's first line (an email's subject, a chat message, an SMS), "DRILL" first
    /// when it is about one, so no one mistakes practice for an outage.
    fn line(&self) -> String {
        let line = self.plain_line();
        if self.drill {
            format!("DRILL {line}")
        } else {
            line
        }
    }

    fn plain_line(&self) -> String {
        match &self.about {
            Notice::Page { .. } => format!(
                "[aplomb] {} incident #{}: {}",
                self.severity, self.incident_id, self.title
            ),
            Notice::CheckIn { task, .. } => format!(
                "[aplomb] Check-in due on incident #{}: {task}",
                self.incident_id
            ),
            Notice::UpdateDue { .. } => format!(
                "[aplomb] Status update due on incident #{}: {}",
                self.incident_id, self.title
            ),
            Notice::StatusUpdate { phase, .. } => format!(
                "[aplomb] Update on incident #{} ({phase}): {}",
                self.incident_id, self.title
            ),
            Notice::ActionItem { item, overdue, .. } => format!(
                "[aplomb] Action item {} from incident #{}: {item}",
                if *overdue { "overdue" } else { "due" },
                self.incident_id
            ),
        }
    }

    /// What the message says beyond its line: a status update's own words.
    fn words(&self) -> Option<&str> {
        match &self.about {
            Notice::StatusUpdate { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The one thing to do, as a label and a link.
    fn action(&self) -> (&'static str, &str) {
        match &self.about {
            Notice::Page { ack_url, .. } => ("Acknowledge", ack_url),
            Notice::CheckIn { url, .. } => ("Check in", url),
            Notice::UpdateDue { url } => ("Post an update", url),
            Notice::StatusUpdate { url, .. } => ("Read it on the incident", url),
            Notice::ActionItem { url, .. } => ("Update the action item", url),
        }
    }

    /// The outbound webhook event (CONTRACTS.md §5).
    fn event(&self, now: Timestamp) -> serde_json::Value {
        let incident = json!({"id": self.incident_id, "title": self.title, "severity": self.severity,
                              "status": self.status, "url": self.incident_url, "drill": self.drill});
        let id = format!("dlv_{}", self.delivery_id);
        let created_at = now.to_string();
        match &self.about {
            Notice::Page { page_id, ack_url } => json!({
                "type": "page.created", "id": id, "created_at": created_at,
                "page": {"id": page_id, "acknowledge_url": ack_url},
                "incident": incident,
            }),
            Notice::CheckIn { task_id, task, url } => json!({
                "type": "task.check_in_due", "id": id, "created_at": created_at,
                "task": {"id": task_id, "title": task, "check_in_url": url},
                "incident": incident,
            }),
            Notice::UpdateDue { url } => json!({
                "type": "incident.update_due", "id": id, "created_at": created_at,
                "update": {"compose_url": url},
                "incident": incident,
            }),
            Notice::StatusUpdate {
                update_id,
                phase,
                text,
                url,
            } => json!({
                "type": "status_update.published", "id": id, "created_at": created_at,
                "status_update": {"id": update_id, "phase": phase, "text": text, "url": url},
                "incident": incident,
            }),
            Notice::ActionItem {
                item_id,
                item,
                due_at,
                overdue,
                url,
            } => json!({
                "type": if *overdue { "action_item.overdue" } else { "action_item.due" },
                "id": id, "created_at": created_at,
                "action_item": {"id": item_id, "title": item, "due_at": due_at, "url": url},
                "incident": incident,
            }),
        }
    }
}

/// One email to send: its subject, its text and HTML bodies, extra header lines, and an
/// iCalendar invitation (`METHOD:REQUEST`) as a third alternative, which mail clients show
/// as an event to accept.
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(&'static str, String)>,
    pub calendar: Option<String>,
}

pub struct Channels {
    config: OutboundConfig,
    http: reqwest::Client,
}

impl Channels {
    pub fn new(config: OutboundConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { config, http }
    }

    /// The address mail is sent from, without a display name: `aplomb@example.org`.
    pub fn sender_address(&self) -> String {
        match self.config.smtp_from.parse::<lettre::message::Mailbox>() {
            Ok(mailbox) => mailbox.email.to_string(),
            Err(_) => self.config.smtp_from.clone(),
        }
    }

    pub fn public_url(&self) -> &str {
        &self.config.public_url
    }

    /// Why messages of `kind` cannot be sent at all with this configuration (no SMTP server,
    /// no SMS/voice API): such a failure cannot heal by retrying.
    pub fn unconfigured(&self, kind: &str) -> Option<&'static str> {
        match kind {
            "email" if self.config.smtp_url.is_none() => {
                Some("no SMTP server is configured (--smtp-url)")
            }
            "sms" | "voice" if self.config.twilio.is_none() => {
                Some("no SMS/voice API is configured (--twilio-url)")
            }
            _ => None,
        }
    }

    /// Sends one message; `Ok` carries a short receipt, `Err` what went wrong.
    pub async fn send(
        &self,
        kind: &str,
        address: &str,
        secret: &str,
        msg: &PageMessage,
        now: Timestamp,
    ) -> Result<String, String> {
        match kind {
            "email" => self.email(address, msg).await,
            "webhook" => self.webhook(address, secret, msg, now).await,
            "chat" => self.chat(address, msg).await,
            "sms" | "voice" => self.twilio(kind, address, msg).await,
            other => Err(format!("unknown contact method kind {other:?}")),
        }
    }

    async fn email(&self, to: &str, msg: &PageMessage) -> Result<String, String> {
        let (label, url) = msg.action();
        let words = msg.words().map(|w| format!("{w}\n\n")).unwrap_or_default();
        let text = format!(
            "{}\n\n{words}Status: {}\nIncident: {}\n\n{label}: {url}\n",
            msg.line(),
            msg.status,
            msg.incident_url,
        );
        let html_words = msg
            .words()
            .map(|w| format!("<p style=\"white-space: pre-wrap\">{}</p>", escape(w)))
            .unwrap_or_default();
        let html = format!(
            "<p><strong>{}</strong></p>{html_words}<p>Incident #{}: {} ({}, {})</p>\
             <p><a href=\"{}\">{label}</a> · <a href=\"{}\">Open the incident</a></p>",
            escape(&msg.line()),
            msg.incident_id,
            escape(&msg.title),
            escape(&msg.severity),
            escape(&msg.status),
            escape(url),
            escape(&msg.incident_url)
        );
        let mail = Mail {
            subject: msg.line(),
            text,
            html,
            headers: Vec::new(),
            calendar: None,
        };
        self.mail(to, mail).await
    }

    /// Sends one email (text and HTML) through the configured SMTP server.
    pub async fn mail(&self, to: &str, mail: Mail) -> Result<String, String> {
        let url = self
            .config
            .smtp_url
            .as_deref()
            .ok_or("no SMTP server is configured (--smtp-url)")?;
        let target = parse_smtp_url(url)?;
        let mut builder = lettre::Message::builder()
            .from(
                self.config
                    .smtp_from
                    .parse()
                    .map_err(|e| format!("sender address: {e}"))?,
            )
            .to(to
                .parse()
                .map_err(|e| format!("recipient address {to:?}: {e}"))?)
            .subject(mail.subject);
        for (name, value) in mail.headers {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value,
            ));
        }
        let body = match mail.calendar {
            None => MultiPart::alternative_plain_html(mail.text, mail.html),
            Some(ics) => {
                let calendar = ContentType::parse("text/calendar; method=REQUEST; charset=utf-8")
                    .map_err(|e| format!("the calendar part's type: {e}"))?;
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(mail.text))
                    .singlepart(SinglePart::html(mail.html))
                    .singlepart(SinglePart::builder().header(calendar).body(ics))
            }
        };
        let email = builder
            .multipart(body)
            .map_err(|e| format!("building the email: {e}"))?;
        let transport = self.smtp_transport(&target)?;
        let response = transport
            .send(email)
            .await
            .map_err(|e| format!("SMTP: {e}"))?;
        Ok(format!("SMTP {}", response.code()))
    }

    fn smtp_transport(
        &self,
        target: &SmtpTarget,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let mut tls = TlsParameters::builder(target.host.clone());
        if let Some(path) = &self.config.smtp_ca_file {
            let pem =
                std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let ca = Certificate::from_pem(&pem)
                .map_err(|e| format!("CA certificate {}: {e}", path.display()))?;
            tls = tls.add_root_certificate(ca);
        }
        let tls = tls.build().map_err(|e| format!("TLS settings: {e}"))?;
        let mode = match target.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Opportunistic => Tls::Opportunistic(tls),
            SmtpTls::Required => Tls::Required(tls),
            SmtpTls::Wrapper => Tls::Wrapper(tls),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.as_str())
                .port(target.port)
                .tls(mode)
                .timeout(Some(Duration::from_secs(10)));
        if let Some((user, password)) = &target.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }

    async fn webhook(
        &self,
        url: &str,
        secret: &str,
        msg: &PageMessage,
        now: Timestamp,
    ) -> Result<String, String> {
        self.post_signed(url, secret, msg.event(now).to_string(), now)
            .await
    }

    /// POSTs a JSON event to `url`, signed with `secret` (CONTRACTS.md §5).
    pub async fn post_signed(
        &self,
        url: &str,
        secret: &str,
        body: String,
        now: Timestamp,
    ) -> Result<String, String> {
        let signature = sign_webhook(secret, now.as_second(), &body);
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("Aplomb-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        http_outcome(response.status())
    }

    async fn chat(&self, url: &str, msg: &PageMessage) -> Result<String, String> {
        let (label, link) = msg.action();
        let words = msg.words().map(|w| format!("\n{w}")).unwrap_or_default();
        let text = format!("{} (<{link}|{}>){words}", msg.line(), label.to_lowercase());
        let response = self
            .http
            .post(url)
            .json(&json!({ "text": text }))
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        http_outcome(response.status())
    }

    async fn twilio(&self, kind: &str, to: &str, msg: &PageMessage) -> Result<String, String> {
        let cfg = self
            .config
            .twilio
            .as_ref()
            .ok_or("no SMS/voice API is configured (--twilio-url)")?;
        let (resource, content_key, content) = if kind == "sms" {
            (
                "Messages",
                "Body",
                match msg.words() {
                    Some(words) => format!("{} {words} {}", msg.line(), msg.action().1),
                    None => format!("{} {}: {}", msg.line(), msg.action().0, msg.action().1),
                },
            )
        } else {
            let say = escape(&match &msg.about {
                Notice::Page { .. } => {
                    format!("aplomb page. {} incident: {}", msg.severity, msg.title)
                }
                Notice::CheckIn { task, .. } => {
                    format!("aplomb reminder. A check-in is due on the task: {task}")
                }
                Notice::StatusUpdate { text, .. } => {
                    format!("aplomb status update on: {}. {text}", msg.title)
                }
                Notice::UpdateDue { .. } => {
                    format!("aplomb reminder. A status update is due on: {}", msg.title)
                }
                Notice::ActionItem { item, overdue, .. } => format!(
                    "aplomb reminder. An action item is {}: {item}",
                    if *overdue { "overdue" } else { "due" }
                ),
            });
            (
                "Calls",
                "Twiml",
                format!("<Response><Say>{say}</Say></Response>"),
            )
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            cfg.base_url.trim_end_matches('/'),
            cfg.account_sid
        );
        let response = self
            .http
            .post(&url)
            .basic_auth(&cfg.account_sid, Some(&cfg.auth_token))
            .form(&[
                ("To", to),
                ("From", cfg.from.as_str()),
                (content_key, content.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        http_outcome(response.status())
    }
}

fn http_outcome(status: reqwest::StatusCode) -> Result<String, String> {
    if status.is_success() {
        Ok(format!("HTTP {}", status.as_u16()))
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmtpTls {
    /// Plain text only (`?tls=none`): for a relay on the same host.
    None,
    /// STARTTLS when the server offers it (the default for `smtp://`).
    Opportunistic,
    /// STARTTLS or fail (`?tls=starttls`).
    Required,
    /// TLS from the first byte (`smtps://`).
    Wrapper,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SmtpTarget {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<(String, String)>,
}

fn parse_smtp_url(url: &str) -> Result<SmtpTarget, String> {
    let bad = || {
        format!(
            "SMTP URL must look like smtp://[user:password@]host[:port][?tls=none|starttls] or smtps://…, got {url:?}"
        )
    };
    let (implicit_tls, rest) = match (url.strip_prefix("smtps://"), url.strip_prefix("smtp://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err(bad()),
    };
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.trim_end_matches('/');
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((creds, host)) => {
            let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
            (Some((user.to_string(), password.to_string())), host)
        }
        None => (None, authority),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
        None => (host_port, if implicit_tls { 465 } else { 25 }),
    };
    if host.is_empty() {
        return Err(bad());
    }
    let tls = match (implicit_tls, query) {
        (true, "") => SmtpTls::Wrapper,
        (false, "") => SmtpTls::Opportunistic,
        (false, "tls=none") => SmtpTls::None,
        (false, "tls=starttls") => SmtpTls::Required,
        _ => return Err(bad()),
    };
    Ok(SmtpTarget {
        host: host.to_string(),
        port,
        tls,
        credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_say_host_port_protection_and_credentials() {
        let plain = parse_smtp_url("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!(
            (plain.host.as_str(), plain.port, plain.tls),
            ("127.0.0.1", 2525, SmtpTls::None)
        );
        assert_eq!(
            parse_smtp_url("smtp://mail").unwrap().tls,
            SmtpTls::Opportunistic
        );
        assert_eq!(parse_smtp_url("smtp://mail").unwrap().port, 25);
        let secure = parse_smtp_url("smtps://pager:s3cret@mail.example.org").unwrap();
        assert_eq!((secure.port, secure.tls), (465, SmtpTls::Wrapper));
        assert_eq!(secure.credentials, Some(("pager".into(), "s3cret".into())));
        assert_eq!(
            parse_smtp_url("smtp://mail:587?tls=starttls").unwrap().tls,
            SmtpTls::Required
        );
        assert!(parse_smtp_url("http://x").is_err());
        assert!(parse_smtp_url("smtp://mail?tls=maybe").is_err());
        assert!(parse_smtp_url("smtp://:25").is_err());
    }
}
