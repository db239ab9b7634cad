//! Escalation policies and engagement rules: who gets paged, in which order, and when an
//! incident pulls in more people.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::FieldError;
use super::incident::{RoleKind, Severity};
use super::schedule::ResponderId;

closed_set! {
    /// Why paging stopped: an incident's pending escalation steps end and its queued
    /// deliveries are cancelled (or a task's reminders, on a check-in or a new rhythm). A
    /// delivery already in flight at that moment may still go out; its record then says it was
    /// sent after the stop.
    pub enum PagingStop for "stopped_by" {
        Acknowledged = "acknowledged",
        Resolved = "resolved",
        /// A task's check-in stops the reminders about it.
        CheckedIn = "checked_in",
        /// So does a change of its rhythm: its status, assignee or interval.
        TaskChanged = "task_changed",
        /// An update counting toward the cadence stops the reminders that it is due.
        UpdatePosted = "update_posted",
        /// A change of an action item's owner, due time or state stops its queued reminder.
        ActionItemChanged = "action_item_changed",
    }
}

closed_set! {
    /// What a page asks of the person it reaches.
    pub enum PagePurpose for "purpose" {
        /// Acknowledge the incident (the page an escalation step sends).
        Page = "page",
        /// Report progress on a task whose check-in is overdue.
        CheckIn = "check_in",
        /// Post the status update that is overdue.
        UpdateDue = "update_due",
        /// Read a published status update (a stakeholder's subscription).
        StatusUpdate = "status_update",
        /// Do an action item a review decided on, due soon or overdue.
        ActionItem = "action_item",
    }
}

impl PagingStop {
    /// What stopped it, in words: "the acknowledgement".
    pub fn label(self) -> &'static str {
        match self {
            Self::Acknowledged => "the acknowledgement",
            Self::Resolved => "the resolution",
            Self::CheckedIn => "the check-in",
            Self::TaskChanged => "the task's change",
            Self::UpdatePosted => "the update",
            Self::ActionItemChanged => "the action item's change",
        }
    }
}

/// Someone to page: a responder directly, whoever is on call in a schedule, or a whole team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Target {
    Responder(ResponderId),
    Schedule(i64),
    Team(i64),
}

impl Target {
    /// The names of the kinds, as serialized in `type`.
    pub const KINDS: [&'static str; 3] = ["responder", "schedule", "team"];

    /// This target's kind (one of `KINDS`) and the id of whom it names.
    pub fn kind_and_id(self) -> (&'static str, i64) {
        match self {
            Self::Responder(id) => (Self::KINDS[0], id),
            Self::Schedule(id) => (Self::KINDS[1], id),
            Self::Team(id) => (Self::KINDS[2], id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// How long to wait for an acknowledgement before the next level.
    pub delay_minutes: u32,
    pub targets: Vec<Target>,
}

/// Ordered levels, run through `1 + repeat` times until someone acknowledges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    levels: Vec<Level>,
    repeat: u32,
}

/// A position in a policy: which pass over the levels, and which level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Step {
    pub round: u32,
    pub level: u32,
}

impl Policy {
    pub const MAX_REPEAT: u32 = 10;

    pub fn new(levels: Vec<Level>, repeat: u32) -> Result<Self, FieldError> {
        if levels.is_empty() {
            return Err(FieldError::new(
                "levels",
                "a policy needs at least one level",
            ));
        }
        for (i, level) in levels.iter().enumerate() {
            if level.targets.is_empty() {
                return Err(FieldError::new(
                    "levels",
                    format!("level {} has no targets", i + 1),
                ));
            }
            if !(1..=1440).contains(&level.delay_minutes) {
                return Err(FieldError::new(
                    "levels",
                    format!("level {}: delay_minutes must be 1 to 1440", i + 1),
                ));
            }
        }
        if repeat > Self::MAX_REPEAT {
            return Err(FieldError::new(
                "repeat",
                format!("must be at most {}", Self::MAX_REPEAT),
            ));
        }
        Ok(Self { levels, repeat })
    }

    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    pub fn repeat(&self) -> u32 {
        self.repeat
    }

    pub fn first(&self) -> Step {
        Step { round: 0, level: 0 }
    }

    pub fn level(&self, step: Step) -> Option<&Level> {
        self.levels.get(usize::try_from(step.level).ok()?)
    }

    /// The step after `step`, or `None` when the policy is exhausted.
    pub fn after(&self, step: Step) -> Option<Step> {
        let last_level = u32::try_from(self.levels.len()).ok()?.checked_sub(1)?;
        if step.level < last_level {
            return Some(Step {
                round: step.round,
                level: step.level + 1,
            });
        }
        (step.round < self.repeat).then_some(Step {
            round: step.round + 1,
            level: 0,
        })
    }

    /// How long `step` waits for an acknowledgement before escalating.
    pub fn wait_after(&self, step: Step) -> SignedDuration {
        let minutes = self.level(step).map_or(0, |l| l.delay_minutes);
        SignedDuration::from_mins(i64::from(minutes))
    }
}

/// A role an engagement rule fills: a response role, or domain expert by skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum EngagedAs {
    Role(RoleKind),
    DomainExpert(String),
}

/// What an engagement rule looks at. Each non-empty list must match (any one of its values);
/// empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incident_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severities: Vec<Severity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Facts about an incident that engagement rules match on.
#[derive(Debug, Clone)]
pub struct IncidentFacts<'a> {
    pub incident_type: &'a str,
    pub severity: Severity,
    pub services: &'a [String],
    pub tags: &'a [String],
}

/// "When an incident matches, engage this target, optionally into a role."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngagementRule {
    pub name: String,
    pub when: Conditions,
    pub engage: Target,
    pub engaged_as: Option<EngagedAs>,
}

impl EngagementRule {
    pub fn matches(&self, facts: &IncidentFacts<'_>) -> bool {
        let any = |wanted: &[String], have: &[String]| {
            wanted.is_empty() || wanted.iter().any(|w| have.contains(w))
        };
        (self.when.incident_types.is_empty()
            || self
                .when
                .incident_types
                .iter()
                .any(|t| t == facts.incident_type))
            && (self.when.severities.is_empty() || self.when.severities.contains(&facts.severity))
            && any(&self.when.services, facts.services)
            && any(&self.when.tags, facts.tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_kinds_are_the_names_serde_writes() {
        for target in [Target::Responder(1), Target::Schedule(2), Target::Team(3)] {
            let (kind, id) = target.kind_and_id();
            assert_eq!(
                serde_json::to_value(target).unwrap(),
                serde_json::json!({"type": kind, "id": id})
            );
        }
    }

    fn level(delay: u32) -> Level {
        Level {
            delay_minutes: delay,
            targets: vec![Target::Responder(1)],
        }
    }

    #[test]
    fn steps_run_through_the_levels_then_repeat_then_stop() {
        let policy = Policy::new(vec![level(5), level(10)], 1).unwrap();
        let mut steps = vec![policy.first()];
        while let Some(next) = policy.after(*steps.last().unwrap()) {
            steps.push(next);
        }
        let walked: Vec<(u32, u32)> = steps.iter().map(|s| (s.round, s.level)).collect();
        assert_eq!(walked, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        assert_eq!(policy.wait_after(steps[1]), SignedDuration::from_mins(10));
    }

    #[test]
    fn policies_without_levels_or_targets_are_refused() {
        assert_eq!(Policy::new(vec![], 0).unwrap_err().field, "levels");
        let empty = Level {
            delay_minutes: 5,
            targets: vec![],
        };
        assert!(
            Policy::new(vec![empty], 0)
                .unwrap_err()
                .message
                .contains("no targets")
        );
        assert!(Policy::new(vec![level(0)], 0).is_err());
        assert_eq!(Policy::new(vec![level(5)], 11).unwrap_err().field, "repeat");
    }

    #[test]
    fn engagement_rules_match_on_every_condition_they_name() {
        let rule = EngagementRule {
            name: "security on-call for breaches".into(),
            when: Conditions {
                incident_types: vec!["security".into()],
                severities: vec![Severity::Sev1, Severity::Sev2],
                ..Conditions::default()
            },
            engage: Target::Schedule(3),
            engaged_as: Some(EngagedAs::DomainExpert("security".into())),
        };
        let services = vec!["auth".to_string()];
        let facts = |incident_type, severity| IncidentFacts {
            incident_type,
            severity,
            services: &services,
            tags: &[],
        };
        assert!(rule.matches(&facts("security", Severity::Sev1)));
        assert!(!rule.matches(&facts("security", Severity::Sev3)));
        assert!(!rule.matches(&facts("outage", Severity::Sev1)));

        let by_service = EngagementRule {
            when: Conditions {
                services: vec!["auth".into(), "billing".into()],
                ..Conditions::default()
            },
            ..rule
        };
        assert!(by_service.matches(&facts("outage", Severity::Sev4)));
    }
}
