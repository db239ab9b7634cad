//! The incident: its vocabulary (severity, status, roles, type) and the rules for changing it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::investigation::{FindingAction, act_on_finding};
use super::timeline::EntryData;
use super::{FieldError, RuleError, bounded_text, one_line};

/// How bad it is: SEV1 is the most severe.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Severity {
    #[serde(rename = "SEV1")]
    Sev1,
    #[serde(rename = "SEV2")]
    Sev2,
    #[serde(rename = "SEV3")]
    Sev3,
    #[serde(rename = "SEV4")]
    Sev4,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Sev1, Self::Sev2, Self::Sev3, Self::Sev4];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sev1 => "SEV1",
            Self::Sev2 => "SEV2",
            Self::Sev3 => "SEV3",
            Self::Sev4 => "SEV4",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| FieldError::new("severity", "must be one of SEV1, SEV2, SEV3, SEV4"))
    }
}

/// Where the response stands. The order of the variants is the usual order of progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Triage,
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    /// Resolved, and its review published.
    Reviewed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Self::Triage,
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
        Self::Reviewed,
    ];
    /// The statuses a person may set: `reviewed` comes from publishing the review.
    pub const SETTABLE: [Status; 5] = [
        Self::Triage,
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triage => "triage",
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
            Self::Reviewed => "reviewed",
        }
    }

    pub fn is_active(self) -> bool {
        !matches!(self, Self::Resolved | Self::Reviewed)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                FieldError::new(
                    "status",
                    "must be one of triage, investigating, identified, monitoring, resolved, reviewed",
                )
            })
    }
}

/// Who opened an incident: a person declaring it, or an alert from monitoring. Resolving every
/// alert resolves only the incidents alerts opened, unless the service's rules ask for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Declared,
    Alert,
    /// A burst of user reports about one service.
    Reports,
    /// A practice run of a scenario (`domain::drills`): marked as a drill wherever it shows,
    /// kept off the status page and out of the metrics, and joined by no real alert or report.
    Drill,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declared => "declared",
            Self::Alert => "alert",
            Self::Reports => "user_reports",
            Self::Drill => "drill",
        }
    }
}

impl FromStr for Origin {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Declared, Self::Alert, Self::Reports, Self::Drill]
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                FieldError::new("origin", "must be declared, alert, user_reports or drill")
            })
    }
}

/// A response role that one person holds on an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    IncidentLead,
    CommunicationsLead,
    Scribe,
}

impl RoleKind {
    pub const ALL: [RoleKind; 3] = [Self::IncidentLead, Self::CommunicationsLead, Self::Scribe];

    pub fn slug(self) -> &'static str {
        match self {
            Self::IncidentLead => "incident_lead",
            Self::CommunicationsLead => "communications_lead",
            Self::Scribe => "scribe",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::IncidentLead => "Incident lead",
            Self::CommunicationsLead => "Communications lead",
            Self::Scribe => "Scribe",
        }
    }
}

impl FromStr for RoleKind {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.slug() == s.trim())
            .ok_or_else(|| {
                FieldError::new(
                    "role",
                    "must be one of incident_lead, communications_lead, scribe",
                )
            })
    }
}

/// A short human name for the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        one_line("title", raw, Self::MAX_CHARS).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// What is known so far, in a few sentences; may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary(String);

impl Summary {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("summary", raw, 0, Self::MAX_CHARS).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The text of a note posted to the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteText(String);

impl NoteText {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("text", raw, 1, Self::MAX_CHARS).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The configured list of incident types (outage, degradation, security, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentTypes(Vec<String>);

impl Default for IncidentTypes {
    fn default() -> Self {
        Self(
            ["outage", "degradation", "security", "data_loss", "other"]
                .map(String::from)
                .to_vec(),
        )
    }
}

impl IncidentTypes {
    pub fn new(types: Vec<String>) -> Result<Self, FieldError> {
        if types.is_empty() {
            return Err(FieldError::new(
                "incident_types",
                "must list at least one type",
            ));
        }
        if let Some(bad) = types.iter().find(|t| !is_slug(t)) {
            return Err(FieldError::new(
                "incident_types",
                format!("{bad:?} must be lowercase letters, digits and underscores"),
            ));
        }
        Ok(Self(types))
    }

    pub fn all(&self) -> &[String] {
        &self.0
    }

    /// The default type when a declaration names none: the last one ("other" by default).
    pub fn fallback(&self) -> &str {
        self.0.last().map(String::as_str).unwrap_or("other")
    }

    /// The type of an incident nobody declared (alerts or user reports opened it): an outage
    /// where that type exists.
    pub fn automatic(&self) -> String {
        self.parse("outage")
            .unwrap_or_else(|_| self.fallback().to_string())
    }

    pub fn parse(&self, raw: &str) -> Result<String, FieldError> {
        let wanted = raw.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        self.0
            .iter()
            .find(|t| **t == wanted)
            .cloned()
            .ok_or_else(|| FieldError::new("type", format!("must be one of {}", self.0.join(", "))))
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Which roles must be filled at each severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePolicy(BTreeMap<Severity, Vec<RoleKind>>);

impl Default for RolePolicy {
    fn default() -> Self {
        use RoleKind::*;
        Self(BTreeMap::from([
            (
                Severity::Sev1,
                vec![IncidentLead, CommunicationsLead, Scribe],
            ),
            (Severity::Sev2, vec![IncidentLead, CommunicationsLead]),
            (Severity::Sev3, vec![IncidentLead]),
            (Severity::Sev4, vec![]),
        ]))
    }
}

impl RolePolicy {
    pub fn new(required: BTreeMap<Severity, Vec<RoleKind>>) -> Self {
        Self(required)
    }

    pub fn required(&self, severity: Severity) -> &[RoleKind] {
        self.0.get(&severity).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A person as the incident refers to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: i64,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub role: RoleKind,
    pub user: UserRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRef {
    pub id: i64,
    pub name: String,
}

/// The response to one disruption, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub summary: String,
    pub severity: Severity,
    pub incident_type: String,
    pub status: Status,
    pub private: bool,
    pub origin: Origin,
    pub declared_by: UserRef,
    pub declared_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// A counter bumped by every stored change: a client says which version it saw, so a
    /// change made from a stale view is refused instead of silently undoing a colleague's.
    pub version: i64,
    pub roles: Vec<RoleAssignment>,
    pub participants: Vec<UserRef>,
    pub services: Vec<ServiceRef>,
    /// How many of its hypotheses are supported (findings); read with the incident, never
    /// written through it.
    pub findings: u32,
    /// The roles the playbook it runs names, which it requires beside its severity's; read
    /// with the incident, never written through it.
    pub playbook_roles: Vec<RoleKind>,
}

/// A validated request to declare an incident.
#[derive(Debug, Clone)]
pub struct Declaration {
    pub title: Title,
    pub summary: Summary,
    pub severity: Severity,
    pub incident_type: String,
    pub private: bool,
    pub services: Vec<ServiceRef>,
    pub origin: Origin,
}

/// A validated set of changes to an incident's fields; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub title: Option<Title>,
    pub summary: Option<Summary>,
    pub severity: Option<Severity>,
    pub status: Option<Status>,
    pub reason: Option<String>,
}

impl Incident {
    /// The incident as it stands the moment it is declared, with the declarer as first participant.
    pub fn declare(
        declaration: Declaration,
        declared_by: UserRef,
        now: Timestamp,
    ) -> (Self, EntryData) {
        let entry = EntryData::Declared {
            title: declaration.title.0.clone(),
            severity: declaration.severity,
            incident_type: declaration.incident_type.clone(),
            private: declaration.private,
            services: declaration
                .services
                .iter()
                .map(|s| s.name.clone())
                .collect(),
        };
        let incident = Self {
            id: 0,
            title: declaration.title.into_inner(),
            summary: declaration.summary.into_inner(),
            severity: declaration.severity,
            incident_type: declaration.incident_type,
            status: Status::Triage,
            private: declaration.private,
            origin: declaration.origin,
            participants: vec![declared_by.clone()],
            declared_by,
            declared_at: now,
            updated_at: now,
            resolved_at: None,
            version: 1,
            roles: Vec::new(),
            services: declaration.services,
            findings: 0,
            playbook_roles: Vec::new(),
        };
        (incident, entry)
    }

    /// Refuses a change made from a view of an older version than this one.
    pub fn check_version(&self, seen: i64) -> Result<(), RuleError> {
        if seen == self.version {
            Ok(())
        } else {
            Err(RuleError::Stale {
                seen,
                current: self.version,
            })
        }
    }

    /// A practice run (see `Origin::Drill`).
    pub fn is_drill(&self) -> bool {
        self.origin == Origin::Drill
    }

    pub fn is_participant(&self, user_id: i64) -> bool {
        self.participants.iter().any(|p| p.id == user_id)
    }

    pub fn holder(&self, role: RoleKind) -> Option<&UserRef> {
        self.roles.iter().find(|a| a.role == role).map(|a| &a.user)
    }

    /// The roles the response needs: those its severity requires, then those its playbook
    /// names.
    pub fn required_roles(&self, policy: &RolePolicy) -> Vec<RoleKind> {
        let mut roles = policy.required(self.severity).to_vec();
        for role in &self.playbook_roles {
            if !roles.contains(role) {
                roles.push(*role);
            }
        }
        roles
    }

    /// Required roles (`required_roles`) that nobody holds yet.
    pub fn unfilled_roles(&self, policy: &RolePolicy) -> Vec<RoleKind> {
        self.required_roles(policy)
            .into_iter()
            .filter(|role| self.holder(*role).is_none())
            .collect()
    }

    /// Adds `user` to the participants unless already there.
    pub fn join(&mut self, user: &UserRef) -> bool {
        if self.is_participant(user.id) {
            return false;
        }
        self.participants.push(user.clone());
        true
    }

    /// Marks a resolved incident reviewed, its review published by `by`.
    pub fn mark_reviewed(&mut self, by: &str) -> Result<Vec<EntryData>, RuleError> {
        if self.status != Status::Resolved {
            return Err(RuleError::Conflict(format!(
                "the incident is {}; a review is published once it is resolved",
                self.status
            )));
        }
        self.status = Status::Reviewed;
        Ok(vec![
            EntryData::StatusChanged {
                from: Status::Resolved,
                to: Status::Reviewed,
                reason: None,
            },
            EntryData::ReviewPublished { by: by.to_string() },
        ])
    }

    /// Applies a patch and returns the timeline entries that record it. An empty patch, or one
    /// that changes nothing, is refused so a client learns its request had no effect.
    pub fn apply(&mut self, patch: Patch, now: Timestamp) -> Result<Vec<EntryData>, RuleError> {
        let mut entries = Vec::new();
        if let Some(title) = patch.title {
            let title = title.into_inner();
            if title != self.title {
                entries.push(EntryData::TitleChanged {
                    from: std::mem::replace(&mut self.title, title.clone()),
                    to: title,
                });
            }
        }
        if let Some(summary) = patch.summary {
            let summary = summary.into_inner();
            if summary != self.summary {
                self.summary = summary.clone();
                entries.push(EntryData::SummaryChanged { summary });
            }
        }
        if let Some(severity) = patch.severity
            && severity != self.severity
        {
            entries.push(EntryData::SeverityChanged {
                from: std::mem::replace(&mut self.severity, severity),
                to: severity,
            });
        }
        if let Some(to) = patch.status {
            let reason = patch
                .reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty());
            let from = self.status;
            check_transition(from, to, reason)?;
            let without_finding = match to {
                Status::Identified => {
                    act_on_finding(self.findings, FindingAction::Identified, reason)?
                }
                _ => None,
            };
            self.status = to;
            self.resolved_at = (to == Status::Resolved).then_some(now);
            entries.push(EntryData::StatusChanged {
                from,
                to,
                reason: reason.map(String::from),
            });
            entries.extend(without_finding);
        } else if patch.reason.is_some() {
            return Err(FieldError::new("reason", "is only accepted with a status change").into());
        }
        if entries.is_empty() {
            return Err(RuleError::Conflict("the patch changes nothing".into()));
        }
        self.updated_at = now;
        Ok(entries)
    }

    /// Resolves the incident because every one of its alerts has resolved. That decides only
    /// for an incident alerts opened, or, when `declared_too` (a service's rules ask for it),
    /// one people declared: a person's judgement that an incident is over is not overruled by
    /// a quiet monitor. Goes through the lifecycle rule like every status change; no entries
    /// when the incident stays as it is.
    pub fn resolve_when_alerts_quiet(
        &mut self,
        declared_too: bool,
        now: Timestamp,
    ) -> Result<Vec<EntryData>, RuleError> {
        if !self.status.is_active() || (self.origin != Origin::Alert && !declared_too) {
            return Ok(Vec::new());
        }
        self.apply(
            Patch {
                status: Some(Status::Resolved),
                reason: Some("every alert of the incident resolved".into()),
                ..Patch::default()
            },
            now,
        )
    }

    /// Gives `role` to `user`. Returns no entry when they already hold it (PUT is idempotent).
    /// Gives `role` to `user`, with the hand-off note the previous holder (or whoever assigns)
    /// leaves for them, if any.
    pub fn assign(
        &mut self,
        role: RoleKind,
        user: UserRef,
        note: Option<NoteText>,
        now: Timestamp,
    ) -> Vec<EntryData> {
        let previous = self.holder(role).cloned();
        if previous.as_ref().is_some_and(|p| p.id == user.id) {
            return Vec::new();
        }
        self.roles.retain(|a| a.role != role);
        self.roles.push(RoleAssignment {
            role,
            user: user.clone(),
        });
        self.roles.sort_by_key(|a| a.role);
        let mut entries = Vec::new();
        if self.join(&user) {
            entries.push(EntryData::ParticipantAdded {
                user: user.username.clone(),
            });
        }
        entries.push(EntryData::RoleAssigned {
            role,
            user: user.username,
            previous: previous.map(|p| p.username),
            note: note.map(NoteText::into_inner),
        });
        self.updated_at = now;
        entries
    }

    /// Records a note; its author joins the incident.
    pub fn note(&mut self, author: &UserRef, text: NoteText, now: Timestamp) -> Vec<EntryData> {
        let mut entries = Vec::new();
        if self.join(author) {
            entries.push(EntryData::ParticipantAdded {
                user: author.username.clone(),
            });
        }
        entries.push(EntryData::Note {
            text: text.into_inner(),
        });
        self.updated_at = now;
        entries
    }

    /// Adds a participant by hand (how a private incident is shared).
    pub fn add_participant(
        &mut self,
        user: &UserRef,
        now: Timestamp,
    ) -> Result<EntryData, RuleError> {
        if !self.join(user) {
            return Err(RuleError::Conflict(format!(
                "{} is already a participant",
                user.username
            )));
        }
        self.updated_at = now;
        Ok(EntryData::ParticipantAdded {
            user: user.username.clone(),
        })
    }
}

/// The lifecycle rule. Active statuses may move freely among themselves (an investigation may go
/// back from monitoring when a fix does not hold); leaving `resolved` (or `reviewed`) is a reopen
/// and needs a reason; `reviewed` is reached only by publishing the review.
pub fn check_transition(from: Status, to: Status, reason: Option<&str>) -> Result<(), RuleError> {
    if from == to {
        return Err(RuleError::Conflict(format!("the incident is already {to}")));
    }
    if to == Status::Reviewed {
        return Err(FieldError::new(
            "status",
            "becomes reviewed when the incident's review is published",
        )
        .into());
    }
    if !from.is_active() && reason.is_none() {
        return Err(FieldError::new("reason", "is required to reopen a resolved incident").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserRef {
        UserRef {
            id: 1,
            username: "alice".into(),
        }
    }

    fn bob() -> UserRef {
        UserRef {
            id: 2,
            username: "bob".into(),
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn declared(severity: Severity) -> Incident {
        let declaration = Declaration {
            title: Title::parse("Checkout is failing").unwrap(),
            summary: Summary::parse("").unwrap(),
            severity,
            incident_type: "outage".into(),
            private: false,
            services: vec![],
            origin: Origin::Declared,
        };
        Incident::declare(declaration, alice(), t(0)).0
    }

    #[test]
    fn severity_and_status_parse_leniently_and_name_the_field() {
        assert_eq!("sev2".parse::<Severity>().unwrap(), Severity::Sev2);
        assert_eq!("SEV5".parse::<Severity>().unwrap_err().field, "severity");
        assert_eq!(
            " Monitoring ".parse::<Status>().unwrap(),
            Status::Monitoring
        );
        assert_eq!("done".parse::<Status>().unwrap_err().field, "status");
        assert_eq!("scribe".parse::<RoleKind>().unwrap(), RoleKind::Scribe);
        assert_eq!("lead".parse::<RoleKind>().unwrap_err().field, "role");
    }

    #[test]
    fn titles_are_one_line_and_bounded() {
        assert!(Title::parse("Database down").is_ok());
        assert!(Title::parse("two\nlines").is_err());
        assert!(Title::parse(&"x".repeat(201)).is_err());
        assert_eq!(Title::parse("  ").unwrap_err().field, "title");
    }

    #[test]
    fn incident_types_come_from_the_configured_list() {
        let types = IncidentTypes::default();
        assert_eq!(types.parse("Data loss").unwrap(), "data_loss");
        assert_eq!(types.parse("fire").unwrap_err().field, "type");
        assert_eq!(types.fallback(), "other");
        assert!(IncidentTypes::new(vec![]).is_err());
        assert!(IncidentTypes::new(vec!["Bad Type".into()]).is_err());
    }

    #[test]
    fn a_declared_incident_starts_in_triage_with_its_declarer_participating() {
        let incident = declared(Severity::Sev2);
        assert_eq!(incident.status, Status::Triage);
        assert!(incident.is_participant(1));
        assert!(!incident.is_participant(2));
    }

    #[test]
    fn active_statuses_move_freely_and_resolving_stamps_the_time() {
        let mut incident = declared(Severity::Sev3);
        let patch = |status| Patch {
            status: Some(status),
            ..Patch::default()
        };
        incident.apply(patch(Status::Monitoring), t(10)).unwrap();
        incident.apply(patch(Status::Investigating), t(20)).unwrap();
        let entries = incident.apply(patch(Status::Resolved), t(30)).unwrap();
        assert_eq!(incident.resolved_at, Some(t(30)));
        assert_eq!(
            entries,
            vec![EntryData::StatusChanged {
                from: Status::Investigating,
                to: Status::Resolved,
                reason: None
            }]
        );
    }

    #[test]
    fn reopening_needs_a_reason_and_clears_the_resolution_time() {
        let mut incident = declared(Severity::Sev3);
        incident
            .apply(
                Patch {
                    status: Some(Status::Resolved),
                    ..Patch::default()
                },
                t(5),
            )
            .unwrap();
        let without = Patch {
            status: Some(Status::Investigating),
            ..Patch::default()
        };
        match incident.apply(without, t(6)) {
            Err(RuleError::Invalid(e)) => assert_eq!(e.field, "reason"),
            other => panic!("expected a reason error, got {other:?}"),
        }
        let with = Patch {
            status: Some(Status::Investigating),
            reason: Some("errors came back".into()),
            ..Patch::default()
        };
        incident.apply(with, t(7)).unwrap();
        assert_eq!(incident.status, Status::Investigating);
        assert_eq!(incident.resolved_at, None);
    }

    #[test]
    fn a_patch_that_changes_nothing_is_a_conflict() {
        let mut incident = declared(Severity::Sev3);
        let same = Patch {
            severity: Some(Severity::Sev3),
            ..Patch::default()
        };
        assert!(matches!(
            incident.apply(same, t(1)),
            Err(RuleError::Conflict(_))
        ));
        let same_status = Patch {
            status: Some(Status::Triage),
            ..Patch::default()
        };
        assert!(matches!(
            incident.apply(same_status, t(1)),
            Err(RuleError::Conflict(_))
        ));
        let stray_reason = Patch {
            title: Some(Title::parse("New").unwrap()),
            reason: Some("why".into()),
            ..Patch::default()
        };
        assert!(matches!(
            incident.apply(stray_reason, t(1)),
            Err(RuleError::Invalid(_))
        ));
    }

    #[test]
    fn a_change_from_an_older_version_is_stale() {
        let incident = declared(Severity::Sev2);
        assert_eq!(incident.version, 1);
        assert!(incident.check_version(1).is_ok());
        assert_eq!(
            incident.check_version(0),
            Err(RuleError::Stale {
                seen: 0,
                current: 1
            })
        );
    }

    #[test]
    fn required_roles_depend_on_severity_and_assignment_fills_them() {
        let policy = RolePolicy::default();
        let mut incident = declared(Severity::Sev1);
        assert_eq!(incident.unfilled_roles(&policy).len(), 3);
        let entries = incident.assign(RoleKind::IncidentLead, bob(), None, t(1));
        assert_eq!(entries.len(), 2, "bob joins and takes the role");
        assert!(incident.is_participant(2));
        assert_eq!(
            incident.unfilled_roles(&policy),
            vec![RoleKind::CommunicationsLead, RoleKind::Scribe]
        );
        assert!(
            incident
                .assign(RoleKind::IncidentLead, bob(), None, t(2))
                .is_empty()
        );
        let note = NoteText::parse("Rollback is half done; watch the EU error rate").unwrap();
        let handover = incident.assign(RoleKind::IncidentLead, alice(), Some(note), t(3));
        assert_eq!(
            handover,
            vec![EntryData::RoleAssigned {
                role: RoleKind::IncidentLead,
                user: "alice".into(),
                previous: Some("bob".into()),
                note: Some("Rollback is half done; watch the EU error rate".into()),
            }]
        );
        assert_eq!(
            handover[0].describe(),
            "Incident lead handed from bob to alice: Rollback is half done; watch the EU error rate"
        );
        incident.severity = Severity::Sev4;
        assert!(incident.unfilled_roles(&policy).is_empty());
        // The playbook's roles count too, once each, after the severity's.
        incident.playbook_roles = vec![RoleKind::Scribe, RoleKind::IncidentLead];
        assert_eq!(incident.unfilled_roles(&policy), vec![RoleKind::Scribe]);
        incident.severity = Severity::Sev1;
        assert_eq!(
            incident.required_roles(&policy),
            vec![
                RoleKind::IncidentLead,
                RoleKind::CommunicationsLead,
                RoleKind::Scribe
            ]
        );
    }

    #[test]
    fn posting_a_note_makes_the_author_a_participant() {
        let mut incident = declared(Severity::Sev2);
        let entries = incident.note(&bob(), NoteText::parse("looking at the LB").unwrap(), t(1));
        assert_eq!(entries.len(), 2);
        assert!(incident.is_participant(2));
        assert!(incident.add_participant(&bob(), t(2)).is_err());
    }

    #[test]
    fn quiet_alerts_resolve_only_what_alerts_opened_unless_the_rules_say_so() {
        let mut declared_by_a_person = declared(Severity::Sev2);
        assert!(
            declared_by_a_person
                .resolve_when_alerts_quiet(false, t(1))
                .unwrap()
                .is_empty()
        );
        assert_eq!(declared_by_a_person.status, Status::Triage);
        let entries = declared_by_a_person
            .resolve_when_alerts_quiet(true, t(2))
            .unwrap();
        assert!(matches!(
            entries.as_slice(),
            [EntryData::StatusChanged {
                to: Status::Resolved,
                reason: Some(_),
                ..
            }]
        ));
        assert_eq!(declared_by_a_person.resolved_at, Some(t(2)));

        let mut opened_by_an_alert = declared(Severity::Sev1);
        opened_by_an_alert.origin = Origin::Alert;
        assert_eq!(
            opened_by_an_alert
                .resolve_when_alerts_quiet(false, t(3))
                .unwrap()
                .len(),
            1
        );
        // Already resolved: nothing more to record.
        assert!(
            opened_by_an_alert
                .resolve_when_alerts_quiet(false, t(4))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn identified_needs_a_finding_or_a_reason_for_acting_without_one() {
        let to_identified = |reason: Option<&str>| Patch {
            status: Some(Status::Identified),
            reason: reason.map(String::from),
            ..Patch::default()
        };
        let mut incident = declared(Severity::Sev2);
        let refused = incident.apply(to_identified(None), t(60)).unwrap_err();
        assert!(
            matches!(refused, RuleError::Invalid(ref e) if e.field == "reason"),
            "{refused:?}"
        );
        assert_eq!(incident.status, Status::Triage, "nothing changed");
        let entries = incident
            .apply(
                to_identified(Some("orders are failing; rolling back first")),
                t(61),
            )
            .unwrap();
        assert!(matches!(
            entries[0],
            EntryData::StatusChanged {
                to: Status::Identified,
                ..
            }
        ));
        assert!(
            matches!(entries[1], EntryData::ActedWithoutFinding { ref action, .. } if *action == FindingAction::Identified)
        );
        let mut found = declared(Severity::Sev2);
        found.findings = 1;
        let entries = found.apply(to_identified(None), t(62)).unwrap();
        assert_eq!(entries.len(), 1, "a finding needs no reason: {entries:?}");
    }
}
