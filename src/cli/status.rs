//! `aplomb component …`, `aplomb status-subscriber …` and `aplomb branding …`: the public
//! status page's components, its subscribers and how it presents itself.

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

#[derive(Debug, Subcommand)]
pub enum StatusSubscriberCommand {
    /// Add a subscriber (admins only): a webhook hears of every public update and maintenance
    /// at once, signed with the secret printed here; an email address is sent a confirmation.
    Add {
        /// `webhook` or `email`.
        kind: String,
        address: String,
        /// Only news of this component (repeatable); every component when left out.
        #[arg(long = "component")]
        components: Vec<String>,
    },
    /// The status page's subscribers (admins only).
    List,
    /// Unsubscribe a subscriber (admins only).
    Remove { id: i64 },
}

impl Client {
    pub async fn status_subscriber(
        &self,
        command: StatusSubscriberCommand,
    ) -> Result<(), CliError> {
        match command {
            StatusSubscriberCommand::Add {
                kind,
                address,
                components,
            } => {
                let body = json!({"kind": kind, "address": address, "components": components});
                let s = self
                    .call(Method::POST, "/status/subscribers", Some(body))
                    .await?;
                self.print(&s, |v| {
                    let mut out = format!(
                        "subscriber {} added: {} {}{}\n",
                        v["id"],
                        text(&v["kind"]),
                        text(&v["address"]),
                        if v["confirmed"] == true {
                            ""
                        } else {
                            " (a confirmation is on its way)"
                        }
                    );
                    if let Some(secret) = v["signing_secret"].as_str() {
                        out.push_str(&format!("signing secret (shown once): {secret}\n"));
                    }
                    out
                });
            }
            StatusSubscriberCommand::List => {
                let list = self.call(Method::GET, "/status/subscribers", None).await?;
                self.print(&list, |v| {
                    let rows: Vec<Vec<String>> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| {
                            let components = texts(&s["components"]);
                            vec![
                                s["id"].to_string(),
                                text(&s["kind"]),
                                text(&s["address"]),
                                if s["confirmed"] == true { "yes" } else { "no" }.into(),
                                if components.is_empty() {
                                    "all".into()
                                } else {
                                    components.join(",")
                                },
                            ]
                        })
                        .collect();
                    table(&["ID", "KIND", "ADDRESS", "CONFIRMED", "COMPONENTS"], &rows)
                });
            }
            StatusSubscriberCommand::Remove { id } => {
                let path = format!("/status/subscribers/{id}");
                self.call(Method::DELETE, &path, None).await?;
                if !self.json {
                    println!("subscriber {id} removed");
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum BrandingCommand {
    /// How the status page presents itself now.
    Show,
    /// Change the page's name, logo or colour; what is not named stays (admins only).
    Set {
        #[arg(long)]
        name: Option<String>,
        /// An http(s) URL; an empty one removes the logo.
        #[arg(long)]
        logo_url: Option<String>,
        /// The header's colour, `#rrggbb`.
        #[arg(long)]
        accent: Option<String>,
    },
}

impl Client {
    pub async fn branding(&self, command: BrandingCommand) -> Result<(), CliError> {
        let mut brand = self.call(Method::GET, "/status/branding", None).await?;
        if let BrandingCommand::Set {
            name,
            logo_url,
            accent,
        } = command
        {
            for (field, value) in [("name", name), ("logo_url", logo_url), ("accent", accent)] {
                if let Some(value) = value {
                    brand[field] = Value::String(value);
                }
            }
            let body = json!({"name": brand["name"], "logo_url": brand["logo_url"],
                "accent": brand["accent"]});
            brand = self
                .call(Method::PUT, "/status/branding", Some(body))
                .await?;
        }
        self.print(&brand, |v| {
            format!(
                "name: {}\nlogo: {}\naccent: {}\npage: {}\n",
                text(&v["name"]),
                v["logo_url"].as_str().unwrap_or("none"),
                text(&v["accent"]),
                text(&v["url"])
            )
        });
        Ok(())
    }
}
