//! Playbooks: what a team does for an incident of one type (and, if it says so, of one
//! service): checklist steps, the roles to fill, and guidance (engagement rules, where to look
//! first). Every change is a new version with its author and reason, so a review can read which
//! version an incident ran and what changed since; `diff` compares two versions line by line.

use super::incident::RoleKind;
use super::{FieldError, bounded_text, line_text};

/// The most steps a checklist holds.
pub const MAX_STEPS: usize = 50;
/// The longest step.
pub const MAX_STEP: usize = 200;
/// The longest guidance.
pub const MAX_GUIDANCE: usize = 5000;
/// The longest reason for a change.
pub const MAX_REASON: usize = 500;

/// One version's content, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookContent {
    pub steps: Vec<String>,
    pub roles: Vec<RoleKind>,
    pub guidance: String,
}

impl PlaybookContent {
    /// Blank steps are dropped; a role named twice counts once.
    pub fn parse(steps: &[String], roles: &[String], guidance: &str) -> Result<Self, FieldError> {
        let steps: Vec<String> = steps
            .iter()
            .map(|s| line_text("steps", s, 0, MAX_STEP))
            .filter(|s| !matches!(s, Ok(s) if s.is_empty()))
            .collect::<Result<_, _>>()?;
        if steps.is_empty() {
            return Err(FieldError::new("steps", "must name at least one step"));
        }
        if steps.len() > MAX_STEPS {
            return Err(FieldError::new(
                "steps",
                format!("may hold at most {MAX_STEPS} steps"),
            ));
        }
        let mut kinds = Vec::new();
        for role in roles {
            let kind: RoleKind = role
                .trim()
                .parse()
                .map_err(|_| FieldError::new("roles", format!("{role:?} is not a role")))?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(Self {
            steps,
            roles: kinds,
            guidance: bounded_text("guidance", guidance, 0, MAX_GUIDANCE)?,
        })
    }

    /// The version as lines of text, for a diff: one per step (unnumbered, so a step put in
    /// between shows as one line added, not as every later step renumbered), one for the
    /// roles, then the guidance's lines.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.steps.iter().map(|s| format!("step: {s}")).collect();
        let roles: Vec<&str> = self.roles.iter().map(|r| r.slug()).collect();
        lines.push(format!("roles: {}", roles.join(", ")));
        lines.extend(self.guidance.lines().map(|l| format!("guidance: {l}")));
        lines
    }
}

/// Why a change was made, required for every version after the first.
pub fn reason(raw: Option<&str>) -> Result<String, FieldError> {
    let raw = raw.ok_or_else(|| FieldError::new("reason", "is required to change a playbook"))?;
    bounded_text("reason", raw, 1, MAX_REASON)
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

/// The lines of `new` against those of `old`, by their longest common subsequence: what
/// stayed, what was removed and what was added, in reading order.
pub fn diff(old: &[String], new: &[String]) -> Vec<DiffLine> {
    let (n, m) = (old.len(), new.len());
    // common[i][j]: the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n.max(m));
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push(DiffLine::Same(old[i].clone()));
            i += 1;
            j += 1;
        } else if i < n && (j == m || common[i + 1][j] >= common[i][j + 1]) {
            // What went comes before what came in its place, as diffs read.
            out.push(DiffLine::Removed(old[i].clone()));
            i += 1;
        } else {
            out.push(DiffLine::Added(new[j].clone()));
            j += 1;
        }
    }
    out
}

/// Which playbook an incident of a type runs: one for one of its services (the first of them,
/// in the incident's order, that has one), else the type's own. `candidates` are the type's
/// playbooks with the service each is for (`None`: the whole type).
pub fn pick<'a, T>(candidates: &'a [(Option<i64>, T)], services: &[i64]) -> Option<&'a T> {
    services
        .iter()
        .find_map(|s| candidates.iter().find(|(c, _)| *c == Some(*s)))
        .or_else(|| candidates.iter().find(|(c, _)| c.is_none()))
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn content_parses_steps_roles_and_guidance() {
        let c = PlaybookContent::parse(
            &strings(&["Page the database team", "  ", "Check replication lag"]),
            &strings(&["scribe", "incident_lead", "scribe"]),
            "Look at the primary first.",
        )
        .expect("valid");
        assert_eq!(c.steps.len(), 2, "a blank step is dropped");
        assert_eq!(c.roles, [RoleKind::Scribe, RoleKind::IncidentLead]);
        assert_eq!(
            c.lines(),
            [
                "step: Page the database team",
                "step: Check replication lag",
                "roles: scribe, incident_lead",
                "guidance: Look at the primary first."
            ]
        );
        let field = |r: Result<PlaybookContent, FieldError>| r.expect_err("refused").field;
        assert_eq!(field(PlaybookContent::parse(&[], &[], "")), "steps");
        assert_eq!(
            field(PlaybookContent::parse(&strings(&["a\nb"]), &[], "")),
            "steps"
        );
        assert_eq!(
            field(PlaybookContent::parse(
                &strings(&["a"]),
                &strings(&["chef"]),
                ""
            )),
            "roles"
        );
        assert_eq!(reason(None).expect_err("refused").field, "reason");
    }

    #[test]
    fn a_diff_keeps_what_stayed_and_marks_what_moved() {
        let old = strings(&["a", "b", "c", "d"]);
        let new = strings(&["a", "c", "x", "d", "e"]);
        assert_eq!(
            diff(&old, &new),
            [
                DiffLine::Same("a".into()),
                DiffLine::Removed("b".into()),
                DiffLine::Same("c".into()),
                DiffLine::Added("x".into()),
                DiffLine::Same("d".into()),
                DiffLine::Added("e".into()),
            ]
        );
        assert_eq!(diff(&old, &old).len(), 4);
        assert!(
            diff(&[], &new)
                .iter()
                .all(|l| matches!(l, DiffLine::Added(_)))
        );
    }

    #[test]
    fn a_services_playbook_comes_before_the_types() {
        let candidates = [(None, "type"), (Some(7), "search"), (Some(3), "checkout")];
        assert_eq!(pick(&candidates, &[3, 7]), Some(&"checkout"));
        assert_eq!(pick(&candidates, &[9, 7]), Some(&"search"));
        assert_eq!(pick(&candidates, &[9]), Some(&"type"));
        assert_eq!(pick(&candidates[1..], &[9]), None);
    }
}
