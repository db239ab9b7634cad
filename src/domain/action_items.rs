//! Action items: what a review decides to change so the next incident goes better, each with
//! an owner, a due date and a priority, tracked to done (or to a decision not to do it, with
//! the reason), and reminded of before and after it is due.

use jiff::{SignedDuration, Timestamp};

use super::review::Practice;
use super::{FieldError, RuleError, optional_text};
use crate::domain::coordination::task_title;

closed_set! {
    /// Where an action item stands.
    pub enum ActionState for "state" {
        Open = "open",
        InProgress = "in_progress",
        Done = "done",
        WontDo = "wont_do",
    }
}

impl ActionState {
    /// Whether the item is still to be done: only then is it reminded of.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Open | Self::InProgress)
    }
}

closed_set! {
    /// How much an action item matters against the team's other work.
    pub enum Priority for "priority" {
        High = "high",
        Medium = "medium",
        Low = "low",
    }
}

/// The longest reason for not doing an item.
pub const MAX_WONT_DO_REASON: usize = 500;

/// How long before its due time an item's owner is first reminded of it.
pub const REMIND_BEFORE: SignedDuration = SignedDuration::from_hours(24);
/// How often an overdue item's owner is reminded of it while it stays open.
pub const REMIND_OVERDUE_EVERY: SignedDuration = SignedDuration::from_hours(24);

/// An action item as the review gives it, checked. The owner and team are names the caller
/// resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionItemInput {
    pub title: String,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub due_at: Option<Timestamp>,
    pub priority: Priority,
    pub section: Option<Practice>,
}

/// The raw fields of a new action item.
#[derive(Debug, Clone, Default)]
pub struct RawActionItem<'a> {
    pub title: &'a str,
    pub owner: Option<&'a str>,
    pub team: Option<&'a str>,
    pub due_at: Option<Timestamp>,
    pub priority: Option<&'a str>,
    pub section: Option<&'a str>,
}

impl ActionItemInput {
    pub fn parse(raw: RawActionItem<'_>) -> Result<Self, FieldError> {
        Ok(Self {
            title: task_title(raw.title)?,
            owner: name(raw.owner),
            team: name(raw.team),
            due_at: raw.due_at,
            priority: raw.priority.map_or(Ok(Priority::Medium), str::parse)?,
            section: raw.section.map(str::parse).transpose()?,
        })
    }
}

fn name(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// A move to `to` from `from`: any move but to where it already is; `wont_do` needs the
/// reason it will not be done, which no other state takes.
pub fn check_move(
    from: ActionState,
    to: ActionState,
    reason: Option<&str>,
) -> Result<Option<String>, ActionError> {
    if from == to {
        return Err(ActionError::Rule(RuleError::Conflict(format!(
            "the action item is already {to}"
        ))));
    }
    let reason = optional_text("reason", reason, MAX_WONT_DO_REASON)?;
    match (to, reason) {
        (ActionState::WontDo, None) => Err(FieldError::new(
            "reason",
            "is required to decide an action item will not be done",
        )
        .into()),
        (ActionState::WontDo, Some(reason)) => Ok(Some(reason)),
        (_, None) => Ok(None),
        (_, Some(_)) => {
            Err(FieldError::new("reason", "is only accepted with the state wont_do").into())
        }
    }
}

/// A refused move: a field's fault, or a rule's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    Field(FieldError),
    Rule(RuleError),
}

impl From<FieldError> for ActionError {
    fn from(e: FieldError) -> Self {
        Self::Field(e)
    }
}

/// When the owner of an item due at `due` is next reminded, after `after`: a day before it is
/// due, when it falls due, then once a day while it stays overdue. Only an active item with an
/// owner and a due time is reminded of.
pub fn next_reminder(
    state: ActionState,
    owned: bool,
    due: Option<Timestamp>,
    after: Timestamp,
) -> Option<Timestamp> {
    let due = due.filter(|_| owned && state.is_active())?;
    let before = due - REMIND_BEFORE;
    if after < before {
        return Some(before);
    }
    if after < due {
        return Some(due);
    }
    // The first overdue reminder strictly after `after`.
    let late = after.duration_since(due).as_secs();
    let every = REMIND_OVERDUE_EVERY.as_secs();
    Some(due + SignedDuration::from_secs((late / every + 1) * every))
}

/// Whether an item due at `due` is overdue at `now`.
pub fn is_overdue(state: ActionState, due: Option<Timestamp>, now: Timestamp) -> bool {
    state.is_active() && due.is_some_and(|d| d <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("time")
    }

    #[test]
    fn reminders_come_a_day_before_at_the_due_time_then_daily() {
        let due = Some(at("2026-03-10T12:00:00Z"));
        let open = ActionState::Open;
        let next = |after| next_reminder(open, true, due, at(after));
        assert_eq!(
            next("2026-03-01T00:00:00Z"),
            Some(at("2026-03-09T12:00:00Z"))
        );
        assert_eq!(
            next("2026-03-09T12:00:00Z"),
            Some(at("2026-03-10T12:00:00Z"))
        );
        assert_eq!(
            next("2026-03-10T11:59:59Z"),
            Some(at("2026-03-10T12:00:00Z"))
        );
        assert_eq!(
            next("2026-03-10T12:00:00Z"),
            Some(at("2026-03-11T12:00:00Z"))
        );
        assert_eq!(
            next("2026-03-13T08:00:00Z"),
            Some(at("2026-03-13T12:00:00Z"))
        );
    }

    #[test]
    fn only_an_active_owned_item_with_a_due_time_is_reminded_of() {
        let due = Some(at("2026-03-10T12:00:00Z"));
        let now = at("2026-03-01T00:00:00Z");
        assert_eq!(next_reminder(ActionState::Done, true, due, now), None);
        assert_eq!(next_reminder(ActionState::WontDo, true, due, now), None);
        assert_eq!(next_reminder(ActionState::Open, false, due, now), None);
        assert_eq!(
            next_reminder(ActionState::InProgress, true, None, now),
            None
        );
        assert!(next_reminder(ActionState::InProgress, true, due, now).is_some());
    }

    #[test]
    fn wont_do_needs_a_reason_and_nothing_else_takes_one() {
        use ActionState::*;
        assert_eq!(
            check_move(Open, WontDo, Some(" replaced by the new failover ")),
            Ok(Some("replaced by the new failover".into()))
        );
        assert!(matches!(
            check_move(Open, WontDo, None),
            Err(ActionError::Field(e)) if e.field == "reason"
        ));
        assert!(matches!(
            check_move(Open, Done, Some("because")),
            Err(ActionError::Field(e)) if e.field == "reason"
        ));
        assert!(matches!(
            check_move(Done, Done, None),
            Err(ActionError::Rule(RuleError::Conflict(_)))
        ));
        assert_eq!(check_move(Done, Open, None), Ok(None));
    }

    #[test]
    fn an_item_parses_with_a_medium_priority_by_default() {
        let item = ActionItemInput::parse(RawActionItem {
            title: " Alert on replication lag ",
            owner: Some(" olga "),
            section: Some("prevention"),
            ..RawActionItem::default()
        })
        .expect("valid");
        assert_eq!(item.title, "Alert on replication lag");
        assert_eq!(item.owner.as_deref(), Some("olga"));
        assert_eq!(item.priority, Priority::Medium);
        assert_eq!(item.section, Some(Practice::Prevention));
        let bad = ActionItemInput::parse(RawActionItem {
            title: "x",
            priority: Some("urgent"),
            ..RawActionItem::default()
        });
        assert!(matches!(bad, Err(e) if e.field == "priority"));
        let bad = ActionItemInput::parse(RawActionItem {
            title: "",
            ..RawActionItem::default()
        });
        assert!(matches!(bad, Err(e) if e.field == "title"));
    }

    #[test]
    fn overdue_is_an_active_item_past_its_due_time() {
        let due = Some(at("2026-03-10T12:00:00Z"));
        let later = at("2026-03-10T12:00:00Z");
        assert!(is_overdue(ActionState::Open, due, later));
        assert!(!is_overdue(ActionState::Done, due, later));
        assert!(!is_overdue(ActionState::Open, None, later));
        assert!(!is_overdue(
            ActionState::Open,
            due,
            at("2026-03-10T11:00:00Z")
        ));
    }
}
