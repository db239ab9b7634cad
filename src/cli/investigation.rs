//! `aplomb evidence …` and `aplomb hypothesis …`: an incident's investigation.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{CliError, Client, table, text, texts};
use crate::domain::attachment::AttachmentType;

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Add a piece of evidence to an incident and print its id.
    Add {
        incident: i64,
        /// log, metric, alert, change, user_report, anomaly or other.
        #[arg(long)]
        kind: String,
        /// One line (may be left out with --alert or --change: theirs is used).
        #[arg(long)]
        summary: Option<String>,
        /// An extract: log lines, a query's output.
        #[arg(long)]
        excerpt: Option<String>,
        /// Where it can be seen (http or https URL).
        #[arg(long)]
        source_url: Option<String>,
        /// When it was observed (RFC 3339).
        #[arg(long)]
        observed_at: Option<String>,
        /// Link an alert by id (with --kind alert).
        #[arg(long)]
        alert: Option<i64>,
        /// Link a change event by id (with --kind change), as `aplomb evidence recent-changes`
        /// lists them.
        #[arg(long)]
        change: Option<i64>,
        #[arg(long)]
        pin: bool,
    },
    /// List an incident's evidence, pinned first.
    List { incident: i64 },
    /// The change events of the incident's services and of everything they depend on, from
    /// a window before it began until now, newest first: candidates for evidence.
    RecentChanges {
        incident: i64,
        /// How far before the incident began: 90m, 24h, 7d (at most 30d).
        #[arg(long, default_value = "24h")]
        window: String,
    },
    /// Attach a file (a screenshot or a log, up to 2 MiB) to a piece of evidence and print
    /// the attachment's id.
    Attach {
        incident: i64,
        evidence: i64,
        file: std::path::PathBuf,
        /// The name it is shown under (default: the file's own).
        #[arg(long)]
        name: Option<String>,
        /// Its type (default: guessed from the name): image/png, image/jpeg, image/gif,
        /// image/webp, text/plain, text/csv or application/json.
        #[arg(long = "type")]
        content_type: Option<String>,
    },
    /// Write an attachment's content to a file, or to standard output.
    Download {
        incident: i64,
        evidence: i64,
        attachment: i64,
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Pin a piece of evidence (or unpin it with --off).
    Pin {
        incident: i64,
        evidence: i64,
        #[arg(long)]
        off: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HypothesisCommand {
    /// Propose a hypothesis and print its id.
    Add {
        incident: i64,
        statement: String,
        /// Who drives its testing (a username).
        #[arg(long)]
        owner: Option<String>,
        /// Id of evidence that speaks for it (repeatable).
        #[arg(long = "for")]
        evidence_for: Vec<i64>,
        /// Id of evidence that speaks against it (repeatable).
        #[arg(long = "against")]
        evidence_against: Vec<i64>,
    },
    /// Record a test run on a hypothesis: what was tried and what came of it.
    Test {
        incident: i64,
        hypothesis: i64,
        #[arg(long)]
        description: String,
        #[arg(long)]
        result: String,
    },
    /// Mark a tested hypothesis supported: a finding.
    Support { incident: i64, hypothesis: i64 },
    /// Mark a tested hypothesis refuted.
    Refute { incident: i64, hypothesis: i64 },
    /// List an incident's hypotheses with their state, evidence and tests.
    List { incident: i64 },
}

impl Client {
    pub async fn evidence(&self, command: EvidenceCommand) -> Result<(), CliError> {
        match command {
            EvidenceCommand::Add {
                incident,
                kind,
                summary,
                excerpt,
                source_url,
                observed_at,
                alert,
                change,
                pin,
            } => {
                let body = json!({"kind": kind, "summary": summary, "excerpt": excerpt,
                    "source_url": source_url, "observed_at": observed_at, "alert_id": alert,
                    "change_id": change, "pinned": pin});
                let path = format!("/incidents/{incident}/evidence");
                let added = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&added, |v| format!("{}\n", v["id"]));
            }
            EvidenceCommand::List { incident } => {
                let path = format!("/incidents/{incident}/evidence");
                let list = self.call(Method::GET, &path, None).await?;
                self.print(&list, evidence_table);
            }
            EvidenceCommand::RecentChanges { incident, window } => {
                let path = format!(
                    "/incidents/{incident}/recent-changes?window={}",
                    super::encode(&window)
                );
                let list = self.call(Method::GET, &path, None).await?;
                self.print(&list, recent_changes_table);
            }
            EvidenceCommand::Attach {
                incident,
                evidence,
                file,
                name,
                content_type,
            } => {
                let name = match name {
                    Some(name) => name,
                    None => file
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .ok_or_else(|| {
                            CliError::Usage(format!("{} is not a file", file.display()))
                        })?,
                };
                let content = std::fs::read(&file)
                    .map_err(|e| CliError::Usage(format!("reading {}: {e}", file.display())))?;
                let content_type = content_type
                    .or_else(|| AttachmentType::from_file_name(&name).map(|t| t.to_string()))
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "cannot tell the type of {name} from its name: pass --type"
                        ))
                    })?;
                let path = format!(
                    "/incidents/{incident}/evidence/{evidence}/attachments?name={}",
                    super::encode(&name)
                );
                let added = self.upload(&path, &content_type, content).await?;
                self.print(&added, |v| format!("{}\n", v["id"]));
            }
            EvidenceCommand::Download {
                incident,
                evidence,
                attachment,
                output,
            } => {
                let path =
                    format!("/incidents/{incident}/evidence/{evidence}/attachments/{attachment}");
                let content = self.download(&path).await?;
                let written = match &output {
                    Some(file) => std::fs::write(file, &content),
                    None => std::io::Write::write_all(&mut std::io::stdout(), &content),
                };
                written.map_err(|e| CliError::Usage(format!("writing the file: {e}")))?;
            }
            EvidenceCommand::Pin {
                incident,
                evidence,
                off,
            } => {
                let path = format!("/incidents/{incident}/evidence/{evidence}");
                let body = json!({"pinned": !off});
                let e = self.call(Method::PATCH, &path, Some(body)).await?;
                let done = if off { "unpinned" } else { "pinned" };
                self.print(&e, |v| format!("evidence {} {done}\n", v["id"]));
            }
        }
        Ok(())
    }

    pub async fn hypothesis(&self, command: HypothesisCommand) -> Result<(), CliError> {
        match command {
            HypothesisCommand::Add {
                incident,
                statement,
                owner,
                evidence_for,
                evidence_against,
            } => {
                let body = json!({"statement": statement, "owner": owner,
                    "evidence_for": evidence_for, "evidence_against": evidence_against});
                let path = format!("/incidents/{incident}/hypotheses");
                let added = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&added, |v| format!("{}\n", v["id"]));
            }
            HypothesisCommand::Test {
                incident,
                hypothesis,
                description,
                result,
            } => {
                let path = format!("/incidents/{incident}/hypotheses/{hypothesis}/tests");
                let body = json!({"description": description, "result": result});
                let h = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&h, |v| {
                    format!(
                        "test recorded; hypothesis {} is {}\n",
                        v["id"],
                        text(&v["state"])
                    )
                });
            }
            HypothesisCommand::Support {
                incident,
                hypothesis,
            } => self.judge(incident, hypothesis, "supported").await?,
            HypothesisCommand::Refute {
                incident,
                hypothesis,
            } => self.judge(incident, hypothesis, "refuted").await?,
            HypothesisCommand::List { incident } => {
                let path = format!("/incidents/{incident}/hypotheses");
                let list = self.call(Method::GET, &path, None).await?;
                self.print(&list, hypothesis_list);
            }
        }
        Ok(())
    }

    async fn judge(&self, incident: i64, hypothesis: i64, state: &str) -> Result<(), CliError> {
        let path = format!("/incidents/{incident}/hypotheses/{hypothesis}");
        let h = self
            .call(Method::PATCH, &path, Some(json!({"state": state})))
            .await?;
        self.print(&h, |v| {
            format!("hypothesis {} is {}\n", v["id"], text(&v["state"]))
        });
        Ok(())
    }
}

fn evidence_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let pinned = if e["pinned"].as_bool() == Some(true) {
                "pinned"
            } else {
                ""
            };
            vec![
                text(&e["id"]),
                text(&e["kind"]),
                pinned.to_string(),
                text(&e["summary"]),
                text(&e["source_url"]),
                attachment_list(&e["attachments"]),
            ]
        })
        .collect();
    table(&["ID", "KIND", "", "SUMMARY", "SOURCE", "FILES"], &rows)
}

fn recent_changes_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let via = texts(&c["via"]);
            vec![
                text(&c["id"]),
                text(&c["happened_at"]),
                via.join(" -> "),
                text(&c["summary"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no changes in the window\n".into();
    }
    table(&["ID", "HAPPENED", "SERVICE", "SUMMARY"], &rows)
}

/// A piece of evidence's files as `1:edge-01.log 2:graph.png`, for `evidence download`.
fn attachment_list(list: &Value) -> String {
    let files: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{}:{}", a["id"], text(&a["name"])))
        .collect();
    if files.is_empty() {
        "-".into()
    } else {
        files.join(" ")
    }
}

fn hypothesis_list(list: &Value) -> String {
    let mut out = String::new();
    for h in list.as_array().into_iter().flatten() {
        let ids = |v: &Value| {
            let ids = texts(v);
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        };
        out.push_str(&format!(
            "H{} [{}] {}\n  owner: {} · for: {} · against: {}\n",
            text(&h["id"]),
            text(&h["state"]),
            text(&h["statement"]),
            text(&h["owner"]),
            ids(&h["evidence_for"]),
            ids(&h["evidence_against"]),
        ));
        for t in h["tests"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  test: {} \u{2192} {}\n",
                text(&t["description"]),
                text(&t["result"])
            ));
        }
    }
    if out.is_empty() {
        out.push_str("no hypotheses yet\n");
    }
    out
}
