//! `aplomb change …`: the changes made to production during an incident.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{CliError, Client, table, text};

#[derive(Debug, Subcommand)]
pub enum ChangeCommand {
    /// Record a change made to production and print its id.
    Record {
        incident: i64,
        /// What was changed, e.g. edge-proxy.
        #[arg(long)]
        system: String,
        #[arg(long)]
        description: String,
        /// A commit, a pull or merge request, or any URL.
        #[arg(long)]
        reference: Option<String>,
        /// Why; required while no hypothesis is supported.
        #[arg(long)]
        reason: Option<String>,
        /// Id of the hypothesis it acts on.
        #[arg(long)]
        hypothesis: Option<i64>,
        /// How to undo it.
        #[arg(long)]
        rollback: Option<String>,
    },
    /// Mark a change rolled back.
    Rollback { incident: i64, change: i64 },
    /// List the changes made during an incident, newest first.
    List { incident: i64 },
}

impl Client {
    pub async fn change(&self, command: ChangeCommand) -> Result<(), CliError> {
        match command {
            ChangeCommand::Record {
                incident,
                system,
                description,
                reference,
                reason,
                hypothesis,
                rollback,
            } => {
                let body = json!({"system": system, "description": description,
                    "reference": reference, "reason": reason, "hypothesis_id": hypothesis,
                    "rollback": rollback});
                let path = format!("/incidents/{incident}/changes");
                let recorded = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&recorded, |v| format!("{}\n", v["id"]));
            }
            ChangeCommand::Rollback { incident, change } => {
                let path = format!("/incidents/{incident}/changes/{change}");
                let body = json!({"state": "rolled_back"});
                let c = self.call(Method::PATCH, &path, Some(body)).await?;
                self.print(&c, |v| format!("change {} rolled back\n", v["id"]));
            }
            ChangeCommand::List { incident } => {
                let path = format!("/incidents/{incident}/changes");
                let list = self.call(Method::GET, &path, None).await?;
                self.print(&list, change_table);
            }
        }
        Ok(())
    }
}

fn change_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                text(&c["id"]),
                text(&c["state"]),
                text(&c["system"]),
                text(&c["description"]),
                text(&c["reference"]),
            ]
        })
        .collect();
    table(
        &["ID", "STATE", "SYSTEM", "DESCRIPTION", "REFERENCE"],
        &rows,
    )
}
