//! Scheduled maintenance: a window announced ahead on the status page, during which its
//! components show under maintenance and alerts of their services page nobody. It moves
//! `scheduled → in_progress → completed` on its own at the set times; by hand it can be
//! cancelled before it starts or completed early.

use jiff::Timestamp;

use super::alert::MAX_SILENCE;
use super::{FieldError, bounded_text};

closed_set! {
    /// Where a maintenance stands, as readers have been told (Statuspage's maintenance
    /// statuses, and `cancelled`, which the page never shows).
    pub enum MaintenanceStatus for "status" {
        Scheduled = "scheduled",
        InProgress = "in_progress",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

impl MaintenanceStatus {
    /// Whether it is over, one way or the other.
    pub fn is_over(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Scheduled => "Scheduled",
            Self::InProgress => "In progress",
            Self::Completed => "Completed",
            Self::Cancelled => "Cancelled",
        }
    }
}

/// A maintenance window as its author describes it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenancePlan {
    pub title: String,
    /// Markdown, shown to readers.
    pub description: String,
    pub scheduled_for: Timestamp,
    pub scheduled_until: Timestamp,
}

impl MaintenancePlan {
    /// Checks a plan made at `now`: it ends after it starts and after now, and lasts at most
    /// `MAX_SILENCE`, as any silence. A start in the past means it is under way already.
    pub fn parse(
        title: &str,
        description: Option<&str>,
        scheduled_for: Timestamp,
        scheduled_until: Timestamp,
        now: Timestamp,
    ) -> Result<Self, FieldError> {
        let title = bounded_text("title", title, 1, 200)?;
        let description = bounded_text("description", description.unwrap_or(""), 0, 5000)?;
        if scheduled_until <= scheduled_for {
            return Err(FieldError::new(
                "scheduled_until",
                "must be after scheduled_for",
            ));
        }
        if scheduled_until <= now {
            return Err(FieldError::new(
                "scheduled_until",
                "must be in the future: a maintenance that has ended is not announced",
            ));
        }
        if scheduled_until.duration_since(scheduled_for) > MAX_SILENCE {
            return Err(FieldError::new(
                "scheduled_until",
                "a maintenance lasts at most 31 days",
            ));
        }
        Ok(Self {
            title,
            description,
            scheduled_for,
            scheduled_until,
        })
    }
}

/// The next status a maintenance in `status` moves to on its own by `now`, and when that
/// happened by its schedule: one step at a time, so readers hear of both the start and the
/// end even when both times passed while no instance ran.
pub fn due_step(
    status: MaintenanceStatus,
    scheduled_for: Timestamp,
    scheduled_until: Timestamp,
    now: Timestamp,
) -> Option<(MaintenanceStatus, Timestamp)> {
    match status {
        MaintenanceStatus::Scheduled if scheduled_for <= now => {
            Some((MaintenanceStatus::InProgress, scheduled_for))
        }
        MaintenanceStatus::InProgress if scheduled_until <= now => {
            Some((MaintenanceStatus::Completed, scheduled_until))
        }
        _ => None,
    }
}

/// Why a change by hand does not apply to a maintenance in `status`; `None` when it does.
pub fn refuse_change(status: MaintenanceStatus, to: MaintenanceStatus) -> Option<String> {
    use MaintenanceStatus::*;
    match (status, to) {
        (Scheduled, Cancelled) | (InProgress, Completed) => None,
        (Scheduled, Completed) => {
            Some("it has not started: cancel it instead of completing it".into())
        }
        (InProgress, Cancelled) => Some("it is under way: complete it instead".into()),
        (s, _) if s.is_over() => Some(format!("it is {s} already")),
        (_, to) => Some(format!(
            "a maintenance is set {to} only by its schedule; by hand it is cancelled or completed"
        )),
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_plan_is_checked() {
        let now = at("2026-03-02T10:00:00Z");
        let (from, until) = (at("2026-03-03T02:00:00Z"), at("2026-03-03T03:00:00Z"));
        let ok = MaintenancePlan::parse(" DB upgrade ", None, from, until, now).unwrap();
        assert_eq!(
            (ok.title.as_str(), ok.description.as_str()),
            ("DB upgrade", "")
        );
        let field = |r: Result<MaintenancePlan, FieldError>| r.unwrap_err().field;
        assert_eq!(
            field(MaintenancePlan::parse("", None, from, until, now)),
            "title"
        );
        assert_eq!(
            field(MaintenancePlan::parse("x", None, until, from, now)),
            "scheduled_until"
        );
        let past = at("2026-03-01T00:00:00Z");
        assert_eq!(
            field(MaintenancePlan::parse(
                "x",
                None,
                past - MAX_SILENCE,
                past,
                now
            )),
            "scheduled_until",
            "a window that has ended"
        );
        let long = from + MAX_SILENCE + SignedDuration::from_secs(1);
        assert_eq!(
            field(MaintenancePlan::parse("x", None, from, long, now)),
            "scheduled_until"
        );
        // Under way already: allowed, it starts at once.
        assert!(MaintenancePlan::parse("x", None, past, until, now).is_ok());
    }

    #[test]
    fn it_moves_on_one_step_at_a_time() {
        use MaintenanceStatus::*;
        let (from, until) = (at("2026-03-03T02:00:00Z"), at("2026-03-03T03:00:00Z"));
        assert_eq!(
            due_step(Scheduled, from, until, at("2026-03-03T01:59:59Z")),
            None
        );
        let late = at("2026-03-03T05:00:00Z");
        // Both times passed: it starts (at its set time) before it completes.
        assert_eq!(
            due_step(Scheduled, from, until, late),
            Some((InProgress, from))
        );
        assert_eq!(
            due_step(InProgress, from, until, late),
            Some((Completed, until))
        );
        assert_eq!(due_step(Completed, from, until, late), None);
        assert_eq!(due_step(Cancelled, from, until, late), None);
        assert!(refuse_change(Scheduled, Cancelled).is_none());
        assert!(refuse_change(InProgress, Completed).is_none());
        assert!(refuse_change(Scheduled, Completed).is_some());
        assert!(refuse_change(Completed, Cancelled).is_some());
        assert!(refuse_change(Scheduled, InProgress).is_some());
    }
}
