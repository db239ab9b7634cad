//! `aplomb incident …`: declare, list, show and change incidents.

use std::fmt::Write as _;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{CliError, Client, table, text, texts};

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Declare an incident and print its id.
    Declare {
        #[arg(long)]
        title: String,
        /// SEV1 (most severe) to SEV4.
        #[arg(long)]
        severity: String,
        /// Incident type, e.g. outage, degradation, security.
        #[arg(long = "type")]
        incident_type: Option<String>,
        #[arg(long)]
        summary: Option<String>,
        /// Affected service (repeatable).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Visible only to participants and admins.
        #[arg(long)]
        private: bool,
    },
    /// List incidents, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        severity: Option<String>,
        /// Only unresolved incidents.
        #[arg(long)]
        active: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show an incident with its roles and timeline.
    Show { id: i64 },
    /// Post a note to the timeline.
    Note { id: i64, text: String },
    /// Move an incident to a status.
    Status {
        id: i64,
        status: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Change an incident's severity.
    Severity { id: i64, severity: String },
    /// Give a role (incident_lead, communications_lead, scribe) to a user.
    Role {
        id: i64,
        role: String,
        user: String,
        /// A hand-off note for the timeline: what is in flight, what to watch.
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve an incident.
    Resolve {
        id: i64,
        #[arg(long)]
        reason: Option<String>,
    },
}

impl Client {
    pub async fn incident(&self, command: IncidentCommand) -> Result<(), CliError> {
        match command {
            IncidentCommand::Declare {
                title,
                severity,
                incident_type,
                summary,
                services,
                private,
            } => {
                let body = json!({"title": title, "severity": severity, "type": incident_type,
                                  "summary": summary, "services": services, "private": private});
                let created = self.call(Method::POST, "/incidents", Some(body)).await?;
                self.print(&created, |v| format!("{}\n", v["id"]));
            }
            IncidentCommand::List {
                status,
                severity,
                active,
                limit,
            } => {
                let mut query = format!("?limit={limit}&active={active}");
                if let Some(s) = status {
                    query.push_str(&format!("&status={s}"));
                }
                if let Some(s) = severity {
                    query.push_str(&format!("&severity={s}"));
                }
                let page = self
                    .call(Method::GET, &format!("/incidents{query}"), None)
                    .await?;
                self.print(&page, incident_table);
            }
            IncidentCommand::Show { id } => {
                let incident = self
                    .call(Method::GET, &format!("/incidents/{id}"), None)
                    .await?;
                let timeline = self
                    .call(Method::GET, &format!("/incidents/{id}/timeline"), None)
                    .await?;
                let both = json!({"incident": incident, "timeline": timeline});
                self.print(&both, |v| show_incident(&v["incident"], &v["timeline"]));
            }
            IncidentCommand::Note { id, text } => {
                let entry = self
                    .call(
                        Method::POST,
                        &format!("/incidents/{id}/timeline"),
                        Some(json!({"text": text})),
                    )
                    .await?;
                self.print(&entry, |v| {
                    format!("note {} added to incident {id}\n", v["id"])
                });
            }
            IncidentCommand::Status { id, status, reason } => {
                self.patch(id, json!({"status": status, "reason": reason}))
                    .await?;
            }
            IncidentCommand::Severity { id, severity } => {
                self.patch(id, json!({"severity": severity})).await?;
            }
            IncidentCommand::Resolve { id, reason } => {
                self.patch(id, json!({"status": "resolved", "reason": reason}))
                    .await?;
            }
            IncidentCommand::Role {
                id,
                role,
                user,
                note,
            } => {
                let updated = self
                    .call(
                        Method::PUT,
                        &format!("/incidents/{id}/roles/{role}"),
                        Some(json!({"user": user, "note": note})),
                    )
                    .await?;
                self.print(&updated, |v| {
                    format!("incident {id}: {user} is {role}\n{}", roles_line(v))
                });
            }
        }
        Ok(())
    }

    async fn patch(&self, id: i64, body: Value) -> Result<(), CliError> {
        let updated = self
            .call(Method::PATCH, &format!("/incidents/{id}"), Some(body))
            .await?;
        self.print(&updated, |v| {
            format!(
                "incident {id} is {} ({})\n",
                v["status"].as_str().unwrap_or("?"),
                v["severity"].as_str().unwrap_or("?")
            )
        });
        Ok(())
    }
}

fn incident_table(page: &Value) -> String {
    let rows: Vec<Vec<String>> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            vec![
                text(&i["id"]),
                text(&i["severity"]),
                text(&i["status"]),
                text(&i["incident_lead"]),
                drill_marked(i),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no incidents\n".into();
    }
    table(&["ID", "SEV", "STATUS", "LEAD", "TITLE"], &rows)
}

fn roles_line(incident: &Value) -> String {
    let roles: Vec<String> = incident["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{}={}", text(&r["role"]), text(&r["user"])))
        .collect();
    let unfilled = texts(&incident["unfilled_roles"]);
    let mut line = format!(
        "roles: {}",
        if roles.is_empty() {
            "none".into()
        } else {
            roles.join(", ")
        }
    );
    if !unfilled.is_empty() {
        line.push_str(&format!("; unfilled: {}", unfilled.join(", ")));
    }
    line.push('\n');
    line
}

/// The title, "DRILL" first for a drill.
fn drill_marked(incident: &Value) -> String {
    match incident["drill"].as_bool() {
        Some(true) => format!("DRILL {}", text(&incident["title"])),
        _ => text(&incident["title"]),
    }
}

fn show_incident(incident: &Value, timeline: &Value) -> String {
    let mut out = format!(
        "#{} {}\n{} · {} · {}{}\ndeclared {} by {}\n{}",
        text(&incident["id"]),
        drill_marked(incident),
        text(&incident["severity"]),
        text(&incident["status"]),
        text(&incident["type"]),
        if incident["private"].as_bool() == Some(true) {
            " · private"
        } else {
            ""
        },
        text(&incident["declared_at"]),
        text(&incident["declared_by"]),
        roles_line(incident),
    );
    if let Some(summary) = incident["summary"].as_str().filter(|s| !s.is_empty()) {
        let _ = writeln!(out, "\n{summary}");
    }
    out.push_str("\ntimeline:\n");
    for entry in timeline.as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {}  {:<10}  {}",
            text(&entry["at"]),
            text(&entry["actor"]),
            text(&entry["text"])
        );
    }
    out
}
