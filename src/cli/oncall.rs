//! Assembling the team from the command line: `aplomb ack`, `apply`, `export`, `oncall`,
//! `service-oncall`, `contact …` and `calendar-link`.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{CliError, Client, table, text, texts};

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

impl Client {
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
            let people = texts(&v["on_call_now"]);
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
}

/// A webhook contact method's signing secret, with the warning that it is shown once.
fn signing_secret_lines(method: &Value) -> String {
    format!(
        "signing secret: {}\n(shown once; verify Aplomb-Signature with it; `aplomb contact rotate-secret {}` makes a new one)\n",
        text(&method["signing_secret"]),
        text(&method["id"])
    )
}
