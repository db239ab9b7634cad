//! The post-incident review, drafted from the record: the key moments of the response and the
//! durations between them, the timeline condensed to what mattered, and a gap analysis with one
//! section per practice (prevention, investigation, coordination, communication) pre-filled
//! from what the timeline shows, beside what went well. The team edits the narrative; the
//! figures are always read again from the record, so they cannot drift from it.

use jiff::Timestamp;
use serde::Serialize;

use super::FieldError;
use super::communication::Audience;
use super::drills::DrillEventKind;
use super::incident::{Incident, RoleKind, RolePolicy, Status};
use super::investigation::{EvidenceKind, FindingAction, HypothesisState};
use super::timeline::{EntryData, clock, human_duration};

/// The longest review text: a thorough review is a few pages of Markdown (and its JSON fits
/// the 64 KiB request limit).
pub const MAX_REVIEW_CHARS: usize = 50_000;
/// The longest reason for moving the detection time.
pub const MAX_DETECTION_REASON: usize = 500;
/// The longest comment on a review.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// The durations a review reports, by their API names, each with its exact definition (the
/// review and the metrics page print these words).
pub const DURATIONS: [(&str, &str); 7] = [
    (
        "time_to_detect",
        "impact began (the earliest of the incident's alerts firing, the observed time of its evidence of impact, the declaration) → detected (the declaration, unless the review sets the detection time)",
    ),
    (
        "time_to_acknowledge",
        "detected → the first page acknowledged",
    ),
    (
        "time_to_assemble",
        "detected → every role the severity requires filled and someone acknowledged",
    ),
    (
        "time_to_first_update",
        "detected → the first update published to users or stakeholders",
    ),
    (
        "time_to_finding",
        "detected → the first hypothesis marked supported",
    ),
    (
        "time_to_mitigate",
        "detected → the first move to monitoring (a fix in place), else the resolution",
    ),
    ("time_to_resolve", "detected → resolved (the last time)"),
];

/// When each key moment of the response happened; `None` where it did not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Moments {
    pub impact_began: Option<Timestamp>,
    pub detected: Option<Timestamp>,
    pub declared: Option<Timestamp>,
    pub acknowledged: Option<Timestamp>,
    pub assembled: Option<Timestamp>,
    pub first_update: Option<Timestamp>,
    pub finding: Option<Timestamp>,
    pub mitigated: Option<Timestamp>,
    pub resolved: Option<Timestamp>,
}

impl Moments {
    /// The durations in `DURATIONS`' order: (name, seconds, definition); `None` seconds where
    /// a moment is missing.
    pub fn durations(&self) -> [(&'static str, Option<i64>, &'static str); 7] {
        let between = |from: Option<Timestamp>, to: Option<Timestamp>| {
            Some(to?.duration_since(from?).as_secs().max(0))
        };
        let since_detected = |to| between(self.detected, to);
        let values = [
            between(self.impact_began, self.detected),
            since_detected(self.acknowledged),
            since_detected(self.assembled),
            since_detected(self.first_update),
            since_detected(self.finding),
            since_detected(self.mitigated),
            since_detected(self.resolved),
        ];
        let mut out = [("", None, ""); 7];
        for (k, value) in values.into_iter().enumerate() {
            out[k] = (DURATIONS[k].0, value, DURATIONS[k].1);
        }
        out
    }
}

/// One thing the record shows, with when (if it is about a moment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub at: Option<Timestamp>,
    pub text: String,
}

closed_set! {
    /// The practices a review's gap analysis reads the response by (and an action item may
    /// answer to), with what went well beside them.
    pub enum Practice for "section" {
        Prevention = "prevention",
        Investigation = "investigation",
        Coordination = "coordination",
        Communication = "communication",
        WentWell = "went_well",
    }
}

impl Practice {
    /// The section's title in a review.
    pub fn label(self) -> &'static str {
        match self {
            Self::Prevention => "Prevention",
            Self::Investigation => "Investigation",
            Self::Coordination => "Coordination",
            Self::Communication => "Communication",
            Self::WentWell => "What went well",
        }
    }
}

/// The gap analysis: what the record shows went short, by practice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Gaps {
    pub prevention: Vec<Observation>,
    pub investigation: Vec<Observation>,
    pub coordination: Vec<Observation>,
    pub communication: Vec<Observation>,
}

impl Gaps {
    /// The sections by their API names, in the order a review reads them.
    pub fn sections(&self) -> [(Practice, &[Observation]); 4] {
        [
            (Practice::Prevention, &self.prevention),
            (Practice::Investigation, &self.investigation),
            (Practice::Coordination, &self.coordination),
            (Practice::Communication, &self.communication),
        ]
    }
}

/// A moment of the condensed timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyMoment {
    pub at: Timestamp,
    pub kind: &'static str,
    pub text: String,
}

/// What the record says about a response, for its review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draft {
    pub moments: Moments,
    pub gaps: Gaps,
    pub went_well: Vec<Observation>,
    pub timeline: Vec<KeyMoment>,
    /// Each hypothesis's statement and where it ended (`supported`, `refuted`, or still
    /// `open`/`testing`).
    pub hypotheses: Vec<(String, HypothesisState)>,
    /// The production changes made during the response, each with whether it was rolled back.
    pub changes: Vec<(String, bool)>,
    pub user_reports: u32,
    pub alerts: u32,
}

impl Draft {
    /// Impact began → resolved, in seconds; `None` while unresolved.
    pub fn impact_seconds(&self) -> Option<i64> {
        let (began, resolved) = (self.moments.impact_began?, self.moments.resolved?);
        Some(resolved.duration_since(began).as_secs().max(0))
    }
}

/// One entry of the record, as the draft reads it.
pub type Recorded<'a> = (Timestamp, &'a EntryData);

/// A required role counts as late once it waited this long after the declaration.
const ROLE_GRACE_SECONDS: i64 = 5 * 60;

/// Drafts the review of `incident` from its timeline (oldest first). `signals` are when its
/// first signs were observed (its alerts' first firing, the observed times of its evidence of
/// impact); `detected` is the detection time the review set, if it moved it.
pub fn draft(
    incident: &Incident,
    entries: &[Recorded<'_>],
    signals: &[Timestamp],
    detected: Option<Timestamp>,
    roles: &RolePolicy,
) -> Draft {
    let first = |wanted: &dyn Fn(&EntryData) -> bool| {
        entries.iter().find(|(_, d)| wanted(d)).map(|(at, _)| *at)
    };
    let last = |wanted: &dyn Fn(&EntryData) -> bool| {
        entries
            .iter()
            .rev()
            .find(|(_, d)| wanted(d))
            .map(|(at, _)| *at)
    };
    let declared = incident.declared_at;
    let detected_at = detected.unwrap_or(declared);
    let moved_to = |status: Status| move |d: &EntryData| matches!(d, EntryData::StatusChanged { to, .. } if *to == status);
    let resolved = if incident.status.is_active() {
        None
    } else {
        last(&moved_to(Status::Resolved)).or(incident.resolved_at)
    };
    let moments = Moments {
        impact_began: signals.iter().copied().chain([declared, detected_at]).min(),
        detected: Some(detected_at),
        declared: Some(declared),
        acknowledged: first(&|d| matches!(d, EntryData::Acknowledged { .. })),
        assembled: first(&|d| matches!(d, EntryData::TeamAssembled { .. })),
        first_update: first(
            &|d| matches!(d, EntryData::UpdatePublished { audiences, .. } if audiences.iter().any(|a| *a != Audience::Responders)),
        ),
        finding: first(
            &|d| matches!(d, EntryData::HypothesisStateChanged { to, .. } if *to == HypothesisState::Supported),
        ),
        mitigated: first(&moved_to(Status::Monitoring)).or(resolved),
        resolved,
    };
    let mut draft = Draft {
        gaps: Gaps::default(),
        went_well: Vec::new(),
        timeline: condensed(entries),
        hypotheses: hypotheses(entries),
        changes: changes(entries),
        user_reports: count(entries, is_user_report),
        alerts: count(entries, is_alert),
        moments,
    };
    prevention(&mut draft, incident, entries);
    investigation(&mut draft, entries);
    coordination(&mut draft, incident, entries, roles);
    communication(&mut draft, entries);
    draft
}

/// An alert fired: from monitoring, or played by a drill's script.
fn is_alert(d: &EntryData) -> bool {
    matches!(
        d,
        EntryData::AlertTriggered { .. }
            | EntryData::DrillEventPlayed {
                event_kind: DrillEventKind::Alert,
                ..
            }
    )
}

/// A user report recorded as evidence, or played by a drill's script.
fn is_user_report(d: &EntryData) -> bool {
    matches!(
        d,
        EntryData::EvidenceAdded {
            evidence_kind: EvidenceKind::UserReport,
            ..
        } | EntryData::DrillEventPlayed {
            event_kind: DrillEventKind::UserReport,
            ..
        }
    )
}

fn count(entries: &[Recorded<'_>], wanted: impl Fn(&EntryData) -> bool) -> u32 {
    entries.iter().filter(|(_, d)| wanted(d)).count() as u32
}

fn seen(at: Timestamp, text: String) -> Observation {
    Observation { at: Some(at), text }
}

fn prevention(draft: &mut Draft, incident: &Incident, entries: &[Recorded<'_>]) {
    let declared = incident.declared_at;
    let first_alert = entries.iter().find(|(_, d)| is_alert(d)).map(|(at, _)| *at);
    let first_report = entries
        .iter()
        .find(|(_, d)| is_user_report(d))
        .map(|(at, _)| *at);
    match (first_alert, first_report) {
        (None, Some(report)) => draft.gaps.prevention.push(seen(
            report,
            format!(
                "no alert fired; users reported the problem first, at {}",
                clock(report)
            ),
        )),
        (Some(alert), Some(report)) if report < alert => draft.gaps.prevention.push(seen(
            report,
            format!(
                "users reported the problem at {}, before the first alert at {}",
                clock(report),
                clock(alert)
            ),
        )),
        (None, None) => draft.gaps.prevention.push(seen(
            declared,
            format!(
                "no alert fired before the incident was declared at {}",
                clock(declared)
            ),
        )),
        _ => {}
    }
    if let Some(alert) = first_alert.filter(|a| *a <= declared) {
        draft.went_well.push(seen(
            alert,
            format!("monitoring raised the first alert at {}", clock(alert)),
        ));
    }
    for (at, data) in entries {
        if let EntryData::StatusChanged { from, to, reason } = data
            && !from.is_active()
            && to.is_active()
        {
            let why = reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            draft.gaps.prevention.push(seen(
                *at,
                format!(
                    "the incident reopened at {}, after it was resolved{why}",
                    clock(*at)
                ),
            ));
        }
    }
}

fn investigation(draft: &mut Draft, entries: &[Recorded<'_>]) {
    for (at, data) in entries {
        match data {
            EntryData::ActedWithoutFinding { action, reason } => {
                let what = match action {
                    FindingAction::Change => "mitigation recorded",
                    FindingAction::Identified => "cause declared identified",
                };
                draft.gaps.investigation.push(seen(
                    *at,
                    format!("{what} without a finding at {} ({reason})", clock(*at)),
                ));
            }
            EntryData::ResponseChangeRolledBack {
                system,
                description,
                ..
            } => {
                draft.gaps.investigation.push(seen(
                    *at,
                    format!(
                        "a change to {system} was rolled back at {}: {description}",
                        clock(*at)
                    ),
                ));
            }
            _ => {}
        }
    }
    let supported = draft
        .hypotheses
        .iter()
        .filter(|(_, state)| *state == HypothesisState::Supported)
        .count();
    match (draft.moments.resolved, draft.moments.finding) {
        (Some(resolved), None) => draft.gaps.investigation.push(seen(
            resolved,
            "resolved without a supported hypothesis: the cause is not on the record".to_string(),
        )),
        (_, Some(finding)) => {
            let before_mitigation = draft.moments.mitigated.is_none_or(|m| finding <= m);
            if before_mitigation {
                draft.went_well.push(seen(
                    finding,
                    format!(
                        "the mitigation rested on a finding ({supported} supported hypothesis{})",
                        if supported == 1 { "" } else { "es" }
                    ),
                ));
            }
        }
        _ => {}
    }
}

fn coordination(
    draft: &mut Draft,
    incident: &Incident,
    entries: &[Recorded<'_>],
    roles: &RolePolicy,
) {
    let declared = incident.declared_at;
    let end = draft.moments.resolved;
    for role in incident.required_roles(roles) {
        let filled = entries
            .iter()
            .find(|(_, d)| matches!(d, EntryData::RoleAssigned { role: r, .. } if *r == role))
            .map(|(at, _)| *at);
        let gap = |until: Timestamp| until.duration_since(declared).as_secs();
        let late = match (filled, end) {
            (Some(at), _) if gap(at) >= ROLE_GRACE_SECONDS => Some((at, "unfilled for")),
            (None, Some(end)) if gap(end) >= ROLE_GRACE_SECONDS => Some((end, "never filled in")),
            _ => None,
        };
        if let Some((at, how)) = late {
            draft.gaps.coordination.push(seen(
                at,
                format!(
                    "{} required a {}, {how} {}",
                    incident.severity,
                    role_name(role),
                    human_duration(gap(at))
                ),
            ));
        }
    }
    for (at, data) in entries {
        let text = match data {
            EntryData::EscalationExhausted { policy } => {
                format!(
                    "paging by {policy} ran out without an acknowledgement at {}",
                    clock(*at)
                )
            }
            EntryData::LevelSkipped {
                policy,
                level,
                reason,
            } => {
                format!(
                    "{policy} level {level} paged nobody at {}: {reason}",
                    clock(*at)
                )
            }
            EntryData::CheckInOverdue {
                title, assignee, ..
            } => {
                format!(
                    "task \u{201c}{title}\u{201d} ({assignee}) missed its check-in at {}",
                    clock(*at)
                )
            }
            _ => continue,
        };
        draft.gaps.coordination.push(seen(*at, text));
    }
    if let (Some(assembled), Some(detected)) = (draft.moments.assembled, draft.moments.detected) {
        draft.went_well.push(seen(
            assembled,
            format!(
                "the team was assembled {} after detection",
                human_duration(assembled.duration_since(detected).as_secs())
            ),
        ));
    }
}

fn role_name(role: RoleKind) -> String {
    role.label().to_lowercase()
}

fn communication(draft: &mut Draft, entries: &[Recorded<'_>]) {
    let mut kept = 0;
    let mut missed = 0;
    for (at, data) in entries {
        match data {
            EntryData::CadenceMissed {
                first,
                late_seconds,
                ..
            } => {
                missed += 1;
                let which = if *first { "first update" } else { "update" };
                draft.gaps.communication.push(seen(
                    *at,
                    format!(
                        "{which} overdue by {} at {}",
                        human_duration(*late_seconds),
                        clock(*at)
                    ),
                ));
            }
            EntryData::CadenceKept { .. } => kept += 1,
            EntryData::UpdateOverdue {
                reminded: None,
                due_at,
                ..
            } => {
                draft.gaps.communication.push(seen(
                    *at,
                    format!(
                        "an update came due at {} with no communications or incident lead to remind",
                        clock(*due_at)
                    ),
                ));
            }
            _ => {}
        }
    }
    if draft.moments.first_update.is_none() {
        draft.gaps.communication.push(Observation {
            at: None,
            text: "no update reached users or stakeholders".to_string(),
        });
    }
    if kept > 0 && missed == 0 {
        draft.went_well.push(Observation {
            at: None,
            text: format!("every update counting toward the cadence went out on time ({kept})"),
        });
    }
}

/// The timeline's key moments: the declaration, changes of status and severity, roles, the
/// first acknowledgement, alerts, findings and refutations, changes to production, updates,
/// and what the gap analysis reads.
fn condensed(entries: &[Recorded<'_>]) -> Vec<KeyMoment> {
    let mut acknowledged = false;
    entries
        .iter()
        .filter(|(_, d)| match d {
            EntryData::Acknowledged { .. } => !std::mem::replace(&mut acknowledged, true),
            EntryData::HypothesisStateChanged { to, .. } => {
                matches!(to, HypothesisState::Supported | HypothesisState::Refuted)
            }
            _ => matches!(
                d,
                EntryData::Declared { .. }
                    | EntryData::StatusChanged { .. }
                    | EntryData::SeverityChanged { .. }
                    | EntryData::RoleAssigned { .. }
                    | EntryData::TeamAssembled { .. }
                    | EntryData::AlertTriggered { .. }
                    | EntryData::EscalationExhausted { .. }
                    | EntryData::ResponseChangeRecorded { .. }
                    | EntryData::ResponseChangeRolledBack { .. }
                    | EntryData::ActedWithoutFinding { .. }
                    | EntryData::UpdatePublished { .. }
                    | EntryData::CadenceMissed { .. }
                    | EntryData::DetectionMoved { .. }
                    | EntryData::ReviewPublished { .. }
            ),
        })
        .map(|(at, d)| KeyMoment {
            at: *at,
            kind: d.kind(),
            text: d.describe(),
        })
        .collect()
}

fn hypotheses(entries: &[Recorded<'_>]) -> Vec<(String, HypothesisState)> {
    let mut out: Vec<(i64, String, HypothesisState)> = Vec::new();
    for (_, data) in entries {
        match data {
            EntryData::HypothesisProposed {
                hypothesis_id,
                statement,
            } => {
                out.push((*hypothesis_id, statement.clone(), HypothesisState::Open));
            }
            EntryData::HypothesisEdited {
                hypothesis_id,
                statement,
            } => {
                if let Some(h) = out.iter_mut().find(|h| h.0 == *hypothesis_id) {
                    h.1 = statement.clone();
                }
            }
            EntryData::HypothesisStateChanged {
                hypothesis_id, to, ..
            } => {
                if let Some(h) = out.iter_mut().find(|h| h.0 == *hypothesis_id) {
                    h.2 = *to;
                }
            }
            _ => {}
        }
    }
    out.into_iter().map(|(_, s, state)| (s, state)).collect()
}

fn changes(entries: &[Recorded<'_>]) -> Vec<(String, bool)> {
    let mut out: Vec<(i64, String, bool)> = Vec::new();
    for (_, data) in entries {
        match data {
            EntryData::ResponseChangeRecorded {
                change_id,
                system,
                description,
                reference,
                ..
            } => {
                let at = reference
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                out.push((*change_id, format!("{system}: {description}{at}"), false));
            }
            EntryData::ResponseChangeRolledBack { change_id, .. } => {
                if let Some(c) = out.iter_mut().find(|c| c.0 == *change_id) {
                    c.2 = true;
                }
            }
            _ => {}
        }
    }
    out.into_iter()
        .map(|(_, text, rolled_back)| (text, rolled_back))
        .collect()
}

/// The detection time a review sets: not after the declaration (the team knew by then).
pub fn detection_time(at: Timestamp, declared: Timestamp) -> Result<Timestamp, FieldError> {
    if at > declared {
        return Err(FieldError::new(
            "detected_at",
            "must not be after the incident was declared",
        ));
    }
    Ok(at)
}

/// The Markdown a new review starts from: the sections the team fills, the gap analysis
/// pre-filled from the record.
pub fn starting_text(incident: &Incident, draft: &Draft) -> String {
    let mut out = format!("# Review: {}\n\n## Summary\n\n", incident.title);
    out.push_str(if incident.summary.is_empty() {
        "What happened, in a few sentences."
    } else {
        &incident.summary
    });
    out.push_str("\n\n## Impact\n\nWho was affected, how, and for how long.\n\n## Gap analysis\n");
    for (name, found) in draft.gaps.sections() {
        out.push_str(&format!("\n### {}\n\n", name.label()));
        if found.is_empty() {
            out.push_str("Nothing on the record; add what the team saw.\n");
        }
        for o in found {
            out.push_str(&format!("- {}\n", capitalized(&o.text)));
        }
    }
    out.push_str("\n## What went well\n\n");
    if draft.went_well.is_empty() {
        out.push_str("What worked and should be kept.\n");
    }
    for o in &draft.went_well {
        out.push_str(&format!("- {}\n", capitalized(&o.text)));
    }
    out
}

/// The review as one Markdown document: the team's text, then the figures from the record.
pub fn markdown(text: &str, draft: &Draft) -> String {
    let mut out = text.trim_end().to_string();
    out.push_str("\n\n## Key durations\n\n| Duration | Time | Measured as |\n|---|---|---|\n");
    for (name, seconds, definition) in draft.moments.durations() {
        let (name, value) = (duration_name(name), duration_text(seconds));
        out.push_str(&format!("| {name} | {value} | {definition} |\n"));
    }
    out.push_str("\n## Timeline\n\n");
    for m in &draft.timeline {
        out.push_str(&format!(
            "- {} — {}\n",
            m.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            m.text
        ));
    }
    if !draft.hypotheses.is_empty() {
        out.push_str("\n## Hypotheses\n\n");
        for (statement, state) in &draft.hypotheses {
            out.push_str(&format!("- {statement} ({state})\n"));
        }
    }
    if !draft.changes.is_empty() {
        out.push_str("\n## Changes made during the response\n\n");
        for (change, rolled_back) in &draft.changes {
            let note = if *rolled_back { " (rolled back)" } else { "" };
            out.push_str(&format!("- {change}{note}\n"));
        }
    }
    out
}

/// "time to resolve", for `time_to_resolve`.
pub fn duration_name(key: &str) -> String {
    key.replace('_', " ")
}

/// "1 h 5 min", or a dash where the moment did not happen.
pub fn duration_text(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "—".to_string(), human_duration)
}

/// The text with its first letter in capitals ("prevention" → "Prevention").
pub fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
