//! Drills: a scripted practice incident. A scenario (TOML) names the incident to declare, who
//! is paged, and a script of timed events (alerts, user reports, changes, "a responder
//! reports…" notes) played into it; the drill's review scores the response against the
//! playbook it ran and the scenario's targets. A drill never reaches the public status page,
//! its subscribers or the response metrics, and every message about it starts with "DRILL".

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::incident::{RoleKind, Severity, Summary, Title};
use super::investigation::EvidenceKind;
use super::review::{DURATIONS, capitalized, duration_name};
use super::timeline::human_duration;
use super::{FieldError, bounded_text, one_line};

/// The longest scenario file.
pub const MAX_SCENARIO_CHARS: usize = 50_000;
/// The most events a script holds.
pub const MAX_EVENTS: usize = 200;
/// The most people a drill names.
pub const MAX_PARTICIPANTS: usize = 50;
/// The longest event text (it becomes a piece of evidence's summary or a timeline line).
pub const MAX_EVENT_TEXT: usize = 500;
/// The latest an event may come after the drill starts.
pub const MAX_AFTER: SignedDuration = SignedDuration::from_hours(24);

closed_set! {
    /// What a scripted event stands for.
    pub enum DrillEventKind for "kind" {
        Alert = "alert",
        UserReport = "user_report",
        Change = "change",
        /// "A responder reports X": a line on the timeline, no evidence.
        Note = "note",
    }
}

impl DrillEventKind {
    /// The evidence the event leaves on the incident, if it is one.
    pub fn evidence(self) -> Option<EvidenceKind> {
        match self {
            Self::Alert => Some(EvidenceKind::Alert),
            Self::UserReport => Some(EvidenceKind::UserReport),
            Self::Change => Some(EvidenceKind::Change),
            Self::Note => None,
        }
    }

    /// How the timeline names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Alert => "alert fired",
            Self::UserReport => "user report",
            Self::Change => "change",
            Self::Note => "a responder reports",
        }
    }
}

closed_set! {
    /// Who a drill pages.
    pub enum DrillPaging for "paging" {
        /// Only the people the scenario names.
        Participants = "participants",
        /// Whoever a real incident of the scenario's service would page (escalation policies,
        /// engagement rules), "DRILL" first in every message.
        Everyone = "everyone",
    }
}

impl DrillPaging {
    /// Whom it pages, in words (the timeline and the drill's page say it).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Participants => "it pages only the people it names",
            Self::Everyone => "it pages whoever a real incident would, DRILL first",
        }
    }
}

/// One event of the script, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedEvent {
    /// After the drill starts.
    pub after: SignedDuration,
    pub kind: DrillEventKind,
    pub text: String,
}

/// A scenario, checked: what to declare, whom to page, what to play and the targets to score.
/// Names (incident type, service, participants) are checked against the catalogue by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub title: Title,
    pub summary: Summary,
    pub severity: Severity,
    pub incident_type: Option<String>,
    pub service: Option<String>,
    pub paging: DrillPaging,
    pub participants: Vec<String>,
    /// (duration name, at most this many seconds), in `DURATIONS`' order.
    pub targets: Vec<(&'static str, i64)>,
    /// In the order they play.
    pub events: Vec<ScriptedEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    title: String,
    #[serde(rename = "type")]
    incident_type: Option<String>,
    severity: String,
    service: Option<String>,
    summary: Option<String>,
    paging: Option<String>,
    #[serde(default)]
    participants: Vec<String>,
    #[serde(default)]
    targets: BTreeMap<String, String>,
    #[serde(default)]
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    after: String,
    kind: String,
    text: String,
}

/// Every problem of a scenario is reported on the `scenario` field, the message saying where.
fn problem(message: impl Into<String>) -> FieldError {
    FieldError::new("scenario", message)
}

/// Re-says a field's error as a scenario's, naming where in the file it is.
fn at(place: &str, e: FieldError) -> FieldError {
    problem(format!("{place}: {}", e.message))
}

/// A duration written as people write them: "90s", "5m", "1h 30m" (or ISO 8601, "PT5M").
pub fn duration(place: &str, raw: &str) -> Result<SignedDuration, FieldError> {
    raw.trim().parse::<SignedDuration>().map_err(|_| {
        problem(format!(
            "{place}: {raw:?} is not a duration like \"90s\", \"5m\" or \"1h 30m\""
        ))
    })
}

impl Scenario {
    /// Reads a scenario's TOML; every problem is an error on `scenario` saying where it is.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        bounded_text("scenario", text, 1, MAX_SCENARIO_CHARS)?;
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            problem(format!(
                "is not a drill scenario: {}",
                e.message().trim_end()
            ))
        })?;
        let paging = match raw.paging.as_deref() {
            None => DrillPaging::Participants,
            Some(p) => p.parse().map_err(|e| at("paging", e))?,
        };
        let mut participants: Vec<String> = Vec::new();
        for name in &raw.participants {
            let name = one_line("participants", name, 100).map_err(|e| at("participants", e))?;
            if !participants.contains(&name) {
                participants.push(name);
            }
        }
        if participants.len() > MAX_PARTICIPANTS {
            return Err(problem(format!(
                "participants: at most {MAX_PARTICIPANTS} people"
            )));
        }
        if paging == DrillPaging::Participants && participants.is_empty() {
            return Err(problem(
                "participants: name who takes part (paging = \"participants\" pages only them), or set paging = \"everyone\"",
            ));
        }
        let mut targets = Vec::new();
        for (name, within) in &raw.targets {
            let Some((known, _)) = DURATIONS.iter().find(|(n, _)| n == name) else {
                let names: Vec<&str> = DURATIONS.iter().map(|(n, _)| *n).collect();
                return Err(problem(format!(
                    "targets: {name:?} is not a duration aplomb measures (one of {})",
                    names.join(", ")
                )));
            };
            let place = format!("targets.{name}");
            let within = duration(&place, within)?;
            if within < SignedDuration::from_secs(1) {
                return Err(problem(format!("{place}: must be a second or more")));
            }
            targets.push((*known, within.as_secs()));
        }
        targets.sort_by_key(|(name, _)| DURATIONS.iter().position(|(n, _)| n == name));
        if raw.events.len() > MAX_EVENTS {
            return Err(problem(format!("events: at most {MAX_EVENTS} events")));
        }
        let mut events = Vec::with_capacity(raw.events.len());
        for (k, e) in raw.events.iter().enumerate() {
            let place = format!("events[{k}]");
            let after = duration(&format!("{place}.after"), &e.after)?;
            if after < SignedDuration::ZERO || after > MAX_AFTER {
                return Err(problem(format!(
                    "{place}.after: must be between 0 and 24 hours after the start"
                )));
            }
            events.push(ScriptedEvent {
                after,
                kind: e
                    .kind
                    .parse()
                    .map_err(|x| at(&format!("{place}.kind"), x))?,
                text: one_line("text", &e.text, MAX_EVENT_TEXT)
                    .map_err(|x| at(&format!("{place}.text"), x))?,
            });
        }
        // Stable: events at the same time play in the order written.
        events.sort_by_key(|e| e.after);
        Ok(Self {
            title: Title::parse(&raw.title).map_err(|e| at("title", e))?,
            summary: Summary::parse(raw.summary.as_deref().unwrap_or(""))
                .map_err(|e| at("summary", e))?,
            severity: raw.severity.parse().map_err(|e| at("severity", e))?,
            incident_type: raw
                .incident_type
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
            service: raw
                .service
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            paging,
            participants,
            targets,
            events,
        })
    }
}

/// One thing a drill is scored on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Criterion {
    pub name: String,
    pub met: bool,
    pub detail: String,
}

/// How a drill's response measured up: every checklist step of the playbook it ran checked,
/// every role the playbook names filled, every target of the scenario met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillScore {
    pub met: usize,
    pub total: usize,
    pub criteria: Vec<Criterion>,
}

/// What the score reads: the review's durations (name, seconds), the scenario's targets, the
/// playbook's checklist (step, checked), the roles it names and the roles filled.
pub struct ScoreInput<'a> {
    pub durations: &'a [(&'static str, Option<i64>)],
    pub targets: &'a [(String, i64)],
    pub steps: &'a [(String, bool)],
    pub playbook_roles: &'a [RoleKind],
    pub filled: &'a [RoleKind],
}

/// The criteria, in order: the checklist's steps, the playbook's roles, the targets.
pub fn score(input: &ScoreInput) -> DrillScore {
    let mut criteria = Vec::new();
    for (step, checked) in input.steps {
        criteria.push(Criterion {
            name: format!("Checklist: {step}"),
            met: *checked,
            detail: if *checked { "checked" } else { "not checked" }.into(),
        });
    }
    for role in input.playbook_roles {
        let met = input.filled.contains(role);
        criteria.push(Criterion {
            name: format!("Role filled: {}", role.label()),
            met,
            detail: if met { "filled" } else { "never filled" }.into(),
        });
    }
    for (name, within) in input.targets {
        let took = input
            .durations
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, took)| *took);
        let label = capitalized(&duration_name(name));
        criteria.push(Criterion {
            name: format!("{label} within {}", human_duration(*within)),
            met: took.is_some_and(|t| t <= *within),
            detail: match took {
                Some(t) => format!("took {}", human_duration(t)),
                None => "did not happen".into(),
            },
        });
    }
    DrillScore {
        met: criteria.iter().filter(|c| c.met).count(),
        total: criteria.len(),
        criteria,
    }
}

/// The score as a section of a review's Markdown export.
pub fn score_markdown(score: &DrillScore) -> String {
    let mut out = format!(
        "\n## Drill score\n\n{} of {} met (the playbook's checklist and roles, the scenario's targets).\n\n",
        score.met, score.total
    );
    for c in &score.criteria {
        let mark = if c.met { "x" } else { " " };
        out.push_str(&format!("- [{mark}] {} ({})\n", c.name, c.detail));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTAGE: &str = include_str!("../../examples/drills/outage.toml");
    const BREACH: &str = include_str!("../../examples/drills/breach.toml");

    #[test]
    fn the_shipped_scenarios_parse() {
        let outage = Scenario::parse(OUTAGE).unwrap();
        assert_eq!(outage.severity, Severity::Sev2);
        assert!(outage.events.len() >= 4);
        assert!(outage.events.windows(2).all(|w| w[0].after <= w[1].after));
        let breach = Scenario::parse(BREACH).unwrap();
        assert_eq!(breach.incident_type.as_deref(), Some("security"));
        assert!(!breach.targets.is_empty());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration("x", "90s").unwrap().as_secs(), 90);
        assert_eq!(duration("x", "5m").unwrap().as_secs(), 300);
        assert_eq!(duration("x", "1h 30m").unwrap().as_secs(), 5400);
        assert_eq!(duration("x", "PT2M").unwrap().as_secs(), 120);
        let e = duration("events[0].after", "soon").unwrap_err();
        assert_eq!(e.field, "scenario");
        assert!(e.message.starts_with("events[0].after:"), "{}", e.message);
    }

    fn minimal(extra: &str) -> String {
        format!("title = \"Practice\"\nseverity = \"SEV3\"\nparticipants = [\"alice\"]\n{extra}")
    }

    #[test]
    fn every_problem_says_where_it_is() {
        let cases = [
            ("not toml at all [", "is not a drill scenario"),
            ("colour = \"red\"", "is not a drill scenario"),
            (
                "[targets]\ntime_to_lunch = \"5m\"",
                "targets: \"time_to_lunch\"",
            ),
            (
                "[targets]\ntime_to_acknowledge = \"0s\"",
                "targets.time_to_acknowledge",
            ),
            (
                "[targets]\ntime_to_acknowledge = \"500ms\"",
                "a second or more",
            ),
            (
                "[[events]]\nafter = \"25h\"\nkind = \"alert\"\ntext = \"x\"",
                "events[0].after",
            ),
            (
                "[[events]]\nafter = \"1m\"\nkind = \"pager\"\ntext = \"x\"",
                "events[0].kind",
            ),
            (
                "[[events]]\nafter = \"1m\"\nkind = \"note\"\ntext = \"\"",
                "events[0].text",
            ),
            ("paging = \"nobody\"", "paging:"),
        ];
        for (extra, expected) in cases {
            let e = Scenario::parse(&minimal(extra)).unwrap_err();
            assert_eq!(e.field, "scenario");
            assert!(e.message.contains(expected), "{extra:?}: {}", e.message);
        }
        let e = Scenario::parse("title = \"Practice\"\nseverity = \"SEV3\"").unwrap_err();
        assert!(e.message.starts_with("participants:"), "{}", e.message);
        let e = Scenario::parse("title = \"\"\nseverity = \"SEV3\"\nparticipants = [\"a\"]")
            .unwrap_err();
        assert!(e.message.starts_with("title:"), "{}", e.message);
        let everyone = Scenario::parse("title = \"P\"\nseverity = \"SEV3\"\npaging = \"everyone\"");
        assert_eq!(everyone.unwrap().paging, DrillPaging::Everyone);
    }

    #[test]
    fn events_play_in_time_order_and_the_same_time_in_file_order() {
        let s = Scenario::parse(&minimal(
            "[[events]]\nafter = \"5m\"\nkind = \"note\"\ntext = \"b\"\n\
             [[events]]\nafter = \"1m\"\nkind = \"alert\"\ntext = \"a\"\n\
             [[events]]\nafter = \"5m\"\nkind = \"change\"\ntext = \"c\"",
        ))
        .unwrap();
        let texts: Vec<&str> = s.events.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }

    #[test]
    fn a_drill_is_scored_on_steps_roles_and_targets() {
        let durations = [
            ("time_to_acknowledge", Some(120)),
            ("time_to_finding", None),
        ];
        let targets = [
            ("time_to_acknowledge".to_string(), 300),
            ("time_to_finding".to_string(), 1800),
        ];
        let steps = [
            ("Page the database team".to_string(), true),
            ("Post an update".to_string(), false),
        ];
        let score = score(&ScoreInput {
            durations: &durations,
            targets: &targets,
            steps: &steps,
            playbook_roles: &[RoleKind::IncidentLead, RoleKind::Scribe],
            filled: &[RoleKind::IncidentLead],
        });
        assert_eq!((score.met, score.total), (3, 6));
        let met: Vec<(&str, bool)> = score
            .criteria
            .iter()
            .map(|c| (c.name.as_str(), c.met))
            .collect();
        assert_eq!(met[0], ("Checklist: Page the database team", true));
        assert!(!met[1].1);
        assert!(met[2].0.starts_with("Role filled: "), "{}", met[2].0);
        assert!(met[2].1 && !met[3].1);
        assert!(met[4].1, "acknowledged in 2 min against 5");
        assert_eq!(score.criteria[5].detail, "did not happen");
    }
}
