//! `aplomb update …` (status updates), `aplomb tone-check` (a draft's tone, before it goes
//! out), `aplomb template …` (the team's update templates) and `aplomb subscription …`
//! (stakeholders' subscriptions to updates).

use std::io::Read;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use super::{CliError, Client, table, text, texts};

/// Where the draft comes from: the argument, a file, or standard input.
#[derive(Debug, clap::Args)]
pub struct ToneCheckArgs {
    /// The draft; leave it out (or give `-`) to read standard input.
    text: Option<String>,
    /// Read the draft from this file.
    #[arg(long, short, conflicts_with = "text")]
    file: Option<PathBuf>,
    /// public, stakeholders or responders.
    #[arg(long, default_value = "public")]
    audience: String,
    /// investigating, identified, monitoring, resolved or update.
    #[arg(long)]
    phase: Option<String>,
}

impl Client {
    pub async fn tone_check(&self, args: ToneCheckArgs) -> Result<(), CliError> {
        let draft = read_text(args.text, args.file)?;
        let body = json!({"text": draft, "audience": args.audience, "phase": args.phase});
        let answer = self.call(Method::POST, "/tone-check", Some(body)).await?;
        self.print(&answer, |v| findings(&draft, &v["findings"], CALM));
        Ok(())
    }
}

/// What the tone check says of a draft it found nothing in.
const CALM: &str = "no findings: it reads calm and says what readers need";

/// A text from the argument, else the file, else standard input (also for `-`).
pub(super) fn read_text(text: Option<String>, file: Option<PathBuf>) -> Result<String, CliError> {
    match (text, file) {
        (Some(text), _) if text != "-" => Ok(text),
        (_, Some(file)) => std::fs::read_to_string(&file)
            .map_err(|e| CliError::Usage(format!("reading {}: {e}", file.display()))),
        _ => standard_input(),
    }
}

/// `text`, or standard input when it is `-`.
fn text_or_stdin(text: String) -> Result<String, CliError> {
    if text == "-" {
        standard_input()
    } else {
        Ok(text)
    }
}

fn standard_input() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("reading standard input: {e}")))?;
    Ok(text)
}

/// Each finding: where it is, the words it is about, why, and what to write instead.
/// A wording check's findings (the tone check's, the blameless check's), each with the words
/// it is about; `clean` when there are none.
pub(super) fn findings(draft: &str, list: &Value, clean: &str) -> String {
    let list = list.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return format!("{clean}\n");
    }
    let chars: Vec<char> = draft.chars().collect();
    let mut out = String::new();
    for f in &list {
        let at = |k: &str| {
            f[k].as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0)
                .min(chars.len())
        };
        let (start, end) = (at("start"), at("end"));
        let quoted: String = chars[start..end.max(start)].iter().collect();
        let place = if start == end {
            "missing".to_string()
        } else {
            format!("{start}-{end} \"{quoted}\"")
        };
        out.push_str(&format!(
            "{} {place}: {}\n  {}\n",
            text(&f["rule"]),
            text(&f["reason"]),
            text(&f["suggestion"])
        ));
    }
    out
}

#[derive(Debug, clap::Subcommand)]
pub enum UpdateCommand {
    /// Draft a status update and print its id and what the tone check found; `publish`
    /// sends it out.
    Draft {
        incident: i64,
        /// The text (Markdown); `-` reads standard input.
        text: String,
        /// investigating, identified, monitoring, resolved or update.
        #[arg(long, default_value = "update")]
        phase: String,
        /// public, stakeholders or responders (repeatable).
        #[arg(long = "audience", required = true)]
        audiences: Vec<String>,
        /// When readers hear next (RFC 3339).
        #[arg(long)]
        next_update_by: Option<String>,
        /// Publish it at once.
        #[arg(long)]
        publish: bool,
        /// A component's status on the status page, as NAME=STATUS (a public update;
        /// repeatable), e.g. `--component Checkout=partial_outage`.
        #[arg(long = "component", value_parser = component_status)]
        components: Vec<(String, String)>,
    },
    /// Publish a draft: it goes out to its audiences.
    Publish { incident: i64, update: i64 },
    /// Correct a published update's text (the correction shows as such), or edit a draft's.
    Correct {
        incident: i64,
        update: i64,
        text: String,
    },
    /// An incident's updates, newest first.
    List { incident: i64 },
    /// The text an update to AUDIENCE in PHASE starts from, filled for the incident (pipe it
    /// to `aplomb update draft INCIDENT -` once edited).
    Template {
        incident: i64,
        /// public, stakeholders or responders.
        #[arg(long, default_value = "public")]
        audience: String,
        /// investigating, identified, monitoring, resolved or update.
        #[arg(long, default_value = "investigating")]
        phase: String,
    },
    /// When the incident's next update is due under its severity's cadence.
    Due { incident: i64 },
    /// Put off the overdue-update reminder; the update stays due.
    Snooze {
        incident: i64,
        /// 1 to 120.
        #[arg(long, default_value_t = 30)]
        minutes: i64,
    },
}

/// `NAME=STATUS`, split at the last `=` (a name may hold one).
fn component_status(arg: &str) -> Result<(String, String), String> {
    match arg.rsplit_once('=') {
        Some((name, status)) if !name.trim().is_empty() && !status.trim().is_empty() => {
            Ok((name.trim().to_string(), status.trim().to_string()))
        }
        _ => Err(format!(
            "{arg:?} is not NAME=STATUS, e.g. Checkout=partial_outage"
        )),
    }
}

impl Client {
    pub async fn update(&self, command: UpdateCommand) -> Result<(), CliError> {
        match command {
            UpdateCommand::Draft {
                incident,
                text,
                phase,
                audiences,
                next_update_by,
                publish,
                components,
            } => {
                let draft = text_or_stdin(text)?;
                let components: Vec<_> = components
                    .iter()
                    .map(|(name, status)| json!({"name": name, "status": status}))
                    .collect();
                let body = json!({"text": draft, "phase": phase, "audiences": audiences,
                    "next_update_by": next_update_by, "publish": publish, "components": components});
                let path = format!("/incidents/{incident}/updates");
                let u = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&u, |v| {
                    let mut out = format!("{}\n{}", v["id"], tone_of(v));
                    if v["state"] == "published" {
                        out.push_str(&format!(
                            "published to {}\n",
                            texts(&v["audiences"]).join(", ")
                        ));
                    }
                    out
                });
            }
            UpdateCommand::Publish { incident, update } => {
                let path = format!("/incidents/{incident}/updates/{update}");
                let body = json!({"publish": true});
                let u = self.call(Method::PATCH, &path, Some(body)).await?;
                self.print(&u, |v| format!("update {} published\n", v["id"]));
            }
            UpdateCommand::Correct {
                incident,
                update,
                text,
            } => {
                let path = format!("/incidents/{incident}/updates/{update}");
                let u = self
                    .call(Method::PATCH, &path, Some(json!({"text": text})))
                    .await?;
                self.print(&u, |v| {
                    let done = if v["corrected_at"].is_string() {
                        "corrected"
                    } else {
                        "edited"
                    };
                    format!("update {} {done}\n", v["id"])
                });
            }
            UpdateCommand::List { incident } => {
                let path = format!("/incidents/{incident}/updates");
                let list = self.call(Method::GET, &path, None).await?;
                self.print(&list, update_list);
            }
            UpdateCommand::Template {
                incident,
                audience,
                phase,
            } => {
                let path = format!(
                    "/incidents/{incident}/updates/template?audience={}&phase={}",
                    super::encode(&audience),
                    super::encode(&phase)
                );
                let t = self.call(Method::GET, &path, None).await?;
                self.print(&t, |v| format!("{}\n", text(&v["text"])));
            }
            UpdateCommand::Due { incident } => {
                let path = format!("/incidents/{incident}/cadence");
                let c = self.call(Method::GET, &path, None).await?;
                self.print(&c, cadence);
            }
            UpdateCommand::Snooze { incident, minutes } => {
                let path = format!("/incidents/{incident}/cadence/snooze");
                let body = json!({"minutes": minutes});
                let c = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&c, cadence);
            }
        }
        Ok(())
    }
}

/// A draft's tone findings, one per line, or that there are none.
fn tone_of(update: &Value) -> String {
    let text = update["text"].as_str().unwrap_or_default();
    findings(text, &update["tone"], CALM)
}

/// "next update due 2026-03-02T14:25:00Z (overdue)", and the snooze.
fn cadence(c: &Value) -> String {
    let Some(at) = c["due_at"].as_str() else {
        return "no update expected\n".into();
    };
    let which = if c["first"] == true { "first" } else { "next" };
    let overdue = if c["overdue"] == true {
        " (overdue)"
    } else {
        ""
    };
    let snoozed = match c["snoozed_until"].as_str() {
        Some(until) => format!("\nreminder snoozed until {until}"),
        None => String::new(),
    };
    format!("{which} update due {at}{overdue}{snoozed}\n")
}

fn update_list(list: &Value) -> String {
    let mut out = String::new();
    for u in list.as_array().into_iter().flatten() {
        let audiences = texts(&u["audiences"]);
        let when = match u["published_at"].as_str() {
            Some(at) => format!("published {at}"),
            None => "draft".into(),
        };
        let corrected = if u["corrected_at"].is_string() {
            " (corrected)"
        } else {
            ""
        };
        out.push_str(&format!(
            "#{} {} to {} · {when}{corrected}\n  {}\n",
            u["id"],
            text(&u["phase"]),
            audiences.join(", "),
            text(&u["text"]).replace('\n', "\n  ")
        ));
    }
    if out.is_empty() {
        out.push_str("no updates yet\n");
    }
    out
}

#[derive(Debug, clap::Subcommand)]
pub enum SubscriptionCommand {
    /// Subscribe a user (yourself, or anyone as an admin) to the updates published to
    /// stakeholders (or to responders).
    Add {
        user: String,
        /// stakeholders, or responders (a team's chat channel, say).
        #[arg(long, default_value = "stakeholders")]
        audience: String,
        /// Every incident when neither --service nor --severity is given.
        #[arg(long, conflicts_with = "severity")]
        service: Option<String>,
        /// Incidents of this severity or worse (SEV1 to SEV4).
        #[arg(long)]
        severity: Option<String>,
        /// The contact method updates arrive on: its id, or its kind (the first of the
        /// user's contact methods of that kind).
        #[arg(long)]
        via: String,
    },
    List {
        user: String,
    },
    Remove {
        user: String,
        id: i64,
    },
}

impl Client {
    pub async fn subscription(&self, command: SubscriptionCommand) -> Result<(), CliError> {
        match command {
            SubscriptionCommand::Add {
                user,
                audience,
                service,
                severity,
                via,
            } => {
                let contact_method_id = self.contact_method(&user, &via).await?;
                let scope = match (&service, &severity) {
                    (Some(_), _) => "service",
                    (None, Some(_)) => "severity",
                    (None, None) => "all",
                };
                let body = json!({"scope": scope, "service": service, "severity": severity,
                    "audience": audience, "contact_method_id": contact_method_id});
                let path = format!("/users/{user}/subscriptions");
                let s = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&s, |v| {
                    format!(
                        "subscription {} added: {} hears of {} by {}\n",
                        v["id"],
                        text(&v["user"]),
                        covered(v),
                        text(&v["channel"])
                    )
                });
            }
            SubscriptionCommand::List { user } => {
                let path = format!("/users/{user}/subscriptions");
                let list = self.call(Method::GET, &path, None).await?;
                self.print(&list, |v| {
                    let rows: Vec<Vec<String>> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| vec![s["id"].to_string(), covered(s), text(&s["channel"])])
                        .collect();
                    table(&["ID", "COVERS", "CHANNEL"], &rows)
                });
            }
            SubscriptionCommand::Remove { user, id } => {
                let path = format!("/users/{user}/subscriptions/{id}");
                self.call(Method::DELETE, &path, None).await?;
                if !self.json {
                    println!("subscription {id} removed");
                }
            }
        }
        Ok(())
    }

    /// A contact method of `user`'s by id, or the first of the kind named.
    async fn contact_method(&self, user: &str, via: &str) -> Result<i64, CliError> {
        if let Ok(id) = via.parse() {
            return Ok(id);
        }
        let path = format!("/users/{user}/contact-methods");
        let methods = self.call(Method::GET, &path, None).await?;
        methods
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["kind"] == via)
            .and_then(|m| m["id"].as_i64())
            .ok_or_else(|| CliError::Usage(format!("{user} has no {via} contact method")))
    }
}

/// What a subscription covers, in words: "every incident", "incidents of checkout-api",
/// and "(updates to responders)" for a responders' one.
fn covered(s: &Value) -> String {
    let incidents = match s["scope"].as_str() {
        Some("service") => format!("incidents of {}", text(&s["service"])),
        Some("severity") => format!("{} or worse incidents", text(&s["severity"])),
        _ => "every incident".into(),
    };
    if s["audience"] == "responders" {
        format!("{incidents} (updates to responders)")
    } else {
        incidents
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum TemplateCommand {
    /// Every template: the team's, or aplomb's own where it wrote none.
    List,
    /// Write the team's template for AUDIENCE and PHASE (admins); `{title}`, `{severity}`,
    /// `{services}` and `{next_update}` are filled from the incident.
    Set {
        /// public, stakeholders or responders.
        audience: String,
        /// investigating, identified, monitoring, resolved or update.
        phase: String,
        /// The text (Markdown); `-` reads standard input.
        text: String,
        /// For incidents of this type only.
        #[arg(long = "type")]
        incident_type: Option<String>,
    },
    /// Remove the team's template: the one for any type, or aplomb's own, applies again.
    Reset {
        audience: String,
        phase: String,
        #[arg(long = "type")]
        incident_type: Option<String>,
    },
}

impl Client {
    pub async fn template(&self, command: TemplateCommand) -> Result<(), CliError> {
        let path = |audience: &str, phase: &str| {
            format!(
                "/update-templates/{}/{}",
                super::encode(audience),
                super::encode(phase)
            )
        };
        match command {
            TemplateCommand::List => {
                let list = self.call(Method::GET, "/update-templates", None).await?;
                self.print(&list, template_list);
            }
            TemplateCommand::Set {
                audience,
                phase,
                text: written,
                incident_type,
            } => {
                let body = json!({"text": text_or_stdin(written)?, "incident_type": incident_type});
                let t = self
                    .call(Method::PUT, &path(&audience, &phase), Some(body))
                    .await?;
                self.print(&t, |v| {
                    format!(
                        "template for {} {} saved\n",
                        text(&v["audience"]),
                        text(&v["phase"])
                    )
                });
            }
            TemplateCommand::Reset {
                audience,
                phase,
                incident_type,
            } => {
                let mut at = path(&audience, &phase);
                if let Some(ty) = incident_type {
                    at.push_str(&format!("?incident_type={}", super::encode(&ty)));
                }
                self.call(Method::DELETE, &at, None).await?;
                self.print(&json!({"reset": true}), |_| {
                    format!("template for {audience} {phase} reset\n")
                });
            }
        }
        Ok(())
    }
}

fn template_list(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let first_line = t["text"]
                .as_str()
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default();
            vec![
                text(&t["audience"]),
                text(&t["phase"]),
                t["incident_type"].as_str().unwrap_or("any").to_string(),
                if t["custom"] == true {
                    "team's"
                } else {
                    "aplomb's"
                }
                .to_string(),
                first_line.chars().take(60).collect(),
            ]
        })
        .collect();
    table(&["AUDIENCE", "PHASE", "TYPE", "WRITTEN BY", "TEXT"], &rows)
}

impl Client {
    /// `aplomb briefing`: the managers' view of open incidents.
    pub async fn briefing(&self) -> Result<(), CliError> {
        let list = self.call(Method::GET, "/briefing", None).await?;
        self.print(&list, briefing);
        Ok(())
    }
}

/// Each open incident, when stakeholders hear next, and what they were told, newest first.
fn briefing(list: &Value) -> String {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "no open incident\n".into();
    }
    let mut out = String::new();
    for b in items {
        out.push_str(&format!(
            "#{} {} ({} {}, lead {})\n",
            b["incident_id"],
            text(&b["title"]),
            text(&b["severity"]),
            text(&b["status"]),
            text(&b["lead"])
        ));
        if let Some(due) = b["next_update_due"].as_str() {
            let late = if b["overdue"] == true {
                " (overdue)"
            } else {
                ""
            };
            out.push_str(&format!("  next update due {due}{late}\n"));
        }
        let updates = b["updates"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if updates.is_empty() {
            out.push_str("  stakeholders not told yet\n");
        }
        for u in updates {
            out.push_str(&format!(
                "  {} {}: {}\n",
                text(&u["published_at"]),
                text(&u["phase"]),
                text(&u["text"]).replace('\n', " ")
            ));
        }
    }
    out
}
