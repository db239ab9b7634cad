//! `aplomb report …`: user reports, from a support tool and in the triage queue.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{CliError, Client, table, text};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// File a report about a service for a user (as a support tool does) and say what became
    /// of it: waiting in triage, joined to the open incident, or opened one.
    File {
        service: String,
        text: String,
        /// How to reach the user.
        #[arg(long)]
        contact: Option<String>,
    },
    /// The triage queue: how many reports wait per service, then the newest of them.
    List {
        /// How many of the newest waiting reports (1 to 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

impl Client {
    pub async fn report(&self, command: ReportCommand) -> Result<(), CliError> {
        match command {
            ReportCommand::File {
                service,
                text,
                contact,
            } => {
                let body = json!({"service": service, "text": text, "contact": contact});
                let filed = self.call(Method::POST, "/reports", Some(body)).await?;
                self.print(&filed, |v| {
                    match (v["status"].as_str(), v["incident_id"].as_i64()) {
                        (Some("waiting"), _) => format!("report {} waits in triage\n", v["id"]),
                        (Some("opened"), Some(i)) => {
                            format!("report {} opened incident {i}\n", v["id"])
                        }
                        (_, Some(i)) => format!("report {} joined incident {i}\n", v["id"]),
                        (_, None) => format!("report {} joined an open incident\n", v["id"]),
                    }
                });
            }
            ReportCommand::List { limit } => {
                let path = format!("/reports?limit={limit}");
                let queue = self.call(Method::GET, &path, None).await?;
                self.print(&queue, triage_tables);
            }
        }
        Ok(())
    }
}

fn triage_tables(queue: &Value) -> String {
    let rows = |key: &str, cells: fn(&Value) -> Vec<String>| -> Vec<Vec<String>> {
        queue[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(cells)
            .collect()
    };
    let counts = rows("by_service", |c| {
        vec![
            text(&c["service"]),
            text(&c["waiting"]),
            text(&c["latest_at"]),
        ]
    });
    if counts.is_empty() {
        return "No report is waiting.\n".to_string();
    }
    let reports = rows("waiting", |r| {
        vec![
            text(&r["id"]),
            text(&r["service"]),
            text(&r["created_at"]),
            text(&r["text"]).replace(['\n', '\r'], " "),
        ]
    });
    format!(
        "{}\n{}",
        table(&["SERVICE", "WAITING", "LATEST"], &counts),
        table(&["ID", "SERVICE", "AT", "TEXT"], &reports)
    )
}
