//! `aplomb playbook …`: playbooks, their versions and diffs, and an incident's checklist.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{CliError, Client, table, text, texts};

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// Every playbook at its current version.
    List,
    /// A playbook's current version and its history.
    Show { playbook: i64 },
    /// A playbook for an incident type (optionally one service); prints its id.
    Create {
        /// The incident type, e.g. outage.
        #[arg(long = "type")]
        incident_type: String,
        #[arg(long)]
        service: Option<String>,
        /// A checklist step; repeat for each, in order.
        #[arg(long = "step", required = true)]
        steps: Vec<String>,
        /// A role to fill (incident_lead, communications_lead, scribe); repeatable.
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long)]
        guidance: Option<String>,
    },
    /// Change a playbook: its whole next version (steps and roles as given), with the reason.
    Change {
        playbook: i64,
        #[arg(long = "step", required = true)]
        steps: Vec<String>,
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long)]
        guidance: Option<String>,
        #[arg(long)]
        reason: String,
        /// The action item that asked for the change.
        #[arg(long)]
        action_item: Option<i64>,
    },
    /// What changed between two versions.
    Diff { playbook: i64, from: i64, to: i64 },
    /// An incident's checklist, from the playbook version it ran.
    Checklist { incident: i64 },
    /// Check a step of an incident's checklist (`--undo` unchecks it).
    Check {
        incident: i64,
        step: i64,
        #[arg(long)]
        undo: bool,
    },
}

impl Client {
    pub async fn playbook(&self, command: PlaybookCommand) -> Result<(), CliError> {
        match command {
            PlaybookCommand::List => {
                let all = self.call(Method::GET, "/playbooks", None).await?;
                self.print(&all, |v| {
                    let rows: Vec<Vec<String>> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            vec![
                                text(&p["id"]),
                                text(&p["incident_type"]),
                                text(&p["service"]),
                                text(&p["current"]["version"]),
                                p["current"]["steps"]
                                    .as_array()
                                    .map_or(0, Vec::len)
                                    .to_string(),
                            ]
                        })
                        .collect();
                    table(&["ID", "TYPE", "SERVICE", "VERSION", "STEPS"], &rows)
                });
            }
            PlaybookCommand::Show { playbook } => {
                let p = self
                    .call(Method::GET, &format!("/playbooks/{playbook}"), None)
                    .await?;
                self.print(&p, show);
            }
            PlaybookCommand::Create {
                incident_type,
                service,
                steps,
                roles,
                guidance,
            } => {
                let body = json!({"incident_type": incident_type, "service": service,
                    "steps": steps, "roles": roles, "guidance": guidance});
                let p = self.call(Method::POST, "/playbooks", Some(body)).await?;
                self.print(&p, |v| format!("{}\n", v["id"]));
            }
            PlaybookCommand::Change {
                playbook,
                steps,
                roles,
                guidance,
                reason,
                action_item,
            } => {
                let path = format!("/playbooks/{playbook}");
                let current = self.call(Method::GET, &path, None).await?;
                let body = json!({"version": current["current"]["version"], "steps": steps,
                    "roles": roles, "guidance": guidance, "reason": reason,
                    "action_item": action_item});
                let p = self.call(Method::PUT, &path, Some(body)).await?;
                self.print(&p, |v| {
                    format!(
                        "playbook {} is at version {}\n",
                        v["id"], v["current"]["version"]
                    )
                });
            }
            PlaybookCommand::Diff { playbook, from, to } => {
                let path = format!("/playbooks/{playbook}/diff?from={from}&to={to}");
                let d = self.call(Method::GET, &path, None).await?;
                self.print(&d, |v| {
                    v["lines"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|l| {
                            let mark = match l["change"].as_str() {
                                Some("added") => "+",
                                Some("removed") => "-",
                                _ => " ",
                            };
                            format!("{mark} {}\n", text(&l["text"]))
                        })
                        .collect()
                });
            }
            PlaybookCommand::Checklist { incident } => {
                let c = self
                    .call(
                        Method::GET,
                        &format!("/incidents/{incident}/checklist"),
                        None,
                    )
                    .await?;
                self.print(&c, checklist);
            }
            PlaybookCommand::Check {
                incident,
                step,
                undo,
            } => {
                let path = format!("/incidents/{incident}/checklist/{step}");
                let s = self
                    .call(Method::PUT, &path, Some(json!({"checked": !undo})))
                    .await?;
                self.print(&s, |v| {
                    let state = if v["checked"] == true {
                        "done"
                    } else {
                        "not done"
                    };
                    format!("step {}: {state}\n", v["step"])
                });
            }
        }
        Ok(())
    }
}

fn show(p: &Value) -> String {
    let c = &p["current"];
    let mut out = format!(
        "playbook {} for {}{} — version {}\n",
        p["id"],
        text(&p["incident_type"]),
        p["service"]
            .as_str()
            .map(|s| format!(" on {s}"))
            .unwrap_or_default(),
        c["version"]
    );
    for (i, step) in texts(&c["steps"]).iter().enumerate() {
        out.push_str(&format!("{}. {step}\n", i + 1));
    }
    let roles = texts(&c["roles"]);
    if !roles.is_empty() {
        out.push_str(&format!("roles: {}\n", roles.join(", ")));
    }
    for v in p["versions"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "version {} by {}: {}\n",
            v["version"],
            text(&v["author"]),
            text(&v["reason"])
        ));
    }
    out
}

fn checklist(c: &Value) -> String {
    if c["playbook_id"].is_null() {
        return "no playbook applied to this incident\n".into();
    }
    let mut out = format!("playbook {} version {}\n", c["playbook_id"], c["version"]);
    for s in c["steps"].as_array().into_iter().flatten() {
        let mark = if s["checked"] == true { "[x]" } else { "[ ]" };
        out.push_str(&format!("{mark} {}. {}\n", s["step"], text(&s["text"])));
    }
    out
}
