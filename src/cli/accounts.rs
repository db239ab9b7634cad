//! `aplomb user …` and `aplomb token …`.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::{CliError, Client, table, text};

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

impl Client {
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
}
