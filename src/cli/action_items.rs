//! `aplomb action-item …`: the action items a review decides on, tracked to done.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{CliError, Client, query, table, text};

#[derive(Debug, Subcommand)]
pub enum ActionItemCommand {
    /// Decide on an action item from an incident's review and print its id.
    Add {
        incident: i64,
        /// What is to be done, e.g. "Alert on replication lag above 30 s".
        title: String,
        /// Who sees it through (a username); reminded before and after it is due.
        #[arg(long)]
        owner: Option<String>,
        /// The team it belongs to (by default the one owning the incident's first service).
        #[arg(long)]
        team: Option<String>,
        /// When it is due (RFC 3339, e.g. 2026-03-20T17:00:00Z).
        #[arg(long)]
        due: Option<String>,
        /// high, medium (the default) or low.
        #[arg(long)]
        priority: Option<String>,
        /// The review section it answers to: prevention, investigation, coordination,
        /// communication or went_well.
        #[arg(long)]
        section: Option<String>,
        /// The playbook it would change (its id).
        #[arg(long)]
        playbook: Option<i64>,
    },
    /// Action items: an incident's, or across incidents (by default those still to do).
    List {
        /// Only this incident's (every state).
        #[arg(long)]
        incident: Option<i64>,
        /// open (open and in progress), in_progress, done, wont_do, or "" for all.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        team: Option<String>,
    },
    /// One action item.
    Show { item: i64 },
    /// Change an action item; `""` clears the owner, team, due time or section.
    Set {
        item: i64,
        /// open, in_progress, done, or wont_do (with --reason).
        #[arg(long)]
        state: Option<String>,
        /// Why it will not be done.
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        due: Option<String>,
        #[arg(long)]
        priority: Option<String>,
        #[arg(long)]
        section: Option<String>,
        /// The playbook it would change (its id); 0 links none.
        #[arg(long)]
        playbook: Option<i64>,
    },
}

impl Client {
    pub async fn action_item(&self, command: ActionItemCommand) -> Result<(), CliError> {
        match command {
            ActionItemCommand::Add {
                incident,
                title,
                owner,
                team,
                due,
                priority,
                section,
                playbook,
            } => {
                let body = json!({"title": title, "owner": owner, "team": team, "due_at": due,
                    "priority": priority, "section": section, "playbook": playbook});
                let path = format!("/incidents/{incident}/review/action-items");
                let item = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&item, |v| format!("{}\n", v["id"]));
            }
            ActionItemCommand::List {
                incident,
                state,
                owner,
                team,
            } => {
                let path = match incident {
                    Some(incident) => format!("/incidents/{incident}/review/action-items"),
                    None => {
                        let query = query([("state", state), ("owner", owner), ("team", team)]);
                        format!("/action-items?{query}")
                    }
                };
                let list = self.call(Method::GET, &path, None).await?;
                self.print(&list, item_table);
            }
            ActionItemCommand::Show { item } => {
                let found = self
                    .call(Method::GET, &format!("/action-items/{item}"), None)
                    .await?;
                self.print(&found, |v| item_table(&json!([v])));
            }
            ActionItemCommand::Set {
                item,
                state,
                reason,
                title,
                owner,
                team,
                due,
                priority,
                section,
                playbook,
            } => {
                let mut body = Map::new();
                if let Some(playbook) = playbook {
                    body.insert("playbook".into(), playbook.into());
                }
                for (field, value) in [
                    ("state", state),
                    ("reason", reason),
                    ("title", title),
                    ("owner", owner),
                    ("team", team),
                    ("due_at", due),
                    ("priority", priority),
                    ("section", section),
                ] {
                    if let Some(value) = value {
                        body.insert(field.into(), Value::String(value));
                    }
                }
                let path = format!("/action-items/{item}");
                let changed = self
                    .call(Method::PATCH, &path, Some(Value::Object(body)))
                    .await?;
                self.print(&changed, |v| {
                    format!("action item {} is {}\n", v["id"], text(&v["state"]))
                });
            }
        }
        Ok(())
    }
}

fn item_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let due = match (i["due_at"].as_str(), i["overdue"].as_bool()) {
                (Some(due), Some(true)) => format!("{due} (overdue)"),
                (Some(due), _) => due.to_string(),
                (None, _) => "-".into(),
            };
            vec![
                text(&i["id"]),
                text(&i["state"]),
                text(&i["priority"]),
                due,
                text(&i["owner"]),
                text(&i["team"]),
                format!("#{}", text(&i["incident_id"])),
                text(&i["title"]),
            ]
        })
        .collect();
    table(
        &[
            "ID", "STATE", "PRIORITY", "DUE", "OWNER", "TEAM", "INCIDENT", "TITLE",
        ],
        &rows,
    )
}
