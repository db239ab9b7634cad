//! `aplomb maintenance …`: scheduled maintenance on the public status page.

use clap::Subcommand;
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{CliError, Client, table, text, texts};
use crate::clock::{Clock, SystemClock};

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Announce a maintenance; over its window its components show under maintenance and
    /// the alerts of their services page nobody.
    Schedule {
        title: String,
        /// When it starts: an RFC 3339 instant, or `+DURATION` from now (`+2h`, `+30m`);
        /// now when left out.
        #[arg(long, value_parser = when)]
        from: Option<String>,
        /// When it ends, in the same forms.
        #[arg(long, value_parser = when)]
        until: String,
        #[arg(long)]
        description: Option<String>,
        /// A status page component it covers, by name (repeatable).
        #[arg(long = "component")]
        components: Vec<String>,
    },
    /// Maintenances not over, and those that ended in the last 90 days.
    List,
    /// Replan a maintenance that is not over; what is not named stays.
    Edit {
        id: i64,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_parser = when)]
        from: Option<String>,
        #[arg(long, value_parser = when)]
        until: Option<String>,
        /// Replaces its components (repeatable).
        #[arg(long = "component")]
        components: Vec<String>,
    },
    /// Call off a maintenance that has not started.
    Cancel { id: i64 },
    /// End a maintenance under way before its set end.
    Complete { id: i64 },
}

/// An instant as the API takes it: RFC 3339 as given, or `+DURATION` counted from this
/// machine's clock.
fn when(arg: &str) -> Result<String, String> {
    match arg.strip_prefix('+') {
        Some(ahead) => {
            let ahead: SignedDuration = ahead
                .parse()
                .map_err(|_| format!("{arg:?}: give a duration such as +2h or +30m"))?;
            Ok((SystemClock.now() + ahead).to_string())
        }
        None => arg
            .parse::<Timestamp>()
            .map(|t| t.to_string())
            .map_err(|_| {
                format!("{arg:?}: give an RFC 3339 instant such as 2026-03-03T02:00:00Z, or +2h")
            }),
    }
}

impl Client {
    pub async fn maintenance(&self, command: MaintenanceCommand) -> Result<(), CliError> {
        let said = |verb: &'static str| {
            move |v: &Value| format!("maintenance {} {verb}: {}\n", v["id"], summary(v))
        };
        match command {
            MaintenanceCommand::Schedule {
                title,
                from,
                until,
                description,
                components,
            } => {
                let body = json!({"title": title, "description": description,
                    "scheduled_for": from, "scheduled_until": until, "components": components});
                let m = self.call(Method::POST, "/maintenances", Some(body)).await?;
                self.print(&m, said("scheduled"));
            }
            MaintenanceCommand::List => {
                let list = self.call(Method::GET, "/maintenances", None).await?;
                self.print(&list, |v| {
                    let rows: Vec<Vec<String>> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| {
                            vec![
                                m["id"].to_string(),
                                text(&m["status"]),
                                text(&m["scheduled_for"]),
                                text(&m["scheduled_until"]),
                                text(&m["title"]),
                                texts(&m["components"]).join(","),
                            ]
                        })
                        .collect();
                    table(
                        &["ID", "STATUS", "FROM", "UNTIL", "TITLE", "COMPONENTS"],
                        &rows,
                    )
                });
            }
            MaintenanceCommand::Edit {
                id,
                title,
                description,
                from,
                until,
                components,
            } => {
                let mut body = Map::new();
                for (field, value) in [
                    ("title", title),
                    ("description", description),
                    ("scheduled_for", from),
                    ("scheduled_until", until),
                ] {
                    if let Some(value) = value {
                        body.insert(field.into(), Value::String(value));
                    }
                }
                if !components.is_empty() {
                    body.insert("components".into(), json!(components));
                }
                let m = self.change_maintenance(id, Value::Object(body)).await?;
                self.print(&m, said("changed"));
            }
            MaintenanceCommand::Cancel { id } => {
                let m = self
                    .change_maintenance(id, json!({"status": "cancelled"}))
                    .await?;
                self.print(&m, said("cancelled"));
            }
            MaintenanceCommand::Complete { id } => {
                let m = self
                    .change_maintenance(id, json!({"status": "completed"}))
                    .await?;
                self.print(&m, said("completed"));
            }
        }
        Ok(())
    }

    async fn change_maintenance(&self, id: i64, body: Value) -> Result<Value, CliError> {
        let path = format!("/maintenances/{id}");
        self.call(Method::PATCH, &path, Some(body)).await
    }
}

/// `Database upgrade (scheduled, 2026-03-03T02:00:00Z to 2026-03-03T03:00:00Z)`.
fn summary(m: &Value) -> String {
    format!(
        "{} ({}, {} to {})",
        text(&m["title"]),
        text(&m["status"]),
        text(&m["scheduled_for"]),
        text(&m["scheduled_until"])
    )
}
