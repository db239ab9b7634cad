//! `aplomb service …`: the service catalog.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::{CliError, Client, table, text};

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

impl Client {
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
