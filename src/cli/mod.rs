//! The CLI client: every command is one or two calls to the REST API.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub mod auth;

/// The server when neither a flag, the environment nor `aplomb login` names one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Where the server is and who we are.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Base URL of the aplomb server [default: the one `aplomb login` stored, else
    /// http://127.0.0.1:8080].
    #[arg(long, env = "APLOMB_URL", global = true)]
    pub url: Option<String>,
    /// API token [default: the one `aplomb login` stored, for its server]; or create one on
    /// the web UI's Tokens page.
    #[arg(long, env = "APLOMB_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// PEM file of a private CA to trust for an https:// server's certificate (besides the
    /// usual public roots).
    #[arg(long, env = "APLOMB_CA_FILE", global = true)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Declare an incident and print its id.
    Declare {
        #[arg(long)]
        title: String,
        /// SEV1 (most severe) to SEV4.
        #[arg(long)]
        severity: String,
        /// Incident type, e.g. outage, degradation, security.
        #[arg(long = "type")]
        incident_type: Option<String>,
        #[arg(long)]
        summary: Option<String>,
        /// Affected service (repeatable).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Visible only to participants and admins.
        #[arg(long)]
        private: bool,
    },
    /// List incidents, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        severity: Option<String>,
        /// Only unresolved incidents.
        #[arg(long)]
        active: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show an incident with its roles and timeline.
    Show { id: i64 },
    /// Post a note to the timeline.
    Note { id: i64, text: String },
    /// Move an incident to a status.
    Status {
        id: i64,
        status: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Change an incident's severity.
    Severity { id: i64, severity: String },
    /// Give a role (incident_lead, communications_lead, scribe) to a user.
    Role { id: i64, role: String, user: String },
    /// Resolve an incident.
    Resolve {
        id: i64,
        #[arg(long)]
        reason: Option<String>,
    },
}

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
        /// events_v2, alertmanager or grafana.
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

/// How a responder is reached: their contact methods and notification rules. Without
/// `--user`, the token's own user (admins may name anyone).
#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    /// Contact methods and notification rules.
    List,
    /// Add a contact method: email, sms, voice, webhook or chat.
    Add { kind: String, address: String },
    /// Remove a contact method (and the notification rules that use it).
    Remove { id: i64 },
    /// Give a webhook contact method a new signing secret (printed once; the old one stops).
    RotateSecret { id: i64 },
    /// Page through contact method METHOD_ID this many minutes after a page.
    AddRule {
        method_id: i64,
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
    /// Remove a notification rule.
    RemoveRule { id: i64 },
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

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (admins only).
    Create {
        username: String,
        #[arg(long, default_value = "responder")]
        role: String,
        #[arg(long)]
        name: Option<String>,
        /// Password for the web UI; read from APLOMB_NEW_PASSWORD when not given.
        #[arg(long, env = "APLOMB_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List users (admins only).
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print it.
    Create {
        username: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List API tokens (yours, or --user's for an admin): id, name, created.
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke an API token by id: it stops working at once.
    Revoke {
        id: i64,
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Add a service to the catalog (admins only).
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "")]
        owner_team: String,
    },
    /// List the service catalog.
    List,
}

/// What went wrong, and the exit code that says so.
#[derive(Debug)]
pub enum CliError {
    /// The server could not be reached.
    Connection(String),
    /// The server answered with an error.
    Api {
        status: StatusCode,
        message: String,
    },
    Usage(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Api { .. } => ExitCode::from(1),
            Self::Usage(_) => ExitCode::from(2),
            Self::Connection(_) => ExitCode::from(3),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connection(m) | Self::Usage(m) => f.write_str(m),
            Self::Api { status, message } => write!(f, "{message} (HTTP {})", status.as_u16()),
        }
    }
}

/// The HTTP client: rustls with the public (webpki) roots, plus `ca_file`'s certificates.
fn http_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "--ca-file {}: no PEM certificate in it",
                path.display()
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("setting up HTTPS: {}", root_cause(&e)))
}

pub struct Client {
    base: String,
    token: Option<String>,
    /// The user `aplomb login` signed in as, when its token is the one in use.
    stored_user: Option<String>,
    http: reqwest::Client,
    /// Why the client cannot talk to the server (e.g. an unreadable login file), said at the
    /// first request.
    problem: Option<String>,
    pub json: bool,
}

impl Client {
    /// Flags and environment first, then what `aplomb login` stored.
    pub fn new(conn: &Connection) -> Self {
        let trimmed = |url: &str| url.trim_end_matches('/').to_string();
        let (stored, mut problem) = match auth::load() {
            Ok(stored) => (stored, None),
            Err(e) => (None, Some(e)),
        };
        if conn.url.is_some() && conn.token.is_some() {
            problem = None;
        }
        let base = conn
            .url
            .as_deref()
            .or(stored.as_ref().map(|s| s.url.as_str()))
            .map_or_else(|| DEFAULT_URL.to_string(), trimmed);
        // The stored token goes only to the server that issued it.
        let stored = stored.filter(|s| trimmed(&s.url) == base);
        let ca_file = conn
            .ca_file
            .clone()
            .or_else(|| stored.as_ref().and_then(|s| s.ca_file.clone()));
        let (token, stored_user) = match (&conn.token, stored) {
            (Some(token), _) => (Some(token.clone()), None),
            (None, Some(s)) => (Some(s.token), Some(s.username)),
            (None, None) => (None, None),
        };
        let http = match http_client(ca_file.as_deref()) {
            Ok(http) => http,
            Err(e) => {
                problem = Some(e);
                reqwest::Client::new()
            }
        };
        Self {
            base,
            token,
            stored_user,
            http,
            problem,
            json: conn.json,
        }
    }

    /// Sends a request and reads the answer as JSON (or as text when it is not JSON).
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Value), CliError> {
        if let Some(problem) = &self.problem {
            return Err(CliError::Usage(problem.clone()));
        }
        let response = request.send().await.map_err(|e| {
            let cause = root_cause(&e);
            // rustls says "invalid peer certificate: UnknownIssuer"; say what to do about it.
            let hint = if cause.contains("certificate") {
                "; if the server's certificate is issued by a private CA, pass that CA's PEM \
                 with --ca-file (or APLOMB_CA_FILE)"
            } else {
                ""
            };
            CliError::Connection(format!(
                "cannot reach aplomb at {}: {cause}{hint}",
                self.base
            ))
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            CliError::Connection(format!("reading the answer from {}: {e}", self.base))
        })?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let token = self.token.as_deref().ok_or_else(|| {
            CliError::Usage(
                "no API token: run `aplomb login`, or pass --token or set APLOMB_TOKEN".into(),
            )
        })?;
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.answer(request).await
    }

    /// A POST that needs no token (signing in).
    async fn call_without_token(&self, path: &str, body: Value) -> Result<Value, CliError> {
        let request = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .json(&body);
        self.answer(request).await
    }

    /// The answer's JSON, or the server's error message.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Value, CliError> {
        let (status, value) = self.exchange(request).await?;
        if status.is_success() {
            return Ok(value);
        }
        let message = value["error"]["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("unexpected answer: {value}"));
        Err(CliError::Api { status, message })
    }

    /// Prints `value` as JSON in `--json` mode, otherwise as `human` renders it.
    fn print(&self, value: &Value, human: impl FnOnce(&Value) -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            print!("{}", human(value));
        }
    }

    pub async fn incident(&self, command: IncidentCommand) -> Result<(), CliError> {
        match command {
            IncidentCommand::Declare {
                title,
                severity,
                incident_type,
                summary,
                services,
                private,
            } => {
                let body = json!({"title": title, "severity": severity, "type": incident_type,
                                  "summary": summary, "services": services, "private": private});
                let created = self.call(Method::POST, "/incidents", Some(body)).await?;
                self.print(&created, |v| format!("{}\n", v["id"]));
            }
            IncidentCommand::List {
                status,
                severity,
                active,
                limit,
            } => {
                let mut query = format!("?limit={limit}&active={active}");
                if let Some(s) = status {
                    query.push_str(&format!("&status={s}"));
                }
                if let Some(s) = severity {
                    query.push_str(&format!("&severity={s}"));
                }
                let page = self
                    .call(Method::GET, &format!("/incidents{query}"), None)
                    .await?;
                self.print(&page, incident_table);
            }
            IncidentCommand::Show { id } => {
                let incident = self
                    .call(Method::GET, &format!("/incidents/{id}"), None)
                    .await?;
                let timeline = self
                    .call(Method::GET, &format!("/incidents/{id}/timeline"), None)
                    .await?;
                let both = json!({"incident": incident, "timeline": timeline});
                self.print(&both, |v| show_incident(&v["incident"], &v["timeline"]));
            }
            IncidentCommand::Note { id, text } => {
                let entry = self
                    .call(
                        Method::POST,
                        &format!("/incidents/{id}/timeline"),
                        Some(json!({"text": text})),
                    )
                    .await?;
                self.print(&entry, |v| {
                    format!("note {} added to incident {id}\n", v["id"])
                });
            }
            IncidentCommand::Status { id, status, reason } => {
                self.patch(id, json!({"status": status, "reason": reason}))
                    .await?;
            }
            IncidentCommand::Severity { id, severity } => {
                self.patch(id, json!({"severity": severity})).await?;
            }
            IncidentCommand::Resolve { id, reason } => {
                self.patch(id, json!({"status": "resolved", "reason": reason}))
                    .await?;
            }
            IncidentCommand::Role { id, role, user } => {
                let updated = self
                    .call(
                        Method::PUT,
                        &format!("/incidents/{id}/roles/{role}"),
                        Some(json!({"user": user})),
                    )
                    .await?;
                self.print(&updated, |v| {
                    format!("incident {id}: {user} is {role}\n{}", roles_line(v))
                });
            }
        }
        Ok(())
    }

    async fn patch(&self, id: i64, body: Value) -> Result<(), CliError> {
        let updated = self
            .call(Method::PATCH, &format!("/incidents/{id}"), Some(body))
            .await?;
        self.print(&updated, |v| {
            format!(
                "incident {id} is {} ({})\n",
                v["status"].as_str().unwrap_or("?"),
                v["severity"].as_str().unwrap_or("?")
            )
        });
        Ok(())
    }

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
            let errors: Vec<String> = answer["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            return Err(CliError::Api {
                status,
                message: format!("{}: {}", text(&answer["message"]), errors.join("; ")),
            });
        }
        self.print(&answer, |v| format!("{}\n", text(&v["dedup_key"])));
        Ok(())
    }

    pub async fn ack(&self, id: i64) -> Result<(), CliError> {
        let answer = self
            .call(
                Method::POST,
                &format!("/incidents/{id}/acknowledge"),
                Some(json!({})),
            )
            .await?;
        self.print(&answer, |v| {
            if v["acknowledged"].as_bool() == Some(true) {
                format!("acknowledged incident {id}; escalation stopped\n")
            } else {
                format!("incident {id} had nothing waiting for acknowledgement\n")
            }
        });
        Ok(())
    }

    /// Reads an org file (TOML, or JSON by extension) and applies it on the server; with
    /// `dry_run`, prints what applying would do and writes nothing.
    pub async fn apply(&self, file: &std::path::Path, dry_run: bool) -> Result<(), CliError> {
        let content = std::fs::read_to_string(file)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
        let document: Value = if file.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&content)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?
        } else {
            toml::from_str(&content)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?
        };
        let path = if dry_run {
            "/apply?dry_run=true"
        } else {
            "/apply"
        };
        let report = self.call(Method::POST, path, Some(document)).await?;
        self.print(&report, |v| {
            v["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{}\n", text(c)))
                .collect()
        });
        Ok(())
    }

    pub async fn export(&self) -> Result<(), CliError> {
        let document = self.call(Method::GET, "/export", None).await?;
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            );
            return Ok(());
        }
        let text = toml::to_string(&document)
            .map_err(|e| CliError::Usage(format!("cannot write the setup as TOML: {e}")))?;
        print!("{text}");
        Ok(())
    }

    pub async fn service_oncall(&self, service: &str) -> Result<(), CliError> {
        let answer = self
            .call(Method::GET, &format!("/services/{service}/oncall"), None)
            .await?;
        self.print(&answer, |v| {
            let people: Vec<String> = v["on_call_now"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            format!(
                "{}: {} (policy {})\n",
                text(&v["service"]),
                if people.is_empty() {
                    "nobody".to_string()
                } else {
                    people.join(", ")
                },
                text(&v["escalation_policy"])
            )
        });
        Ok(())
    }

    pub async fn oncall(&self, schedule: Option<&str>) -> Result<(), CliError> {
        let schedules = self.call(Method::GET, "/schedules", None).await?;
        let chosen: Vec<Value> = schedules
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| schedule.is_none_or(|name| s["name"] == name))
            .cloned()
            .collect();
        if let Some(name) = schedule
            && chosen.is_empty()
        {
            return Err(CliError::Usage(format!("no schedule named {name:?}")));
        }
        let value = Value::Array(chosen);
        self.print(&value, |v| {
            let rows: Vec<Vec<String>> = v
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| vec![text(&s["name"]), text(&s["on_call"]), text(&s["time_zone"])])
                .collect();
            table(&["SCHEDULE", "ON CALL", "TIME ZONE"], &rows)
        });
        Ok(())
    }

    /// Manages a responder's contact methods and notification rules.
    pub async fn contact(
        &self,
        user: Option<&str>,
        command: ContactCommand,
    ) -> Result<(), CliError> {
        let user = match user {
            Some(name) => name.to_string(),
            None => text(&self.call(Method::GET, "/whoami", None).await?["username"]),
        };
        let base = format!("/users/{user}");
        match command {
            ContactCommand::List => {
                let methods = self
                    .call(Method::GET, &format!("{base}/contact-methods"), None)
                    .await?;
                let rules = self
                    .call(Method::GET, &format!("{base}/notification-rules"), None)
                    .await?;
                let value = json!({"contact_methods": methods, "notification_rules": rules});
                self.print(&value, |v| {
                    let rows =
                        |key: &str, cells: &dyn Fn(&Value) -> Vec<String>| -> Vec<Vec<String>> {
                            v[key].as_array().into_iter().flatten().map(cells).collect()
                        };
                    let methods = rows("contact_methods", &|m| {
                        vec![text(&m["id"]), text(&m["kind"]), text(&m["address"])]
                    });
                    let rules = rows("notification_rules", &|r| {
                        vec![
                            text(&r["id"]),
                            text(&r["contact_method_id"]),
                            format!("{} min", text(&r["delay_minutes"])),
                        ]
                    });
                    let mut out = table(&["METHOD", "KIND", "ADDRESS"], &methods);
                    out.push('\n');
                    if rules.is_empty() {
                        out.push_str("no notification rules: a page uses every method at once\n");
                    } else {
                        out.push_str(&table(&["RULE", "METHOD", "AFTER"], &rules));
                    }
                    out
                });
            }
            ContactCommand::Add { kind, address } => {
                let method = self
                    .call(
                        Method::POST,
                        &format!("{base}/contact-methods"),
                        Some(json!({"kind": kind, "address": address})),
                    )
                    .await?;
                self.print(&method, |v| {
                    let mut out = format!(
                        "added contact method {} ({} {})\n",
                        text(&v["id"]),
                        kind,
                        address
                    );
                    // The secret is answered this once: print it where a person will see it.
                    if kind.trim() == "webhook" {
                        out.push_str(&signing_secret_lines(v));
                    }
                    out
                });
            }
            ContactCommand::RotateSecret { id } => {
                let method = self
                    .call(
                        Method::POST,
                        &format!("{base}/contact-methods/{id}/rotate-secret"),
                        Some(json!({})),
                    )
                    .await?;
                self.print(&method, |v| {
                    format!(
                        "contact method {id} has a new signing secret; the old one no longer signs\n{}",
                        signing_secret_lines(v)
                    )
                });
            }
            ContactCommand::Remove { id } => {
                self.call(
                    Method::DELETE,
                    &format!("{base}/contact-methods/{id}"),
                    None,
                )
                .await?;
                println!("contact method {id} removed");
            }
            ContactCommand::AddRule { method_id, after } => {
                let rule = self
                    .call(
                        Method::POST,
                        &format!("{base}/notification-rules"),
                        Some(json!({"contact_method_id": method_id, "delay_minutes": after})),
                    )
                    .await?;
                self.print(&rule, |v| {
                    format!("added notification rule {}\n", text(&v["id"]))
                });
            }
            ContactCommand::RemoveRule { id } => {
                self.call(
                    Method::DELETE,
                    &format!("{base}/notification-rules/{id}"),
                    None,
                )
                .await?;
                println!("notification rule {id} removed");
            }
        }
        Ok(())
    }

    /// Prints the calendar feed URL of a schedule (by name) or of a responder's shifts.
    pub async fn calendar_link(
        &self,
        schedule: Option<&str>,
        user: Option<&str>,
    ) -> Result<(), CliError> {
        let path = match (schedule, user) {
            (Some(name), _) => {
                let schedules = self.call(Method::GET, "/schedules", None).await?;
                let id = schedules
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| s["name"] == name)
                    .and_then(|s| s["id"].as_i64())
                    .ok_or_else(|| CliError::Usage(format!("no schedule named {name:?}")))?;
                format!("/schedules/{id}/calendar-link")
            }
            (None, Some(username)) => format!("/users/{username}/calendar-link"),
            (None, None) => {
                return Err(CliError::Usage(
                    "--calendar needs --schedule NAME or --user NAME".into(),
                ));
            }
        };
        let link = self.call(Method::GET, &path, None).await?;
        let url = format!("{}{}", self.base, link["path"].as_str().unwrap_or_default());
        self.print(&json!({"url": url}), |v| format!("{}\n", text(&v["url"])));
        Ok(())
    }

    pub async fn user(&self, command: UserCommand) -> Result<(), CliError> {
        match command {
            UserCommand::Create {
                username,
                role,
                name,
                password,
            } => {
                let body = json!({"username": username, "role": role, "display_name": name, "password": password});
                let user = self.call(Method::POST, "/users", Some(body)).await?;
                self.print(&user, |v| {
                    format!(
                        "created {} ({})\n",
                        v["username"].as_str().unwrap_or("?"),
                        role
                    )
                });
            }
            UserCommand::List => {
                let users = self.call(Method::GET, "/users", None).await?;
                self.print(&users, |v| {
                    let rows: Vec<Vec<String>> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|u| {
                            vec![
                                text(&u["username"]),
                                text(&u["role"]),
                                text(&u["display_name"]),
                            ]
                        })
                        .collect();
                    table(&["USERNAME", "ROLE", "NAME"], &rows)
                });
            }
        }
        Ok(())
    }

    pub async fn token(&self, command: TokenCommand) -> Result<(), CliError> {
        match command {
            TokenCommand::Create { username, name } => {
                let token = self
                    .call(
                        Method::POST,
                        &format!("/users/{username}/tokens"),
                        Some(json!({"name": name})),
                    )
                    .await?;
                self.print(&token, |v| format!("{}\n", text(&v["token"])));
            }
            TokenCommand::List { user } => {
                let user = self.whose_tokens(user).await?;
                let tokens = self
                    .call(Method::GET, &format!("/users/{user}/tokens"), None)
                    .await?;
                self.print(&tokens, |v| {
                    let rows: Vec<Vec<String>> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| vec![text(&t["id"]), text(&t["name"]), text(&t["created_at"])])
                        .collect();
                    if rows.is_empty() {
                        format!("{user} has no API tokens\n")
                    } else {
                        table(&["ID", "NAME", "CREATED"], &rows)
                    }
                });
            }
            TokenCommand::Revoke { id, user } => {
                let user = self.whose_tokens(user).await?;
                self.call(Method::DELETE, &format!("/users/{user}/tokens/{id}"), None)
                    .await?;
                println!("token {id} of {user} revoked");
            }
        }
        Ok(())
    }

    /// `--user`, else the token's own user.
    async fn whose_tokens(&self, user: Option<String>) -> Result<String, CliError> {
        if let Some(user) = user.or_else(|| self.stored_user.clone()) {
            return Ok(user);
        }
        let me = self.call(Method::GET, "/whoami", None).await?;
        Ok(text(&me["username"]))
    }

    pub async fn service(&self, command: ServiceCommand) -> Result<(), CliError> {
        match command {
            ServiceCommand::Create {
                name,
                description,
                owner_team,
            } => {
                let body =
                    json!({"name": name, "description": description, "owner_team": owner_team});
                let service = self.call(Method::POST, "/services", Some(body)).await?;
                self.print(&service, |v| {
                    format!("service {} created\n", text(&v["name"]))
                });
            }
            ServiceCommand::List => {
                let services = self.call(Method::GET, "/services", None).await?;
                self.print(&services, |v| {
                    let rows: Vec<Vec<String>> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| {
                            vec![
                                text(&s["name"]),
                                text(&s["owner_team"]),
                                text(&s["description"]),
                            ]
                        })
                        .collect();
                    table(&["NAME", "OWNER", "DESCRIPTION"], &rows)
                });
            }
        }
        Ok(())
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A webhook contact method's signing secret, with the warning that it is shown once.
fn signing_secret_lines(method: &Value) -> String {
    format!(
        "signing secret: {}\n(shown once; verify Aplomb-Signature with it; `aplomb contact rotate-secret {}` makes a new one)\n",
        text(&method["signing_secret"]),
        text(&method["id"])
    )
}

/// Left-aligned columns, two spaces apart.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&mut out, &mut headers.iter().copied());
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

fn incident_table(page: &Value) -> String {
    let rows: Vec<Vec<String>> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            vec![
                text(&i["id"]),
                text(&i["severity"]),
                text(&i["status"]),
                text(&i["incident_lead"]),
                text(&i["title"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no incidents\n".into();
    }
    table(&["ID", "SEV", "STATUS", "LEAD", "TITLE"], &rows)
}

fn roles_line(incident: &Value) -> String {
    let roles: Vec<String> = incident["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{}={}", text(&r["role"]), text(&r["user"])))
        .collect();
    let unfilled: Vec<String> = incident["unfilled_roles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let mut line = format!(
        "roles: {}",
        if roles.is_empty() {
            "none".into()
        } else {
            roles.join(", ")
        }
    );
    if !unfilled.is_empty() {
        line.push_str(&format!("; unfilled: {}", unfilled.join(", ")));
    }
    line.push('\n');
    line
}

fn show_incident(incident: &Value, timeline: &Value) -> String {
    let mut out = format!(
        "#{} {}\n{} · {} · {}{}\ndeclared {} by {}\n{}",
        text(&incident["id"]),
        text(&incident["title"]),
        text(&incident["severity"]),
        text(&incident["status"]),
        text(&incident["type"]),
        if incident["private"].as_bool() == Some(true) {
            " · private"
        } else {
            ""
        },
        text(&incident["declared_at"]),
        text(&incident["declared_by"]),
        roles_line(incident),
    );
    if let Some(summary) = incident["summary"].as_str().filter(|s| !s.is_empty()) {
        let _ = writeln!(out, "\n{summary}");
    }
    out.push_str("\ntimeline:\n");
    for entry in timeline.as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {}  {:<10}  {}",
            text(&entry["at"]),
            text(&entry["actor"]),
            text(&entry["text"])
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let out = table(&["ID", "TITLE"], &[vec!["12".into(), "Disk full".into()]]);
        assert_eq!(out, "ID  TITLE\n12  Disk full\n");
    }
}
