//! Coordinating the response: every change a responder makes to production (a rollback, a
//! config push, a failover) is recorded like any versioned change, with its reference, its
//! reason, the hypothesis it acts on and how to undo it.

use super::investigation::{FindingAction, act_on_finding, one_line, optional_text};
use super::timeline::EntryData;
use super::{FieldError, RuleError, bounded_text};

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
            system: one_line("system", raw.system, 200)?,
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
