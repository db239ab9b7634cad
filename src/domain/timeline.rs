//! The timeline: an append-only record of everything that happened to an incident.

use serde::{Deserialize, Serialize};

use super::attachment::readable_size;
use super::communication::{Audience, Phase};
use super::coordination::TaskStatus;
use super::escalation::PagingStop;
use super::incident::{RoleKind, Severity, Status};
use super::investigation::{EvidenceKind, FindingAction, HypothesisState};

/// What a timeline entry records. Stored as its `kind` plus the remaining fields as JSON, so new
/// kinds (pages, alerts, status updates, …) are added without a schema change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryData {
    Declared {
        title: String,
        severity: Severity,
        incident_type: String,
        private: bool,
        #[serde(default)]
        services: Vec<String>,
    },
    StatusChanged {
        from: Status,
        to: Status,
        reason: Option<String>,
    },
    SeverityChanged {
        from: Severity,
        to: Severity,
    },
    TitleChanged {
        from: String,
        to: String,
    },
    SummaryChanged {
        summary: String,
    },
    RoleAssigned {
        role: RoleKind,
        user: String,
        previous: Option<String>,
        /// What the previous holder handed over (open threads, what to watch).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    ParticipantAdded {
        user: String,
    },
    Note {
        text: String,
    },
    /// An escalation policy started paging for this incident.
    EscalationStarted {
        policy: String,
    },
    /// A responder was paged at one step of an escalation policy.
    Paged {
        user: String,
        policy: String,
        level: u32,
        round: u32,
    },
    /// A level resolved to nobody (e.g. an empty schedule) and was passed over.
    LevelSkipped {
        policy: String,
        level: u32,
        reason: String,
    },
    /// Every level and repeat ran without an acknowledgement.
    EscalationExhausted {
        policy: String,
    },
    Acknowledged {
        user: String,
    },
    /// A page was already on its way when paging stopped, and reached its receiver after.
    SentAfterStop {
        user: String,
        channel: String,
        stopped_by: PagingStop,
    },
    /// An engagement rule brought someone in, optionally into a role.
    Engaged {
        user: String,
        rule: String,
        engaged_as: Option<String>,
    },
    /// Every required role is filled and someone has acknowledged.
    TeamAssembled {
        seconds_since_declared: i64,
    },
    /// A new alert joined the incident (repeats of it are counted on the alert, not here).
    AlertTriggered {
        alert_id: i64,
        dedup_key: String,
        summary: String,
        severity: String,
    },
    EvidenceAdded {
        evidence_id: i64,
        evidence_kind: EvidenceKind,
        summary: String,
    },
    EvidencePinned {
        evidence_id: i64,
        summary: String,
        pinned: bool,
    },
    EvidenceEdited {
        evidence_id: i64,
        summary: String,
    },
    EvidenceRemoved {
        evidence_id: i64,
        summary: String,
    },
    /// A status update went out to its audiences.
    UpdatePublished {
        update_id: i64,
        phase: Phase,
        audiences: Vec<Audience>,
        text: String,
    },
    /// A published update's text was corrected; `text` is the new one.
    UpdateCorrected {
        update_id: i64,
        text: String,
    },
    /// An update counting toward the cadence went out by the time it was due.
    CadenceKept {
        first: bool,
        due_at: jiff::Timestamp,
    },
    /// An update counting toward the cadence went out after it was due.
    CadenceMissed {
        first: bool,
        due_at: jiff::Timestamp,
        late_seconds: i64,
    },
    /// An update came due unpublished; `reminded` is who was reminded (the communications
    /// lead, else the incident lead), `None` when neither role is filled.
    UpdateOverdue {
        first: bool,
        due_at: jiff::Timestamp,
        reminded: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unreachable: bool,
    },
    /// The overdue-update reminder was put off until `until`.
    UpdateReminderSnoozed {
        until: jiff::Timestamp,
    },
    /// A file was attached to a piece of evidence.
    AttachmentAdded {
        evidence_id: i64,
        attachment_id: i64,
        name: String,
        size: i64,
    },
    AttachmentRemoved {
        evidence_id: i64,
        attachment_id: i64,
        name: String,
    },
    HypothesisProposed {
        hypothesis_id: i64,
        statement: String,
    },
    /// The statement, owner or evidence of a hypothesis changed.
    HypothesisEdited {
        hypothesis_id: i64,
        statement: String,
    },
    HypothesisStateChanged {
        hypothesis_id: i64,
        statement: String,
        from: HypothesisState,
        to: HypothesisState,
    },
    HypothesisTested {
        hypothesis_id: i64,
        statement: String,
        description: String,
        result: String,
    },
    /// A responder changed production.
    ResponseChangeRecorded {
        change_id: i64,
        system: String,
        description: String,
        reference: Option<String>,
        hypothesis_id: Option<i64>,
    },
    ResponseChangeRolledBack {
        change_id: i64,
        system: String,
        description: String,
    },
    /// Someone acted (e.g. moved to identified) while no hypothesis was supported, saying why.
    ActedWithoutFinding {
        action: FindingAction,
        reason: String,
    },
    TaskAdded {
        task_id: i64,
        title: String,
        skill: Option<String>,
        assignee: Option<String>,
    },
    /// A task's title, skill or check-in interval changed.
    TaskEdited {
        task_id: i64,
        title: String,
    },
    TaskAssigned {
        task_id: i64,
        title: String,
        assignee: Option<String>,
    },
    TaskStatusChanged {
        task_id: i64,
        title: String,
        from: TaskStatus,
        to: TaskStatus,
    },
    /// Progress reported on a task.
    TaskCheckedIn {
        task_id: i64,
        title: String,
        user: String,
        note: String,
    },
    /// A task's check-in came due without one; its assignee was reminded, unless they have
    /// no contact method to be reminded through.
    CheckInOverdue {
        task_id: i64,
        title: String,
        assignee: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unreachable: bool,
    },
    /// The review set when the problem was detected (detection and declaration often differ).
    DetectionMoved {
        detected_at: jiff::Timestamp,
        reason: String,
    },
    /// The review was published; the incident is reviewed.
    ReviewPublished {
        by: String,
    },
    ActionItemAdded {
        item_id: i64,
        title: String,
        owner: Option<String>,
        due_at: Option<jiff::Timestamp>,
    },
    /// The incident runs this version of its type's (or service's) playbook.
    PlaybookApplied {
        playbook_id: i64,
        version: i64,
        steps: usize,
    },
    /// A step of the playbook's checklist was checked, or unchecked.
    ChecklistStepChecked {
        step: i64,
        text: String,
        checked: bool,
    },
    /// An action item changed: the fields named, and its state as it now stands.
    ActionItemChanged {
        item_id: i64,
        title: String,
        changed: Vec<String>,
        state: crate::domain::action_items::ActionState,
    },
    /// The incident is a drill: a practice run of a scenario, its events scripted.
    DrillStarted {
        paging: crate::domain::drills::DrillPaging,
        events: usize,
    },
    /// One event of a drill's script played, leaving evidence unless it is a note.
    DrillEventPlayed {
        event_kind: crate::domain::drills::DrillEventKind,
        text: String,
        evidence_id: Option<i64>,
    },
}

impl EntryData {
    /// The `kind` tag, as stored in its own column for filtering.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Declared { .. } => "declared",
            Self::StatusChanged { .. } => "status_changed",
            Self::SeverityChanged { .. } => "severity_changed",
            Self::TitleChanged { .. } => "title_changed",
            Self::SummaryChanged { .. } => "summary_changed",
            Self::RoleAssigned { .. } => "role_assigned",
            Self::ParticipantAdded { .. } => "participant_added",
            Self::Note { .. } => "note",
            Self::EscalationStarted { .. } => "escalation_started",
            Self::Paged { .. } => "paged",
            Self::LevelSkipped { .. } => "level_skipped",
            Self::EscalationExhausted { .. } => "escalation_exhausted",
            Self::Acknowledged { .. } => "acknowledged",
            Self::SentAfterStop { .. } => "sent_after_stop",
            Self::Engaged { .. } => "engaged",
            Self::TeamAssembled { .. } => "team_assembled",
            Self::AlertTriggered { .. } => "alert_triggered",
            Self::EvidenceAdded { .. } => "evidence_added",
            Self::EvidencePinned { .. } => "evidence_pinned",
            Self::EvidenceEdited { .. } => "evidence_edited",
            Self::EvidenceRemoved { .. } => "evidence_removed",
            Self::UpdatePublished { .. } => "update_published",
            Self::UpdateCorrected { .. } => "update_corrected",
            Self::CadenceKept { .. } => "cadence_kept",
            Self::CadenceMissed { .. } => "cadence_missed",
            Self::UpdateOverdue { .. } => "update_overdue",
            Self::UpdateReminderSnoozed { .. } => "update_reminder_snoozed",
            Self::AttachmentAdded { .. } => "attachment_added",
            Self::AttachmentRemoved { .. } => "attachment_removed",
            Self::HypothesisProposed { .. } => "hypothesis_proposed",
            Self::HypothesisEdited { .. } => "hypothesis_edited",
            Self::HypothesisStateChanged { .. } => "hypothesis_state_changed",
            Self::HypothesisTested { .. } => "hypothesis_tested",
            Self::ResponseChangeRecorded { .. } => "response_change_recorded",
            Self::ResponseChangeRolledBack { .. } => "response_change_rolled_back",
            Self::ActedWithoutFinding { .. } => "acted_without_finding",
            Self::TaskAdded { .. } => "task_added",
            Self::TaskEdited { .. } => "task_edited",
            Self::TaskAssigned { .. } => "task_assigned",
            Self::TaskStatusChanged { .. } => "task_status_changed",
            Self::TaskCheckedIn { .. } => "task_checked_in",
            Self::CheckInOverdue { .. } => "check_in_overdue",
            Self::DetectionMoved { .. } => "detection_moved",
            Self::ReviewPublished { .. } => "review_published",
            Self::ActionItemAdded { .. } => "action_item_added",
            Self::PlaybookApplied { .. } => "playbook_applied",
            Self::ChecklistStepChecked { .. } => "checklist_step_checked",
            Self::ActionItemChanged { .. } => "action_item_changed",
            Self::DrillStarted { .. } => "drill_started",
            Self::DrillEventPlayed { .. } => "drill_event_played",
        }
    }

    /// Whether the entry records a change made to the incident itself (its fields, roles,
    /// people or notes), as opposed to paging and alerts around it.
    pub fn changes_incident(&self) -> bool {
        matches!(
            self,
            Self::Declared { .. }
                | Self::StatusChanged { .. }
                | Self::SeverityChanged { .. }
                | Self::TitleChanged { .. }
                | Self::SummaryChanged { .. }
                | Self::RoleAssigned { .. }
                | Self::ParticipantAdded { .. }
                | Self::Note { .. }
                | Self::Engaged { .. }
        )
    }

    /// One plain sentence for people, used by the web UI and the CLI alike.
    pub fn describe(&self) -> String {
        match self {
            Self::Declared {
                title,
                severity,
                incident_type,
                private,
                services,
            } => {
                let mut s =
                    format!("Declared {severity} {incident_type} incident \u{201c}{title}\u{201d}");
                if !services.is_empty() {
                    s.push_str(&format!(" affecting {}", services.join(", ")));
                }
                if *private {
                    s.push_str(" (private)");
                }
                s
            }
            Self::StatusChanged { from, to, reason } => match reason {
                Some(r) => format!("Status changed from {from} to {to}: {r}"),
                None => format!("Status changed from {from} to {to}"),
            },
            Self::SeverityChanged { from, to } => format!("Severity changed from {from} to {to}"),
            Self::TitleChanged { to, .. } => format!("Title changed to \u{201c}{to}\u{201d}"),
            Self::SummaryChanged { .. } => "Summary updated".to_string(),
            Self::RoleAssigned {
                role,
                user,
                previous,
                note,
            } => {
                let assigned = match previous {
                    Some(p) => format!("{} handed from {p} to {user}", role.label()),
                    None => format!("{user} is {}", role.label().to_lowercase()),
                };
                match note {
                    Some(note) => format!("{assigned}: {note}"),
                    None => assigned,
                }
            }
            Self::ParticipantAdded { user } => format!("{user} joined"),
            Self::Note { text } => text.clone(),
            Self::EscalationStarted { policy } => format!("Escalation policy {policy} started"),
            Self::Paged {
                user,
                policy,
                level,
                round,
            } => {
                let repeat = if *round > 0 {
                    format!(", repeat {round}")
                } else {
                    String::new()
                };
                format!("Paged {user} (level {}{repeat} of {policy})", level + 1)
            }
            Self::LevelSkipped {
                policy,
                level,
                reason,
            } => {
                format!("Skipped level {} of {policy}: {reason}", level + 1)
            }
            Self::EscalationExhausted { policy } => {
                format!("Escalation policy {policy} ran out of levels without an acknowledgement")
            }
            Self::Acknowledged { user } => format!("{user} acknowledged"),
            Self::SentAfterStop {
                user,
                channel,
                stopped_by,
            } => format!(
                "The {channel} page to {user} was already on its way and arrived after {}",
                stopped_by.label()
            ),
            Self::Engaged {
                user,
                rule,
                engaged_as,
            } => match engaged_as {
                Some(role) => format!("{user} engaged as {role} by rule \u{201c}{rule}\u{201d}"),
                None => format!("{user} engaged by rule \u{201c}{rule}\u{201d}"),
            },
            Self::TeamAssembled {
                seconds_since_declared,
            } => {
                format!(
                    "Team assembled {} after declaration",
                    human_duration(*seconds_since_declared)
                )
            }
            Self::AlertTriggered {
                summary, severity, ..
            } => format!("Alert ({severity}): {summary}"),
            Self::EvidenceAdded {
                evidence_kind,
                summary,
                ..
            } => format!("Evidence ({evidence_kind}): {summary}"),
            Self::EvidencePinned {
                summary, pinned, ..
            } => match pinned {
                true => format!("Evidence pinned: {summary}"),
                false => format!("Evidence unpinned: {summary}"),
            },
            Self::EvidenceEdited { summary, .. } => format!("Evidence edited: {summary}"),
            Self::EvidenceRemoved { summary, .. } => format!("Evidence removed: {summary}"),
            Self::UpdatePublished {
                phase,
                audiences,
                text,
                ..
            } => {
                let to: Vec<&str> = audiences.iter().map(|a| a.as_str()).collect();
                let first = text.lines().next().unwrap_or_default();
                format!("Update published ({phase}, to {}): {first}", to.join(", "))
            }
            Self::UpdateCorrected { update_id, text } => {
                let first = text.lines().next().unwrap_or_default();
                format!("Update {update_id} corrected: {first}")
            }
            Self::CadenceKept { first, due_at } => {
                format!("{} on time (due {})", which(*first), clock(*due_at))
            }
            Self::CadenceMissed {
                first,
                due_at,
                late_seconds,
            } => format!(
                "{} {} late (due {})",
                which(*first),
                human_duration(*late_seconds),
                clock(*due_at)
            ),
            Self::UpdateOverdue {
                first,
                due_at,
                reminded,
                unreachable,
            } => {
                let what = format!("{} overdue (due {})", which(*first), clock(*due_at));
                match (reminded, unreachable) {
                    (None, _) => format!("{what}; no communications or incident lead to remind"),
                    (Some(who), false) => format!("{what}; {who} reminded"),
                    (Some(who), true) => {
                        format!("{what}; {who} has no contact method to be reminded through")
                    }
                }
            }
            Self::UpdateReminderSnoozed { until } => {
                format!("Update reminder snoozed until {}", clock(*until))
            }
            Self::AttachmentAdded {
                evidence_id,
                name,
                size,
                ..
            } => format!(
                "File attached to evidence {evidence_id}: {name} ({})",
                readable_size(*size)
            ),
            Self::AttachmentRemoved {
                evidence_id, name, ..
            } => format!("File removed from evidence {evidence_id}: {name}"),
            Self::HypothesisProposed {
                hypothesis_id,
                statement,
            } => format!("Hypothesis H{hypothesis_id}: {statement}"),
            Self::HypothesisEdited {
                hypothesis_id,
                statement,
            } => format!("Hypothesis H{hypothesis_id} edited: {statement}"),
            Self::HypothesisStateChanged {
                hypothesis_id,
                statement,
                to,
                ..
            } => match to {
                HypothesisState::Supported => {
                    format!("Finding: hypothesis H{hypothesis_id} supported: {statement}")
                }
                HypothesisState::Refuted => {
                    format!("Hypothesis H{hypothesis_id} refuted: {statement}")
                }
                HypothesisState::Testing => {
                    format!("Testing hypothesis H{hypothesis_id}: {statement}")
                }
                HypothesisState::Open => {
                    format!("Hypothesis H{hypothesis_id} reopened: {statement}")
                }
            },
            Self::HypothesisTested {
                hypothesis_id,
                description,
                result,
                ..
            } => format!("Test of H{hypothesis_id}: {description} \u{2192} {result}"),
            Self::ResponseChangeRecorded {
                system,
                description,
                reference,
                ..
            } => match reference {
                Some(r) => format!("Change to {system}: {description} ({r})"),
                None => format!("Change to {system}: {description}"),
            },
            Self::ResponseChangeRolledBack {
                system,
                description,
                ..
            } => format!("Change to {system} rolled back: {description}"),
            Self::ActedWithoutFinding { action, reason } => {
                format!("Acted without a finding ({action}): {reason}")
            }
            Self::TaskAdded {
                title,
                skill,
                assignee,
                ..
            } => {
                let mut s = match skill {
                    Some(skill) => format!("Task ({skill}): {title}"),
                    None => format!("Task: {title}"),
                };
                if let Some(assignee) = assignee {
                    s.push_str(&format!(", for {assignee}"));
                }
                s
            }
            Self::TaskEdited { title, .. } => format!("Task edited: {title}"),
            Self::TaskAssigned {
                title, assignee, ..
            } => match assignee {
                Some(a) => format!("Task for {a}: {title}"),
                None => format!("Task unassigned: {title}"),
            },
            Self::TaskStatusChanged { title, to, .. } => format!("Task {to}: {title}"),
            Self::TaskCheckedIn {
                title, user, note, ..
            } => format!("{user} checked in on {title}: {note}"),
            Self::CheckInOverdue {
                title,
                assignee,
                unreachable: false,
                ..
            } => format!("Check-in overdue on {title}; {assignee} reminded"),
            Self::CheckInOverdue {
                title, assignee, ..
            } => format!(
                "Check-in overdue on {title}; {assignee} has no contact method to be reminded through"
            ),
            Self::DetectionMoved {
                detected_at,
                reason,
            } => format!("Detection time set to {detected_at}: {reason}"),
            Self::ReviewPublished { by } => format!("Review published by {by}"),
            Self::ActionItemAdded {
                title,
                owner,
                due_at,
                ..
            } => {
                let mut s = format!("Action item: {title}");
                if let Some(owner) = owner {
                    s.push_str(&format!(", for {owner}"));
                }
                if let Some(due) = due_at {
                    s.push_str(&format!(", due {}", due.strftime("%Y-%m-%d %H:%M UTC")));
                }
                s
            }
            Self::PlaybookApplied {
                playbook_id,
                version,
                steps,
            } => format!(
                "Playbook {playbook_id} version {version} applied: {steps} checklist step(s)"
            ),
            Self::ChecklistStepChecked {
                step,
                text,
                checked: true,
            } => format!("Checklist step {step} done: {text}"),
            Self::ChecklistStepChecked { step, text, .. } => {
                format!("Checklist step {step} unchecked: {text}")
            }
            Self::ActionItemChanged {
                title,
                changed,
                state,
                ..
            } => format!("Action item {state} ({}): {title}", changed.join(", ")),
            Self::DrillStarted { paging, events } => {
                format!(
                    "Drill started: {events} scripted event(s); {}",
                    paging.describe()
                )
            }
            Self::DrillEventPlayed {
                event_kind, text, ..
            } => format!("Drill: {} \u{2014} {text}", event_kind.label()),
        }
    }
}

/// "First update" or "Update", for the cadence's entries.
fn which(first: bool) -> &'static str {
    if first { "First update" } else { "Update" }
}

/// "14:05 UTC": the time of day an entry speaks of (its own date is beside it).
pub(super) fn clock(at: jiff::Timestamp) -> String {
    at.strftime("%H:%M UTC").to_string()
}

/// "4 min 5 s", "1 h 2 min": durations as people say them.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec} s"),
        (0, min, sec) => format!("{min} min {sec} s"),
        (h, min, _) => format!("{h} h {min} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_their_stored_json() {
        let entry = EntryData::StatusChanged {
            from: Status::Resolved,
            to: Status::Investigating,
            reason: Some("it came back".into()),
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert!(json.contains(r#""kind":"status_changed""#));
        assert_eq!(serde_json::from_str::<EntryData>(&json).unwrap(), entry);
        assert_eq!(
            entry.describe(),
            "Status changed from resolved to investigating: it came back"
        );
    }

    #[test]
    fn role_entries_read_naturally() {
        let first = EntryData::RoleAssigned {
            role: RoleKind::Scribe,
            user: "carol".into(),
            previous: None,
            note: None,
        };
        assert_eq!(first.describe(), "carol is scribe");
        // Entries stored before hand-off notes existed still read.
        let stored = r#"{"kind":"role_assigned","role":"scribe","user":"carol","previous":null}"#;
        assert_eq!(serde_json::from_str::<EntryData>(stored).unwrap(), first);
        assert_eq!(first.kind(), "role_assigned");
    }

    #[test]
    fn paging_entries_count_levels_from_one() {
        let paged = EntryData::Paged {
            user: "bob".into(),
            policy: "checkout".into(),
            level: 1,
            round: 0,
        };
        assert_eq!(paged.describe(), "Paged bob (level 2 of checkout)");
        let assembled = EntryData::TeamAssembled {
            seconds_since_declared: 245,
        };
        assert_eq!(
            assembled.describe(),
            "Team assembled 4 min 5 s after declaration"
        );
    }
}
