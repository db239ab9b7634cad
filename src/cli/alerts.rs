//! `aplomb alert …`, `aplomb integration …` and `aplomb event send`.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::{CliError, Client, table, text, texts};

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// List alerts, most recent first.
    List {
        #[arg(long)]
        service: Option<String>,
        /// triggered, acknowledged or resolved.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        incident: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show an alert with its latest raw payload.
    Show { id: i64 },
    /// Acknowledge an alert.
    Ack { id: i64 },
    /// Resolve an alert.
    Resolve { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Add an integration to a service and print its routing key (admins only).
    Create {
        service: String,
        /// events_v2, alertmanager, grafana, or forge (code-forge webhooks, whose signing
        /// secret and webhook URL are printed too).
        #[arg(long, default_value = "events_v2")]
        kind: String,
    },
    /// A service's integrations.
    List { service: String },
    /// Replace an integration's routing key (admins only).
    Rotate { id: i64 },
    /// Revoke an integration (admins only).
    Revoke { id: i64 },
}

/// A test event in PagerDuty's Events API v2 format, sent to `/v2/enqueue` (no token needed:
/// the routing key is the credential, as for any monitoring tool).
#[derive(Debug, clap::Args)]
pub struct EventArgs {
    #[arg(long)]
    pub routing_key: String,
    /// trigger, acknowledge or resolve.
    #[arg(long, default_value = "trigger")]
    pub action: String,
    #[arg(long)]
    pub dedup_key: Option<String>,
    #[arg(long, default_value = "Test event from aplomb event send")]
    pub summary: String,
    #[arg(long, default_value = "aplomb-cli")]
    pub source: String,
    /// critical, error, warning or info.
    #[arg(long, default_value = "warning")]
    pub severity: String,
}

impl Client {
    pub async fn alert(&self, command: AlertCommand) -> Result<(), CliError> {
        let (path, method) = match &command {
            AlertCommand::List {
                service,
                status,
                incident,
                limit,
            } => {
                let mut query = format!("?limit={limit}");
                for (name, value) in [
                    ("service", service.clone()),
                    ("status", status.clone()),
                    ("incident", incident.map(|i| i.to_string())),
                ] {
                    if let Some(value) = value {
                        query.push_str(&format!("&{name}={value}"));
                    }
                }
                (format!("/alerts{query}"), Method::GET)
            }
            AlertCommand::Show { id } => (format!("/alerts/{id}"), Method::GET),
            AlertCommand::Ack { id } => (format!("/alerts/{id}/acknowledge"), Method::POST),
            AlertCommand::Resolve { id } => (format!("/alerts/{id}/resolve"), Method::POST),
        };
        let body = (method == Method::POST).then(|| json!({}));
        let answer = self.call(method, &path, body).await?;
        self.print(&answer, |v| match v.as_array() {
            Some(alerts) => {
                let rows: Vec<Vec<String>> = alerts
                    .iter()
                    .map(|a| {
                        vec![
                            text(&a["id"]),
                            text(&a["service"]),
                            text(&a["status"]),
                            text(&a["severity"]),
                            text(&a["count"]),
                            text(&a["incident_id"]),
                            text(&a["summary"]),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    "no alerts\n".into()
                } else {
                    table(
                        &[
                            "ID", "SERVICE", "STATUS", "SEVERITY", "COUNT", "INCIDENT", "SUMMARY",
                        ],
                        &rows,
                    )
                }
            }
            None => format!(
                "alert {} on {}: {} ({}, {} events)\n{}\nincident: {}\npayload: {}\n",
                text(&v["id"]),
                text(&v["service"]),
                text(&v["status"]),
                text(&v["severity"]),
                text(&v["count"]),
                text(&v["summary"]),
                text(&v["incident_id"]),
                v["payload"]
            ),
        });
        Ok(())
    }

    pub async fn integration(&self, command: IntegrationCommand) -> Result<(), CliError> {
        let answer = match command {
            IntegrationCommand::Create { service, kind } => {
                self.call(
                    Method::POST,
                    &format!("/services/{service}/integrations"),
                    Some(json!({"kind": kind})),
                )
                .await?
            }
            IntegrationCommand::List { service } => {
                self.call(
                    Method::GET,
                    &format!("/services/{service}/integrations"),
                    None,
                )
                .await?
            }
            IntegrationCommand::Rotate { id } => {
                self.call(
                    Method::POST,
                    &format!("/integrations/{id}/rotate"),
                    Some(json!({})),
                )
                .await?
            }
            IntegrationCommand::Revoke { id } => {
                self.call(Method::DELETE, &format!("/integrations/{id}"), None)
                    .await?;
                println!("integration {id} revoked");
                return Ok(());
            }
        };
        self.print(&answer, |v| match v.as_array() {
            Some(list) => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|i| {
                        vec![
                            text(&i["id"]),
                            text(&i["kind"]),
                            // Only admins are given keys; others see their last characters.
                            if i["routing_key"].is_string() {
                                text(&i["routing_key"])
                            } else {
                                format!("…{}", text(&i["key_hint"]))
                            },
                            text(&i["revoked_at"]),
                        ]
                    })
                    .collect();
                table(&["ID", "KIND", "ROUTING KEY", "REVOKED"], &rows)
            }
            None if v["signing_secret"].is_string() => format!(
                "{key}\nsigning secret: {}\nwebhook URL: {}/integrations/forge/{key}\n",
                text(&v["signing_secret"]),
                self.base,
                key = text(&v["routing_key"]),
            ),
            None => format!("{}\n", text(&v["routing_key"])),
        });
        Ok(())
    }

    /// Sends one event to `/v2/enqueue` and prints the dedup key it was stored under.
    pub async fn send_event(&self, args: EventArgs) -> Result<(), CliError> {
        let mut event = json!({"routing_key": args.routing_key, "event_action": args.action});
        if let Some(key) = args.dedup_key {
            event["dedup_key"] = json!(key);
        }
        if args.action == "trigger" {
            event["payload"] =
                json!({"summary": args.summary, "source": args.source, "severity": args.severity});
        }
        let request = self
            .http
            .post(format!("{}/v2/enqueue", self.base))
            .json(&event);
        let (status, answer) = self.exchange(request).await?;
        if !status.is_success() {
            let errors = texts(&answer["errors"]);
            return Err(CliError::Api {
                status,
                message: format!("{}: {}", text(&answer["message"]), errors.join("; ")),
            });
        }
        self.print(&answer, |v| format!("{}\n", text(&v["dedup_key"])));
        Ok(())
    }
}
