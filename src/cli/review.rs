//! `aplomb review …` (an incident's post-incident review: its draft, figures, publishing and
//! export) and `aplomb blame-check` (a text's wording, before it goes into a review).

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use super::communication::{findings, read_text};
use super::{CliError, Client, table, text};
use crate::domain::review;

/// Where the text comes from: the argument, a file, or standard input.
#[derive(Debug, clap::Args)]
pub struct BlameCheckArgs {
    /// The text; leave it out (or give `-`) to read standard input.
    text: Option<String>,
    /// Read the text from this file.
    #[arg(long, short, conflicts_with = "text")]
    file: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReviewCommand {
    /// Print the review's text (the draft's starting text, gap analysis pre-filled, until
    /// the first save); with TEXT, FILE or `-`, save that text instead.
    Draft {
        incident: i64,
        /// The new text (Markdown); `-` reads standard input.
        text: Option<String>,
        #[arg(long, short, conflicts_with = "text")]
        file: Option<PathBuf>,
        /// When the problem was detected, if not at the declaration (RFC 3339).
        #[arg(long, requires = "reason")]
        detected_at: Option<String>,
        /// Why the detection time moves.
        #[arg(long)]
        reason: Option<String>,
    },
    /// The review's figures: key durations, gap analysis, what went well, blame findings.
    Show { incident: i64 },
    /// Publish the review: the resolved incident becomes reviewed.
    Publish { incident: i64 },
    /// Comment on the review (`-` reads standard input), as a whole or on one section:
    /// prevention, investigation, coordination, communication or went_well.
    Comment {
        incident: i64,
        text: String,
        #[arg(long)]
        section: Option<String>,
    },
    /// The review's comments, oldest first.
    Comments { incident: i64 },
    /// The review meeting; with `--at`, schedule it (or move it): each attendee with an email
    /// contact method is sent an iCalendar invitation.
    Meeting {
        incident: i64,
        /// When it starts (RFC 3339).
        #[arg(long, requires = "attendees")]
        at: Option<String>,
        /// How long, in minutes.
        #[arg(long, default_value_t = 45)]
        minutes: i64,
        /// A username to ask; repeat for each.
        #[arg(long = "attendee")]
        attendees: Vec<String>,
        /// A room or a video-call link.
        #[arg(long)]
        location: Option<String>,
    },
    /// The review as one Markdown document, to standard output or a file.
    Export {
        incident: i64,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

impl Client {
    pub async fn blame_check(&self, args: BlameCheckArgs) -> Result<(), CliError> {
        let draft = read_text(args.text, args.file)?;
        let answer = self
            .call(Method::POST, "/blame-check", Some(json!({"text": draft})))
            .await?;
        self.print(&answer, |v| findings(&draft, &v["findings"], FAIR));
        Ok(())
    }

    pub async fn review(&self, command: ReviewCommand) -> Result<(), CliError> {
        match command {
            ReviewCommand::Draft {
                incident,
                text,
                file,
                detected_at,
                reason,
            } => {
                let path = format!("/incidents/{incident}/review");
                let current = self.call(Method::GET, &path, None).await?;
                if text.is_none() && file.is_none() && detected_at.is_none() {
                    self.print(&current, |v| format!("{}\n", text_of(v)));
                    return Ok(());
                }
                let new_text = match (text, file) {
                    (None, None) => text_of(&current),
                    (text, file) => read_text(text, file)?,
                };
                let body = json!({"text": new_text, "version": current["version"],
                    "detected_at": detected_at, "detected_reason": reason});
                let saved = self.call(Method::PUT, &path, Some(body)).await?;
                self.print(&saved, |v| {
                    let blame = findings(&text_of(v), &v["blame"], FAIR);
                    format!("review saved (version {})\n{blame}", v["version"])
                });
            }
            ReviewCommand::Show { incident } => {
                let path = format!("/incidents/{incident}/review");
                let review = self.call(Method::GET, &path, None).await?;
                self.print(&review, figures);
            }
            ReviewCommand::Publish { incident } => {
                let path = format!("/incidents/{incident}/review/publish");
                let review = self.call(Method::POST, &path, None).await?;
                self.print(&review, |v| {
                    format!(
                        "review published; incident {incident} is {}\n",
                        text(&v["incident_status"])
                    )
                });
            }
            ReviewCommand::Comment {
                incident,
                text,
                section,
            } => {
                let comment = read_text(Some(text), None)?;
                let path = format!("/incidents/{incident}/review/comments");
                let body = json!({"text": comment, "section": section});
                let posted = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&posted, |v| {
                    let blame = findings(&comment, &v["blame"], FAIR);
                    format!("comment {} posted\n{blame}", v["comment"]["id"])
                });
            }
            ReviewCommand::Comments { incident } => {
                let path = format!("/incidents/{incident}/review/comments");
                let all = self.call(Method::GET, &path, None).await?;
                self.print(&all, |v| {
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            let on = match c["section"].as_str() {
                                Some(section) => format!(" on {section}"),
                                None => String::new(),
                            };
                            format!(
                                "{} {}{on}:\n  {}\n",
                                text(&c["at"]),
                                text(&c["author"]),
                                text(&c["text"]).replace('\n', "\n  ")
                            )
                        })
                        .collect()
                });
            }
            ReviewCommand::Meeting {
                incident,
                at,
                minutes,
                attendees,
                location,
            } => {
                let path = format!("/incidents/{incident}/review/meeting");
                let meeting = match at {
                    None => self.call(Method::GET, &path, None).await?,
                    Some(at) => {
                        let body = json!({"starts_at": at, "duration_minutes": minutes,
                            "attendees": attendees, "location": location});
                        self.call(Method::PUT, &path, Some(body)).await?
                    }
                };
                self.print(&meeting, meeting_text);
            }
            ReviewCommand::Export { incident, output } => {
                let document = self
                    .download(&format!("/incidents/{incident}/review.md"))
                    .await?;
                match output {
                    Some(file) => std::fs::write(&file, document)
                        .map_err(|e| CliError::Usage(format!("writing {}: {e}", file.display())))?,
                    None => print!("{}", String::from_utf8_lossy(&document)),
                }
            }
        }
        Ok(())
    }
}

/// What the blameless check says of a text it found nothing in.
const FAIR: &str = "no findings: it describes what happened without blame";

/// A meeting and its invitations, for people.
fn meeting_text(m: &Value) -> String {
    let mut out = format!(
        "{} to {}{}\n",
        text(&m["starts_at"]),
        text(&m["ends_at"]),
        m["location"]
            .as_str()
            .map(|l| format!(" at {l}"))
            .unwrap_or_default()
    );
    for a in m["attendees"].as_array().into_iter().flatten() {
        let to = match (a["email"].as_str(), a["invited"] == true) {
            (Some(email), _) => email,
            (None, true) => "invited by email",
            (None, false) => "no email address",
        };
        out.push_str(&format!("  {} ({to})\n", text(&a["username"])));
    }
    let rows: Vec<Vec<String>> = m["invites"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            vec![
                text(&i["address"]),
                text(&i["sequence"]),
                text(&i["state"]),
                text(&i["detail"]),
            ]
        })
        .collect();
    out.push_str(&table(
        &["INVITATION TO", "SEQUENCE", "STATE", "DETAIL"],
        &rows,
    ));
    out
}

fn text_of(review: &Value) -> String {
    review["text"].as_str().unwrap_or_default().to_string()
}

/// The review's figures, for people.
fn figures(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["definitions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, definition)| {
            vec![
                review::duration_name(name),
                review::duration_text(v["durations"][name].as_i64()),
                text(definition),
            ]
        })
        .collect();
    let mut out = format!(
        "incident {} ({}), review {}\n\n{}",
        v["incident_id"],
        text(&v["incident_status"]),
        if v["published"] == true {
            "published"
        } else {
            "draft"
        },
        table(&["duration", "time", "measured as"], &rows)
    );
    for practice in [
        "prevention",
        "investigation",
        "coordination",
        "communication",
    ] {
        out.push_str(&format!("\ngaps in {practice}:\n"));
        let found = v["gaps"][practice].as_array().cloned().unwrap_or_default();
        if found.is_empty() {
            out.push_str("  none on the record\n");
        }
        for o in found {
            out.push_str(&format!("  - {}\n", text(&o["text"])));
        }
    }
    out.push_str("\nwent well:\n");
    for o in v["went_well"].as_array().into_iter().flatten() {
        out.push_str(&format!("  - {}\n", text(&o["text"])));
    }
    for shown in v["impact"]["status_page"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\non the status page: {} {} for {}",
            text(&shown["component"]),
            text(&shown["status"]),
            review::duration_text(shown["seconds"].as_i64())
        ));
    }
    let p = &v["playbook"];
    if !p.is_null() {
        out.push_str(&format!(
            "\nran playbook {} version {}: {} of {} steps checked\n",
            p["playbook_id"], p["version"], p["checked"], p["steps"]
        ));
        for step in p["unchecked"].as_array().into_iter().flatten() {
            out.push_str(&format!("  [ ] {}\n", text(step)));
        }
    }
    let score = &v["drill_score"];
    if !score.is_null() {
        out.push_str(&format!(
            "\ndrill score: {} of {}\n",
            score["met"], score["total"]
        ));
        out.push_str(&super::drills::criteria(score));
    }
    out.push('\n');
    out.push_str(&findings(&text_of(v), &v["blame"], FAIR));
    out
}
