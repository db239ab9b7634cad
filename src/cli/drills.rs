//! `aplomb drill …`: start a drill from a scenario file (or a shipped example), list drills,
//! and show one with its script and score.

use std::path::PathBuf;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::communication::read_text;
use super::{CliError, Client, table, text};
use crate::app::drill_example;

#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// Start a drill: a practice incident from a scenario (TOML; `-` reads standard input),
    /// or from a shipped example with `--example outage|breach`. Prints the incident's id.
    Start {
        /// The scenario file.
        #[arg(required_unless_present = "example", conflicts_with = "example")]
        file: Option<PathBuf>,
        /// A shipped scenario, written for the demo organisation: outage or breach.
        #[arg(long)]
        example: Option<String>,
    },
    /// Print a shipped example scenario, to copy and adapt.
    Example { name: String },
    /// The newest drills: status, events played, score so far.
    List,
    /// A drill: its script, what has played, and its score.
    Show { drill: i64 },
}

impl Client {
    pub async fn drill(&self, command: DrillCommand) -> Result<(), CliError> {
        match command {
            DrillCommand::Start { file, example } => {
                let scenario = match example {
                    Some(name) => named_example(&name)?.to_string(),
                    None => read_text(None, file.filter(|f| f.as_os_str() != "-"))?,
                };
                let body = json!({ "scenario": scenario });
                let drill = self.call(Method::POST, "/drills", Some(body)).await?;
                self.print(&drill, |v| format!("{}\n", v["incident_id"]));
            }
            DrillCommand::Example { name } => print!("{}", named_example(&name)?),
            DrillCommand::List => {
                let all = self.call(Method::GET, "/drills", None).await?;
                self.print(&all, |v| {
                    let rows: Vec<Vec<String>> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| {
                            vec![
                                text(&d["incident_id"]),
                                text(&d["status"]),
                                played(d),
                                score(d),
                                text(&d["title"]),
                            ]
                        })
                        .collect();
                    table(&["INCIDENT", "STATUS", "PLAYED", "SCORE", "TITLE"], &rows)
                });
            }
            DrillCommand::Show { drill } => {
                let d = self
                    .call(Method::GET, &format!("/drills/{drill}"), None)
                    .await?;
                self.print(&d, show);
            }
        }
        Ok(())
    }
}

fn named_example(name: &str) -> Result<&'static str, CliError> {
    drill_example(name).map_err(|e| CliError::Usage(format!("{name:?}: {}", e.message)))
}

/// "3/5": events played of the script's.
fn played(d: &Value) -> String {
    let events = d["events"].as_array().cloned().unwrap_or_default();
    let done = events.iter().filter(|e| !e["played_at"].is_null()).count();
    format!("{done}/{}", events.len())
}

fn score(d: &Value) -> String {
    format!("{}/{}", d["score"]["met"], d["score"]["total"])
}

fn show(d: &Value) -> String {
    let mut out = format!(
        "DRILL incident #{} ({}, {}): {}\nstarted by {} at {}; pages {}\n\nScript ({} played):\n",
        d["incident_id"],
        text(&d["severity"]),
        text(&d["status"]),
        text(&d["title"]),
        text(&d["started_by"]),
        text(&d["started_at"]),
        text(&d["paging"]),
        played(d),
    );
    for e in d["events"].as_array().into_iter().flatten() {
        let mark = if e["played_at"].is_null() { " " } else { "x" };
        out.push_str(&format!(
            "  [{mark}] {} {}: {}\n",
            text(&e["due_at"]),
            text(&e["kind"]),
            text(&e["text"])
        ));
    }
    out.push_str(&format!("\nScore: {}\n", score(d)));
    out.push_str(&criteria(&d["score"]));
    out
}

/// A score's criteria, one a line, met ones checked.
pub(super) fn criteria(score: &Value) -> String {
    let mut out = String::new();
    for c in score["criteria"].as_array().into_iter().flatten() {
        let mark = if c["met"] == true { "x" } else { " " };
        out.push_str(&format!(
            "  [{mark}] {} ({})\n",
            text(&c["name"]),
            text(&c["detail"])
        ));
    }
    out
}
