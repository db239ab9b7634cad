//! Coordinating the response: tasks by domain with regular check-ins, so each person has a
//! clear job and the lead sees who has gone quiet; and every change a responder makes to
//! production (a rollback, a config push, a failover), recorded like any versioned change,
//! with its reference, its reason, the hypothesis it acts on and how to undo it.

use jiff::{SignedDuration, Timestamp};

use super::access::Actor;
use super::investigation::{FindingAction, act_on_finding};
use super::timeline::EntryData;
use super::{FieldError, RuleError, bounded_text};
use super::{line_text, one_line, optional_text};

closed_set! {
    /// Where a task stands.
    pub enum TaskStatus for "status" {
        Open = "open",
        InProgress = "in_progress",
        Done = "done",
        Cancelled = "cancelled",
    }
}

impl TaskStatus {
    /// Whether the task is still being worked on: only then are check-ins expected.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Open | Self::InProgress)
    }

    /// Any move but to where it already is: a finished task may be taken up again.
    pub fn check_move(self, to: Self) -> Result<(), RuleError> {
        if self == to {
            return Err(RuleError::Conflict(format!("the task is already {to}")));
        }
        Ok(())
    }
}

/// The longest check-in interval: a task quiet for more than a day is not being coordinated.
pub const MAX_CHECK_IN_MINUTES: u32 = 24 * 60;

/// A task as the lead gives it, checked. The assignee is a username the caller resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInput {
    pub title: String,
    pub skill: Option<String>,
    pub assignee: Option<String>,
    pub check_in_minutes: Option<u32>,
}

/// The raw fields of a task.
#[derive(Debug, Clone, Default)]
pub struct RawTask<'a> {
    pub title: &'a str,
    pub skill: Option<&'a str>,
    pub assignee: Option<&'a str>,
    pub check_in_minutes: Option<i64>,
}

impl TaskInput {
    pub fn parse(raw: RawTask<'_>) -> Result<Self, FieldError> {
        Ok(Self {
            title: task_title(raw.title)?,
            skill: optional_skill(raw.skill)?,
            assignee: raw
                .assignee
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            check_in_minutes: check_in_minutes(raw.check_in_minutes)?,
        })
    }
}

/// What is to be done, on one line ("check the edge routers' BGP sessions").
pub fn task_title(raw: &str) -> Result<String, FieldError> {
    one_line("title", raw, MAX_TASK_TITLE)
}

/// The longest task title (and name of a system a change touched).
pub const MAX_TASK_TITLE: usize = 200;
/// The longest skill.
pub const MAX_SKILL: usize = 40;

/// A domain of expertise (network, database, …), lowercase as responders' skills are.
pub fn skill(field: &'static str, raw: &str) -> Result<String, FieldError> {
    Ok(one_line(field, raw, MAX_SKILL)?.to_lowercase())
}

/// A task's skill; empty counts as none.
pub fn optional_skill(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let skill = raw
        .map(|raw| line_text("skill", raw, 0, MAX_SKILL))
        .transpose()?;
    Ok(skill.filter(|s| !s.is_empty()).map(|s| s.to_lowercase()))
}

/// How often the assignee reports progress; none (or 0) means no check-ins are expected.
pub fn check_in_minutes(raw: Option<i64>) -> Result<Option<u32>, FieldError> {
    match raw {
        None | Some(0) => Ok(None),
        Some(m) if (1..=i64::from(MAX_CHECK_IN_MINUTES)).contains(&m) => Ok(u32::try_from(m).ok()),
        Some(_) => Err(FieldError::new(
            "check_in_minutes",
            format!("must be between 1 and {MAX_CHECK_IN_MINUTES} (a day), or 0 for none"),
        )),
    }
}

/// The check-in rhythm of a task: what decides whether and when its next check-in is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub status: TaskStatus,
    pub assigned: bool,
    pub check_in_minutes: Option<u32>,
    /// A resolved incident's tasks expect no check-ins.
    pub incident_active: bool,
}

impl Cadence {
    /// When the next check-in is due, counting from `since` (the last check-in, or when the
    /// rhythm last changed): only an active, assigned task with an interval, of an incident
    /// still open, expects one.
    pub fn due_after(self, since: Timestamp) -> Option<Timestamp> {
        let minutes = self.check_in_minutes?;
        (self.incident_active && self.status.is_active() && self.assigned)
            .then(|| since + SignedDuration::from_mins(i64::from(minutes)))
    }

    /// When an overdue check-in, just reminded of at `now`, is reminded of again: once per
    /// interval while it stays overdue.
    pub fn remind_again(self, now: Timestamp) -> Option<Timestamp> {
        self.due_after(now)
    }
}

/// Who answers for a task's rhythm: checking in on it, reassigning it, changing its interval
/// or its status (each of which stops or moves its reminders). Its assignee, the incident lead
/// (who may relay a check-in or hand the task on) or an admin, so a reminder is stopped only by
/// someone answerable for the task; while nobody is assigned, anyone who can act.
pub fn answers_for_task(actor: &Actor, assignee: Option<i64>, lead: Option<i64>) -> bool {
    actor.can_act()
        && (actor.is_admin() || assignee.is_none_or(|a| a == actor.id) || lead == Some(actor.id))
}

/// Whether a check-in due at `due` is overdue at `now`.
pub fn is_overdue(due: Option<Timestamp>, now: Timestamp) -> bool {
    due.is_some_and(|due| due <= now)
}

closed_set! {
    /// Where a response change stands.
    pub enum ChangeState for "state" {
        Applied = "applied",
        RolledBack = "rolled_back",
    }
}

impl ChangeState {
    /// A change is applied, then perhaps rolled back; a rollback is undone by a new change.
    pub fn check_move(self, to: Self) -> Result<(), RuleError> {
        match (self, to) {
            (Self::Applied, Self::RolledBack) => Ok(()),
            (from, to) if from == to => {
                Err(RuleError::Conflict(format!("the change is already {to}")))
            }
            _ => Err(FieldError::new(
                "state",
                "a rolled-back change stays rolled back: record the change again to reapply it",
            )
            .into()),
        }
    }
}

/// A response change as a responder records it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInput {
    pub system: String,
    pub description: String,
    /// A commit, a pull or merge request, or any URL.
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub hypothesis_id: Option<i64>,
    pub rollback: Option<String>,
}

/// The raw fields of a response change.
#[derive(Debug, Clone, Default)]
pub struct RawChange<'a> {
    pub system: &'a str,
    pub description: &'a str,
    pub reference: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub hypothesis_id: Option<i64>,
    pub rollback: Option<&'a str>,
}

impl ChangeInput {
    pub fn parse(raw: RawChange<'_>) -> Result<Self, FieldError> {
        Ok(Self {
            system: one_line("system", raw.system, MAX_TASK_TITLE)?,
            description: bounded_text("description", raw.description, 1, 2000)?,
            reference: optional_text("reference", raw.reference, 2000)?,
            reason: optional_text("reason", raw.reason, 2000)?,
            hypothesis_id: raw.hypothesis_id,
            rollback: optional_text("rollback", raw.rollback, 2000)?,
        })
    }

    /// Changing production rests on a finding, or on a stated reason for acting without one.
    pub fn check_finding(&self, findings: u32) -> Result<Option<EntryData>, FieldError> {
        act_on_finding(findings, FindingAction::Change, self.reason.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::UserRole;

    #[test]
    fn a_check_in_comes_from_whoever_answers_for_the_task() {
        let actor = |id, role| Actor {
            id,
            username: format!("u{id}"),
            display_name: String::new(),
            role,
        };
        let (assignee, lead, other) = (
            actor(1, UserRole::Responder),
            actor(2, UserRole::Responder),
            actor(3, UserRole::Responder),
        );
        assert!(answers_for_task(&assignee, Some(1), Some(2)));
        assert!(answers_for_task(&lead, Some(1), Some(2)));
        assert!(!answers_for_task(&other, Some(1), Some(2)));
        assert!(answers_for_task(&actor(4, UserRole::Admin), Some(1), None));
        assert!(answers_for_task(&other, None, Some(2)));
        assert!(!answers_for_task(&actor(5, UserRole::Viewer), None, None));
    }

    fn raw() -> RawChange<'static> {
        RawChange {
            system: "edge-proxy",
            description: "Rolled the upstream timeout back to 30 s",
            reference: Some("https://git.example/edge/pull/812"),
            ..RawChange::default()
        }
    }

    #[test]
    fn a_change_names_its_system_and_what_it_did() {
        let change = ChangeInput::parse(raw()).unwrap();
        assert_eq!(
            change.reference.as_deref(),
            Some("https://git.example/edge/pull/812")
        );
        let field = |r: RawChange<'_>| ChangeInput::parse(r).unwrap_err().field;
        assert_eq!(
            field(RawChange {
                system: " ",
                ..raw()
            }),
            "system"
        );
        assert_eq!(
            field(RawChange {
                description: "",
                ..raw()
            }),
            "description"
        );
        let long = "x".repeat(2001);
        assert_eq!(
            field(RawChange {
                rollback: Some(&long),
                ..raw()
            }),
            "rollback"
        );
    }

    #[test]
    fn changing_production_needs_a_finding_or_a_reason() {
        let change = ChangeInput::parse(raw()).unwrap();
        assert_eq!(change.check_finding(0).unwrap_err().field, "reason");
        assert_eq!(change.check_finding(1), Ok(None));
        let urgent = ChangeInput::parse(RawChange {
            reason: Some("orders are failing"),
            ..raw()
        })
        .unwrap();
        assert!(matches!(
            urgent.check_finding(0),
            Ok(Some(EntryData::ActedWithoutFinding { .. }))
        ));
    }

    #[test]
    fn a_task_names_its_job_and_its_check_in_interval() {
        let task = TaskInput::parse(RawTask {
            title: "Check the edge routers' BGP sessions",
            skill: Some(" Network "),
            assignee: Some("olga"),
            check_in_minutes: Some(15),
        })
        .unwrap();
        assert_eq!(task.skill.as_deref(), Some("network"));
        assert_eq!(task.check_in_minutes, Some(15));
        let field = |r: RawTask<'_>| TaskInput::parse(r).unwrap_err().field;
        assert_eq!(field(RawTask::default()), "title");
        for minutes in [-5, 1441] {
            let raw = RawTask {
                title: "x",
                check_in_minutes: Some(minutes),
                ..RawTask::default()
            };
            assert_eq!(field(raw), "check_in_minutes", "{minutes}");
        }
        let blank = TaskInput::parse(RawTask {
            title: "x",
            skill: Some(""),
            assignee: Some(" "),
            ..RawTask::default()
        })
        .unwrap();
        assert_eq!((blank.skill, blank.assignee), (None, None));
    }

    #[test]
    fn only_an_active_assigned_task_with_an_interval_expects_check_ins() {
        let at: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        let working = Cadence {
            status: TaskStatus::InProgress,
            assigned: true,
            check_in_minutes: Some(15),
            incident_active: true,
        };
        let due = working.due_after(at).unwrap();
        assert_eq!(due, at + SignedDuration::from_mins(15));
        assert!(!is_overdue(Some(due), at));
        assert!(is_overdue(Some(due), due));
        assert_eq!(
            working.remind_again(due),
            Some(due + SignedDuration::from_mins(15))
        );
        for quiet in [
            Cadence {
                status: TaskStatus::Done,
                ..working
            },
            Cadence {
                status: TaskStatus::Cancelled,
                ..working
            },
            Cadence {
                assigned: false,
                ..working
            },
            Cadence {
                check_in_minutes: None,
                ..working
            },
            Cadence {
                incident_active: false,
                ..working
            },
        ] {
            assert_eq!(quiet.due_after(at), None, "{quiet:?}");
        }
        assert!(!is_overdue(None, at));
    }

    #[test]
    fn a_task_may_be_taken_up_again_but_not_moved_in_place() {
        assert!(TaskStatus::Done.check_move(TaskStatus::InProgress).is_ok());
        assert!(matches!(
            TaskStatus::Open.check_move(TaskStatus::Open),
            Err(RuleError::Conflict(_))
        ));
    }

    #[test]
    fn a_change_is_rolled_back_once() {
        assert!(
            ChangeState::Applied
                .check_move(ChangeState::RolledBack)
                .is_ok()
        );
        assert!(matches!(
            ChangeState::RolledBack.check_move(ChangeState::RolledBack),
            Err(RuleError::Conflict(_))
        ));
        assert!(matches!(
            ChangeState::RolledBack.check_move(ChangeState::Applied),
            Err(RuleError::Invalid(_))
        ));
    }
}
