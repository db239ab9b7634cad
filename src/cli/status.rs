//! `aplomb component …`: the public status page's components.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{CliError, Client, table, text, texts};

#[derive(Debug, Subcommand)]
pub enum ComponentCommand {
    /// Add a component to the status page (admins only).
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Components of one group show together under its name.
        #[arg(long)]
        group: Option<String>,
        /// A service behind it, by name (repeatable).
        #[arg(long = "service")]
        services: Vec<String>,
    },
    /// The status page's components and their status now.
    List,
    /// Change a component; what is not named stays (admins only).
    Edit {
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// An empty group takes it out of its group.
        #[arg(long)]
        group: Option<String>,
        /// Replaces its services (repeatable).
        #[arg(long = "service")]
        services: Vec<String>,
    },
}

impl Client {
    pub async fn component(&self, command: ComponentCommand) -> Result<(), CliError> {
        match command {
            ComponentCommand::Add {
                name,
                description,
                group,
                services,
            } => {
                let body = json!({"name": name, "description": description, "group": group,
                    "services": services});
                let c = self
                    .call(Method::POST, "/status/components", Some(body))
                    .await?;
                self.print(&c, |v| {
                    format!("component {} added: {}\n", v["id"], text(&v["name"]))
                });
            }
            ComponentCommand::List => {
                let list = self.call(Method::GET, "/status/components", None).await?;
                self.print(&list, |v| {
                    let rows: Vec<Vec<String>> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            let services = texts(&c["services"]);
                            vec![
                                c["id"].to_string(),
                                text(&c["name"]),
                                text(&c["group"]),
                                text(&c["status"]),
                                services.join(","),
                            ]
                        })
                        .collect();
                    table(&["ID", "NAME", "GROUP", "STATUS", "SERVICES"], &rows)
                });
            }
            ComponentCommand::Edit {
                id,
                name,
                description,
                group,
                services,
            } => {
                let mut body = Map::new();
                for (field, value) in [
                    ("name", name),
                    ("description", description),
                    ("group", group),
                ] {
                    if let Some(value) = value {
                        body.insert(field.into(), Value::String(value));
                    }
                }
                if !services.is_empty() {
                    body.insert("services".into(), json!(services));
                }
                let path = format!("/status/components/{id}");
                let c = self
                    .call(Method::PATCH, &path, Some(Value::Object(body)))
                    .await?;
                self.print(&c, |v| {
                    format!("component {} changed: {}\n", v["id"], text(&v["name"]))
                });
            }
        }
        Ok(())
    }
}
