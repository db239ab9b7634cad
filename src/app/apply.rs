//! Declarative configuration: `aplomb apply -f org.toml` sends the whole on-call setup, and
//! the server makes it so: creating what is missing, updating what differs, leaving the rest.
//! Applying the same document twice changes nothing the second time.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use jiff::Timestamp;

use super::oncall::{
    ContactMethodInput, EngagementRuleInput, LayerInput, LevelInput, Names, PolicyInput,
    ScheduleInput, TargetInput, TeamInput, check_address, policy_spec, schedule_spec, team_spec,
    to_json,
};
use super::{Aplomb, AppError, AppResult, require_admin};
use crate::domain::access::{Actor, UserRole, parse_username};
use crate::domain::catalog::creates_cycle;
use crate::domain::escalation::{EngagedAs, Level, Target};
use crate::domain::schedule::{LayerSpec, ShiftLength, parse_time_zone};
use crate::domain::{FieldError, bounded_text};
use crate::store::{
    ContactMethodRecord, EngagementRuleRecord, NotificationRuleRecord, OrgTx, PolicyRecord,
    ScheduleRecord, ServiceRecord, TeamRecord, UserRecord,
};

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgDocument {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responders: Vec<ResponderDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalation_policies: Vec<PolicyInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engagement_rules: Vec<EngagementRuleInput>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponderDoc {
    #[schema(value_type = crate::app::schema::Username)]
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::app::schema::Name>)]
    pub display_name: Option<String>,
    /// `admin`, `responder` (default) or `viewer`; applies when the user is created.
    #[serde(default = "default_role")]
    #[schema(value_type = crate::app::schema::UserRoleName)]
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<crate::app::schema::Skill>)]
    pub skills: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_methods: Vec<ContactMethodInput>,
    /// "SMS after 5 minutes": which contact method (by address) and when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_rules: Vec<NotificationRuleDoc>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationRuleDoc {
    /// The address of one of the responder's contact methods.
    pub address: String,
    pub delay_minutes: i64,
}

fn default_role() -> String {
    "responder".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceDoc {
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = crate::app::schema::Description)]
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// The kinds of object a document holds, in the order they are planned and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Responder,
    Team,
    Schedule,
    EscalationPolicy,
    Service,
    EngagementRule,
}

impl ObjectKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Responder => "responder",
            Self::Team => "team",
            Self::Schedule => "schedule",
            Self::EscalationPolicy => "escalation policy",
            Self::Service => "service",
            Self::EngagementRule => "engagement rule",
        }
    }
}

/// What applying does to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Changed,
    Unchanged,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Changed => "changed",
            Self::Unchanged => "unchanged",
        }
    }
}

/// One field of a changed object: what it holds now, and what it will hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

impl FieldChange {
    fn new(field: &str, old: impl Into<String>, new: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            old: old.into(),
            new: new.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PlannedObject {
    pub kind: ObjectKind,
    pub name: String,
    pub outcome: Outcome,
    /// For a changed object, each field that changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

impl PlannedObject {
    /// "created schedule primary", "changed team sre", "unchanged service api".
    pub fn line(&self) -> String {
        format!(
            "{} {} {}",
            self.outcome.label(),
            self.kind.label(),
            self.name
        )
    }
}

/// What applying a document does (or did), object by object, in document order per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApplyPlan {
    pub objects: Vec<PlannedObject>,
}

impl ApplyPlan {
    /// One line per object, each changed field indented below it ("  levels: [...] → [...]").
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for object in &self.objects {
            out.push(object.line());
            for c in &object.changes {
                out.push(format!("  {}: {} → {}", c.field, c.old, c.new));
            }
        }
        out
    }
}

/// Names the object at fault in an error from validating it.
fn within(kind: &'static str, name: &str, e: AppError) -> AppError {
    match e {
        AppError::Invalid(f) => AppError::Invalid(FieldError::new(
            kind,
            format!("{name}: {}: {}", f.field, f.message),
        )),
        other => other,
    }
}

impl Aplomb {
    /// The current on-call setup as a document that `apply` accepts: applying it back changes
    /// nothing. Passwords, secrets and API tokens are not part of it.
    pub async fn export(&self, actor: &Actor) -> AppResult<OrgDocument> {
        require_admin(actor)?;
        let users = self.store.list_users().await?;
        let name_of = |id: i64| {
            users
                .iter()
                .find(|u| u.id == id)
                .map(|u| u.username.clone())
                .unwrap_or_default()
        };
        let teams = self.store.teams().await?;
        let schedules = self.store.schedules().await?;
        let policies = self.store.policies().await?;
        let services = self.list_services().await?;
        let target = |t: &Target| match *t {
            Target::Responder(id) => TargetInput {
                kind: "responder".into(),
                name: name_of(id),
            },
            Target::Schedule(id) => TargetInput {
                kind: "schedule".into(),
                name: schedules
                    .iter()
                    .find(|s| s.id == id)
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
            },
            Target::Team(id) => TargetInput {
                kind: "team".into(),
                name: teams
                    .iter()
                    .find(|t| t.id == id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
            },
        };

        let mut doc = OrgDocument::default();
        for user in &users {
            let profile = self.store.profile(user.id).await?;
            let methods = self.store.contact_methods(user.id).await?;
            let rules = self.store.notification_rules(user.id).await?;
            doc.responders.push(ResponderDoc {
                username: user.username.clone(),
                display_name: Some(user.display_name.clone()),
                role: user.role.to_string(),
                time_zone: profile.as_ref().map(|p| p.0.clone()),
                skills: profile
                    .map(|p| serde_json::from_str(&p.1).unwrap_or_default())
                    .unwrap_or_default(),
                notification_rules: rules
                    .iter()
                    .filter_map(|rule| {
                        methods
                            .iter()
                            .find(|m| m.id == rule.contact_method_id)
                            .map(|m| NotificationRuleDoc {
                                address: m.address.clone(),
                                delay_minutes: rule.delay_minutes,
                            })
                    })
                    .collect(),
                contact_methods: methods
                    .into_iter()
                    .map(|m| ContactMethodInput {
                        kind: m.kind,
                        address: m.address,
                    })
                    .collect(),
            });
        }
        for team in &teams {
            doc.teams.push(TeamInput {
                name: team.name.clone(),
                domain: team.domain.clone(),
                members: team.members.clone(),
            });
        }
        for schedule in &schedules {
            let specs: Vec<LayerSpec> =
                serde_json::from_str(&schedule.layers_json).map_err(|e| {
                    AppError::Internal(anyhow::anyhow!("schedule {}: {e}", schedule.id))
                })?;
            doc.schedules.push(ScheduleInput {
                name: schedule.name.clone(),
                time_zone: schedule.time_zone.clone(),
                layers: specs
                    .into_iter()
                    .map(|l| {
                        let (shift_count, shift_unit) = match l.shift {
                            ShiftLength::Hours(n) => (n, "hours"),
                            ShiftLength::Days(n) => (n, "days"),
                            ShiftLength::Weeks(n) => (n, "weeks"),
                        };
                        LayerInput {
                            name: l.name,
                            start: l.start,
                            shift_count: i64::from(shift_count),
                            shift_unit: shift_unit.into(),
                            participants: l.participants.into_iter().map(name_of).collect(),
                        }
                    })
                    .collect(),
            });
        }
        for policy in &policies {
            let levels: Vec<Level> = serde_json::from_str(&policy.levels_json)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("policy {}: {e}", policy.id)))?;
            doc.escalation_policies.push(PolicyInput {
                name: policy.name.clone(),
                repeat: u32::try_from(policy.repeat).unwrap_or(0),
                levels: levels
                    .iter()
                    .map(|l| LevelInput {
                        delay_minutes: l.delay_minutes,
                        targets: l.targets.iter().map(target).collect(),
                    })
                    .collect(),
            });
        }
        let edges = self.store.service_dependencies().await?;
        for service in &services {
            doc.services.push(ServiceDoc {
                name: service.name.clone(),
                description: service.description.clone(),
                team: service
                    .team_id
                    .and_then(|id| teams.iter().find(|t| t.id == id))
                    .map(|t| t.name.clone()),
                escalation_policy: service
                    .escalation_policy_id
                    .and_then(|id| policies.iter().find(|p| p.id == id))
                    .map(|p| p.name.clone()),
                tags: service.tags.clone(),
                depends_on: edges
                    .iter()
                    .filter(|(from, _)| *from == service.id)
                    .filter_map(|(_, to)| {
                        services
                            .iter()
                            .find(|s| s.id == *to)
                            .map(|s| s.name.clone())
                    })
                    .collect(),
            });
        }
        for rule in self.store.engagement_rules().await? {
            let engage: Target = serde_json::from_str(&rule.target_json)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("rule {}: {e}", rule.id)))?;
            let engaged_as: Option<EngagedAs> = rule
                .engaged_as_json
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| AppError::Internal(anyhow::anyhow!("rule {}: {e}", rule.id)))?;
            doc.engagement_rules.push(EngagementRuleInput {
                name: rule.name,
                when: serde_json::from_str(&rule.conditions_json)
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("rule {}: {e}", rule.id)))?,
                engage: target(&engage),
                engaged_as: engaged_as.map(|e| match e {
                    EngagedAs::Role(role) => role.slug().to_string(),
                    EngagedAs::DomainExpert(skill) => format!("expert:{skill}"),
                }),
            });
        }
        Ok(doc)
    }

    /// What applying `doc` would do, object by object, without writing anything.
    pub async fn plan_apply(&self, actor: &Actor, doc: &OrgDocument) -> AppResult<ApplyPlan> {
        require_admin(actor)?;
        let (plan, _) = self.plan(doc).await?;
        Ok(plan)
    }

    /// Makes the organisation what `doc` describes. The whole document is validated and
    /// resolved into a plan first, so a mistake anywhere in it leaves the database as it was;
    /// the plan is then written in one transaction: all of it commits, or none.
    pub async fn apply(&self, actor: &Actor, doc: OrgDocument) -> AppResult<ApplyPlan> {
        require_admin(actor)?;
        let (plan, writes) = self.plan(&doc).await?;
        self.write_plan(writes).await?;
        Ok(plan)
    }

    /// Reads what exists once, then plans each kind of object in the order they refer to each
    /// other (responders, teams, schedules, policies, services, rules).
    async fn plan(&self, doc: &OrgDocument) -> AppResult<(ApplyPlan, Writes)> {
        let now = Snapshot {
            users: self.store.list_users().await?,
            profiles: self.store.profiles().await?,
            methods: self.store.all_contact_methods().await?,
            rules: self.store.all_notification_rules().await?,
            teams: self.store.teams().await?,
            schedules: self.store.schedules().await?,
            policies: self.store.policies().await?,
            services: self.store.list_services().await?,
            edges: self.store.service_dependencies().await?,
            engagement_rules: self.store.engagement_rules().await?,
        };
        let mut known = Known {
            names: Names {
                users: now
                    .users
                    .iter()
                    .map(|u| (u.username.clone(), u.id))
                    .collect(),
                teams: now.teams.iter().map(|t| (t.name.clone(), t.id)).collect(),
                schedules: now
                    .schedules
                    .iter()
                    .map(|s| (s.name.clone(), s.id))
                    .collect(),
            },
            policies: now
                .policies
                .iter()
                .map(|p| (p.name.clone(), p.id))
                .collect(),
            services: now
                .services
                .iter()
                .map(|s| (s.name.clone(), s.id))
                .collect(),
            new_methods: 0,
        };
        let mut plan = ApplyPlan::default();
        let mut writes = Writes::default();
        let responders = plan_responders(&doc.responders, &now, &mut known)?;
        writes.responders = plan.take(ObjectKind::Responder, responders);
        let teams = plan_teams(&doc.teams, &now, &mut known)?;
        writes.teams = plan.take(ObjectKind::Team, teams);
        let schedules = plan_schedules(&doc.schedules, &now, &mut known)?;
        writes.schedules = plan.take(ObjectKind::Schedule, schedules);
        let policies = plan_policies(&doc.escalation_policies, &now, &mut known)?;
        writes.policies = plan.take(ObjectKind::EscalationPolicy, policies);
        let services = plan_services(&doc.services, &now, &mut known)?;
        writes.services = plan.take(ObjectKind::Service, services);
        let rules = self.plan_rules(&doc.engagement_rules, &now, &known)?;
        writes.rules = plan.take(ObjectKind::EngagementRule, rules);
        Ok((plan, writes))
    }

    /// A validated, resolved engagement rule per entry.
    fn plan_rules(
        &self,
        docs: &[EngagementRuleInput],
        now: &Snapshot,
        known: &Known,
    ) -> AppResult<Vec<Planned<RuleWrite>>> {
        unique("engagement_rules", docs.iter().map(|r| r.name.trim()))?;
        let mut out = Vec::with_capacity(docs.len());
        for r in docs {
            let planned = self
                .plan_rule(r, now, known)
                .map_err(|e| within("engagement_rules", &r.name, e))?;
            out.push(planned);
        }
        Ok(out)
    }

    fn plan_rule(
        &self,
        r: &EngagementRuleInput,
        now: &Snapshot,
        known: &Known,
    ) -> AppResult<Planned<RuleWrite>> {
        let name = bounded_text("name", &r.name, 1, 100)?;
        let (conditions, target, engaged_as) = self.rule_spec(&known.names, r)?;
        let write = RuleWrite {
            id: None,
            name: name.clone(),
            conditions: conditions.clone(),
            target,
            engaged_as: engaged_as.clone(),
        };
        let Some(current) = now.engagement_rules.iter().find(|x| x.name == name) else {
            return Ok(Planned::created(name, write));
        };
        let old_target: Target = stored(&current.target_json)?;
        let mut changes = Vec::new();
        if current.conditions_json != conditions {
            changes.push(FieldChange::new(
                "when",
                &current.conditions_json,
                &conditions,
            ));
        }
        if old_target != target {
            changes.push(FieldChange::new(
                "engage",
                known.target_name(&old_target),
                known.target_name(&target),
            ));
        }
        if current.engaged_as_json != engaged_as {
            changes.push(FieldChange::new(
                "engaged_as",
                engaged_label(current.engaged_as_json.as_deref())?,
                engaged_label(engaged_as.as_deref())?,
            ));
        }
        Ok(Planned::existing(
            name,
            changes,
            RuleWrite {
                id: Some(current.id),
                ..write
            },
        ))
    }

    /// Writes a plan in one transaction, kind by kind, replacing the placeholder ids of
    /// objects created on the way with their real ones.
    async fn write_plan(&self, writes: Writes) -> AppResult<()> {
        let now = self.now();
        let mut tx = self.store.begin_org().await?;
        let mut made = Made::default();
        write_responders(&mut tx, &writes.responders, &mut made, now).await?;
        write_teams(&mut tx, &writes.teams, &mut made, now).await?;
        write_schedules(&mut tx, &writes.schedules, &mut made, now).await?;
        write_policies(&mut tx, &writes.policies, &mut made, now).await?;
        write_services(&mut tx, &writes.services, &mut made, now).await?;
        write_rules(&mut tx, &writes.rules, &made, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What exists, read once before planning.
struct Snapshot {
    users: Vec<UserRecord>,
    profiles: Vec<(i64, String, String)>,
    methods: Vec<ContactMethodRecord>,
    rules: Vec<NotificationRuleRecord>,
    teams: Vec<TeamRecord>,
    schedules: Vec<ScheduleRecord>,
    policies: Vec<PolicyRecord>,
    services: Vec<ServiceRecord>,
    edges: Vec<(i64, i64)>,
    engagement_rules: Vec<EngagementRuleRecord>,
}

/// Names as the plan goes: what exists, and what the plan creates under placeholder ids.
struct Known {
    names: Names,
    policies: Vec<(String, i64)>,
    services: Vec<(String, i64)>,
    new_methods: usize,
}

impl Known {
    fn target_name(&self, target: &Target) -> String {
        match *target {
            Target::Responder(id) => format!("responder {}", name_in(&self.names.users, id)),
            Target::Schedule(id) => format!("schedule {}", name_in(&self.names.schedules, id)),
            Target::Team(id) => format!("team {}", name_in(&self.names.teams, id)),
        }
    }
}

/// The id an object the plan creates goes by until it is written: the `n`th new object of its
/// kind is `-1 - n` (stored ids are positive), replaced by its real id in the transaction.
fn placeholder(n: usize) -> i64 {
    -1 - i64::try_from(n).unwrap_or(i64::MAX - 1)
}

fn next_placeholder(list: &[(String, i64)]) -> i64 {
    placeholder(list.iter().filter(|(_, id)| *id < 0).count())
}

fn name_in(list: &[(String, i64)], id: i64) -> String {
    list.iter()
        .find(|(_, x)| *x == id)
        .map_or_else(|| format!("#{id}"), |(n, _)| n.clone())
}

fn find_in(list: &[(String, i64)], name: &str) -> Option<i64> {
    list.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
}

/// An object named twice in one document would be planned twice against the same state.
fn unique<'a>(kind: &'static str, names: impl Iterator<Item = &'a str>) -> AppResult<()> {
    let mut seen = Vec::new();
    for name in names {
        if seen.contains(&name) {
            return Err(
                FieldError::new(kind, format!("{name}: appears twice in the document")).into(),
            );
        }
        seen.push(name);
    }
    Ok(())
}

fn stored<T: serde::de::DeserializeOwned>(json: &str) -> AppResult<T> {
    serde_json::from_str(json)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored JSON is unreadable: {e}")))
}

fn engaged_label(json: Option<&str>) -> AppResult<String> {
    let Some(json) = json else {
        return Ok("(none)".into());
    };
    Ok(match stored::<EngagedAs>(json)? {
        EngagedAs::Role(role) => role.slug().to_string(),
        EngagedAs::DomainExpert(skill) => format!("expert:{skill}"),
    })
}

fn shown(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

fn shown_opt(item: Option<&str>) -> String {
    item.map_or_else(|| "(none)".to_string(), String::from)
}

/// One object of a plan: what the plan reports, and what to write (nothing when unchanged).
struct Planned<W> {
    name: String,
    outcome: Outcome,
    changes: Vec<FieldChange>,
    write: Option<W>,
}

impl<W> Planned<W> {
    fn created(name: String, write: W) -> Self {
        Self {
            name,
            outcome: Outcome::Created,
            changes: Vec::new(),
            write: Some(write),
        }
    }

    fn existing(name: String, changes: Vec<FieldChange>, write: W) -> Self {
        if changes.is_empty() {
            Self {
                name,
                outcome: Outcome::Unchanged,
                changes,
                write: None,
            }
        } else {
            Self {
                name,
                outcome: Outcome::Changed,
                changes,
                write: Some(write),
            }
        }
    }
}

impl ApplyPlan {
    /// Records the kind's objects in the plan and keeps their writes.
    fn take<W>(&mut self, kind: ObjectKind, planned: Vec<Planned<W>>) -> Vec<W> {
        let mut writes = Vec::new();
        for p in planned {
            self.objects.push(PlannedObject {
                kind,
                name: p.name,
                outcome: p.outcome,
                changes: p.changes,
            });
            writes.extend(p.write);
        }
        writes
    }
}

#[derive(Default)]
struct Writes {
    responders: Vec<ResponderWrite>,
    teams: Vec<TeamWrite>,
    schedules: Vec<ScheduleWrite>,
    policies: Vec<PolicyWrite>,
    services: Vec<ServiceWrite>,
    rules: Vec<RuleWrite>,
}

struct ResponderWrite {
    /// A placeholder when the account is created.
    user: i64,
    /// (username, display name, role) of an account to create.
    create: Option<(String, String, UserRole)>,
    /// (time zone, skills JSON) to set.
    profile: Option<(String, String)>,
    /// (kind, address) of contact methods to add, in placeholder order.
    methods: Vec<(String, String)>,
    /// (contact method, delay in minutes) of notification rules to add.
    rules: Vec<(i64, i64)>,
}

/// `id` is `None` for an object to create.
struct TeamWrite {
    id: Option<i64>,
    name: String,
    domain: String,
    members: Vec<i64>,
}

struct ScheduleWrite {
    id: Option<i64>,
    name: String,
    time_zone: String,
    layers: Vec<LayerSpec>,
}

struct PolicyWrite {
    id: Option<i64>,
    name: String,
    repeat: i64,
    levels: Vec<Level>,
}

struct ServiceWrite {
    /// Existing id or placeholder.
    id: i64,
    create: bool,
    /// Description or owner team differ (or the service is new).
    details: bool,
    /// Team, policy, tags or dependencies differ (or the service is new).
    oncall: bool,
    name: String,
    description: String,
    owner_team: String,
    team: Option<i64>,
    policy: Option<i64>,
    tags_json: String,
    depends_on: Vec<i64>,
}

struct RuleWrite {
    id: Option<i64>,
    name: String,
    conditions: String,
    target: Target,
    engaged_as: Option<String>,
}

fn plan_responders(
    docs: &[ResponderDoc],
    now: &Snapshot,
    known: &mut Known,
) -> AppResult<Vec<Planned<ResponderWrite>>> {
    unique("responders", docs.iter().map(|r| r.username.trim()))?;
    let mut out = Vec::with_capacity(docs.len());
    for r in docs {
        out.push(plan_responder(r, now, known).map_err(|e| within("responders", &r.username, e))?);
    }
    Ok(out)
}

fn plan_responder(
    r: &ResponderDoc,
    now: &Snapshot,
    known: &mut Known,
) -> AppResult<Planned<ResponderWrite>> {
    let username = parse_username(&r.username)?;
    let (user, create) = match now.users.iter().find(|u| u.username == username) {
        Some(u) => (u.id, None),
        None => {
            let role: UserRole = r.role.parse()?;
            let display_name = match r.display_name.as_deref() {
                Some(name) => bounded_text("display_name", name, 1, 100)?,
                None => username.clone(),
            };
            let id = next_placeholder(&known.names.users);
            known.names.users.push((username.clone(), id));
            (id, Some((username.clone(), display_name, role)))
        }
    };
    let mut changes = Vec::new();
    let mut profile = None;
    match r.time_zone.as_deref() {
        Some(tz) => {
            parse_time_zone("time_zone", tz)?;
            let tz = tz.trim().to_string();
            let mut skills: Vec<String> = Vec::new();
            for skill in &r.skills {
                let skill = crate::domain::coordination::skill("skills", skill)?;
                if !skills.contains(&skill) {
                    skills.push(skill);
                }
            }
            let old = now.profiles.iter().find(|p| p.0 == user);
            let old_tz = old.map(|p| p.1.as_str());
            let old_skills: Vec<String> = old
                .map(|p| serde_json::from_str(&p.2).unwrap_or_default())
                .unwrap_or_default();
            if old_tz != Some(tz.as_str()) {
                changes.push(FieldChange::new("time_zone", shown_opt(old_tz), &tz));
            }
            if old_skills != skills {
                changes.push(FieldChange::new(
                    "skills",
                    shown(&old_skills),
                    shown(&skills),
                ));
            }
            if !changes.is_empty() {
                profile = Some((tz, to_json(&skills)?));
            }
        }
        None if !r.skills.is_empty() => {
            return Err(FieldError::new("skills", "are set with time_zone; add time_zone").into());
        }
        None => {}
    }

    let old_methods: Vec<&ContactMethodRecord> =
        now.methods.iter().filter(|m| m.user_id == user).collect();
    let mut methods: Vec<(String, String, i64)> = old_methods
        .iter()
        .map(|m| (m.kind.clone(), m.address.clone(), m.id))
        .collect();
    let method_names = |list: &[(String, String, i64)]| {
        list.iter()
            .map(|(kind, address, _)| format!("{kind} {address}"))
            .collect::<Vec<_>>()
    };
    let mut new_methods = Vec::new();
    for m in &r.contact_methods {
        let kind = m.kind.trim().to_lowercase();
        let address = m.address.trim().to_string();
        check_address(&kind, &address)?;
        if !methods.iter().any(|(k, a, _)| *k == kind && *a == address) {
            methods.push((
                kind.clone(),
                address.clone(),
                placeholder(known.new_methods),
            ));
            known.new_methods += 1;
            new_methods.push((kind, address));
        }
    }
    if !new_methods.is_empty() {
        changes.push(FieldChange::new(
            "contact_methods",
            shown(&method_names(&methods[..old_methods.len()])),
            shown(&method_names(&methods)),
        ));
    }

    let mut rules: Vec<(i64, i64)> = now
        .rules
        .iter()
        .filter(|rule| old_methods.iter().any(|m| m.id == rule.contact_method_id))
        .map(|rule| (rule.contact_method_id, rule.delay_minutes))
        .collect();
    let old_rule_count = rules.len();
    for rule in &r.notification_rules {
        if !(0..=1440).contains(&rule.delay_minutes) {
            return Err(
                FieldError::new("notification_rules.delay_minutes", "must be 0 to 1440").into(),
            );
        }
        let address = rule.address.trim();
        let Some((_, _, method)) = methods.iter().find(|(_, a, _)| a == address) else {
            return Err(FieldError::new(
                "notification_rules.address",
                format!("{address:?} is not one of this responder's contact methods"),
            )
            .into());
        };
        if !rules.contains(&(*method, rule.delay_minutes)) {
            rules.push((*method, rule.delay_minutes));
        }
    }
    if rules.len() > old_rule_count {
        let rule_names = |list: &[(i64, i64)]| {
            list.iter()
                .map(|(method, delay)| {
                    let address = methods
                        .iter()
                        .find(|(_, _, id)| id == method)
                        .map_or("?", |(_, a, _)| a.as_str());
                    format!("{address} after {delay} min")
                })
                .collect::<Vec<_>>()
        };
        changes.push(FieldChange::new(
            "notification_rules",
            shown(&rule_names(&rules[..old_rule_count])),
            shown(&rule_names(&rules)),
        ));
    }
    let write = ResponderWrite {
        user,
        profile,
        methods: new_methods,
        rules: rules[old_rule_count..].to_vec(),
        create: None,
    };
    Ok(match create {
        Some(account) => Planned::created(
            username,
            ResponderWrite {
                create: Some(account),
                ..write
            },
        ),
        None => Planned::existing(username, changes, write),
    })
}

fn plan_teams(
    docs: &[TeamInput],
    now: &Snapshot,
    known: &mut Known,
) -> AppResult<Vec<Planned<TeamWrite>>> {
    unique("teams", docs.iter().map(|t| t.name.trim()))?;
    let mut out = Vec::with_capacity(docs.len());
    for t in docs {
        let (name, domain, members) =
            team_spec(&known.names, t).map_err(|e| within("teams", &t.name, e.into()))?;
        let mut member_names: Vec<String> = members
            .iter()
            .map(|id| name_in(&known.names.users, *id))
            .collect();
        member_names.sort();
        let write = TeamWrite {
            id: None,
            name: name.clone(),
            domain: domain.clone(),
            members,
        };
        let Some(current) = now.teams.iter().find(|x| x.name == name) else {
            let id = next_placeholder(&known.names.teams);
            known.names.teams.push((name.clone(), id));
            out.push(Planned::created(name, write));
            continue;
        };
        let mut changes = Vec::new();
        if current.domain != domain {
            changes.push(FieldChange::new("domain", &current.domain, &domain));
        }
        if current.members != member_names {
            changes.push(FieldChange::new(
                "members",
                shown(&current.members),
                shown(&member_names),
            ));
        }
        out.push(Planned::existing(
            name,
            changes,
            TeamWrite {
                id: Some(current.id),
                ..write
            },
        ));
    }
    Ok(out)
}

fn layers_shown(layers: &[LayerSpec], known: &Known) -> String {
    let each: Vec<String> = layers
        .iter()
        .map(|l| {
            let shift = match l.shift {
                ShiftLength::Hours(n) => format!("{n} hours"),
                ShiftLength::Days(n) => format!("{n} days"),
                ShiftLength::Weeks(n) => format!("{n} weeks"),
            };
            let people: Vec<String> = l
                .participants
                .iter()
                .map(|id| name_in(&known.names.users, *id))
                .collect();
            format!(
                "{} (every {shift} from {}: {})",
                l.name,
                l.start,
                people.join(", ")
            )
        })
        .collect();
    shown(&each)
}

fn plan_schedules(
    docs: &[ScheduleInput],
    now: &Snapshot,
    known: &mut Known,
) -> AppResult<Vec<Planned<ScheduleWrite>>> {
    unique("schedules", docs.iter().map(|s| s.name.trim()))?;
    let mut out = Vec::with_capacity(docs.len());
    for s in docs {
        let (name, time_zone, layers) =
            schedule_spec(&known.names, s).map_err(|e| within("schedules", &s.name, e.into()))?;
        let Some(current) = now.schedules.iter().find(|x| x.name == name) else {
            let id = next_placeholder(&known.names.schedules);
            known.names.schedules.push((name.clone(), id));
            out.push(Planned::created(
                name.clone(),
                ScheduleWrite {
                    id: None,
                    name,
                    time_zone,
                    layers,
                },
            ));
            continue;
        };
        let old_layers: Vec<LayerSpec> = stored(&current.layers_json)?;
        let mut changes = Vec::new();
        if current.time_zone != time_zone {
            changes.push(FieldChange::new(
                "time_zone",
                &current.time_zone,
                &time_zone,
            ));
        }
        if old_layers != layers {
            changes.push(FieldChange::new(
                "layers",
                layers_shown(&old_layers, known),
                layers_shown(&layers, known),
            ));
        }
        out.push(Planned::existing(
            name.clone(),
            changes,
            ScheduleWrite {
                id: Some(current.id),
                name,
                time_zone,
                layers,
            },
        ));
    }
    Ok(out)
}

fn levels_shown(levels: &[Level], known: &Known) -> String {
    let each: Vec<String> = levels
        .iter()
        .map(|l| {
            let targets: Vec<String> = l.targets.iter().map(|t| known.target_name(t)).collect();
            format!("after {} min: {}", l.delay_minutes, targets.join(", "))
        })
        .collect();
    shown(&each)
}

fn plan_policies(
    docs: &[PolicyInput],
    now: &Snapshot,
    known: &mut Known,
) -> AppResult<Vec<Planned<PolicyWrite>>> {
    unique("escalation_policies", docs.iter().map(|p| p.name.trim()))?;
    let mut out = Vec::with_capacity(docs.len());
    for p in docs {
        let (name, repeat, levels) = policy_spec(&known.names, p)
            .map_err(|e| within("escalation_policies", &p.name, e.into()))?;
        let Some(current) = now.policies.iter().find(|x| x.name == name) else {
            let id = next_placeholder(&known.policies);
            known.policies.push((name.clone(), id));
            out.push(Planned::created(
                name.clone(),
                PolicyWrite {
                    id: None,
                    name,
                    repeat,
                    levels,
                },
            ));
            continue;
        };
        let old_levels: Vec<Level> = stored(&current.levels_json)?;
        let mut changes = Vec::new();
        if current.repeat != repeat {
            changes.push(FieldChange::new(
                "repeat",
                current.repeat.to_string(),
                repeat.to_string(),
            ));
        }
        if old_levels != levels {
            changes.push(FieldChange::new(
                "levels",
                levels_shown(&old_levels, known),
                levels_shown(&levels, known),
            ));
        }
        out.push(Planned::existing(
            name.clone(),
            changes,
            PolicyWrite {
                id: Some(current.id),
                name,
                repeat,
                levels,
            },
        ));
    }
    Ok(out)
}

fn plan_services(
    docs: &[ServiceDoc],
    now: &Snapshot,
    known: &mut Known,
) -> AppResult<Vec<Planned<ServiceWrite>>> {
    unique("services", docs.iter().map(|s| s.name.trim()))?;
    // Services may depend on ones later in the document: every name is known first.
    for s in docs {
        let name = bounded_text("name", &s.name, 1, 100)
            .map_err(|e| within("services", &s.name, e.into()))?;
        if find_in(&known.services, &name).is_none() {
            let id = next_placeholder(&known.services);
            known.services.push((name, id));
        }
    }
    let mut edges = now.edges.clone();
    let mut out = Vec::with_capacity(docs.len());
    for s in docs {
        let planned =
            plan_service(s, now, known, &mut edges).map_err(|e| within("services", &s.name, e))?;
        out.push(planned);
    }
    Ok(out)
}

fn plan_service(
    s: &ServiceDoc,
    now: &Snapshot,
    known: &Known,
    edges: &mut Vec<(i64, i64)>,
) -> AppResult<Planned<ServiceWrite>> {
    let name = bounded_text("name", &s.name, 1, 100)?;
    let description = bounded_text("description", &s.description, 0, 2000)?;
    let team_name = s.team.as_deref().map(str::trim);
    let team = team_name
        .map(|t| {
            find_in(&known.names.teams, t)
                .ok_or_else(|| FieldError::new("team", format!("no team named {t:?}")))
        })
        .transpose()?;
    let policy_name = s.escalation_policy.as_deref().map(str::trim);
    let policy = policy_name
        .map(|p| {
            find_in(&known.policies, p).ok_or_else(|| {
                FieldError::new(
                    "escalation_policy",
                    format!("no escalation policy named {p:?}"),
                )
            })
        })
        .transpose()?;
    let mut depends_on = Vec::new();
    for d in &s.depends_on {
        let d = d.trim();
        let id = find_in(&known.services, d)
            .ok_or_else(|| FieldError::new("depends_on", format!("no service named {d:?}")))?;
        if !depends_on.contains(&id) {
            depends_on.push(id);
        }
    }
    let current = now.services.iter().find(|x| x.name == name);
    let id = match current {
        Some(c) => c.id,
        None => find_in(&known.services, &name).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "service {name:?} was not given a placeholder"
            ))
        })?,
    };
    if creates_cycle(edges, id, &depends_on) {
        return Err(FieldError::new("depends_on", "would create a dependency cycle").into());
    }
    edges.retain(|(from, _)| *from != id);
    edges.extend(depends_on.iter().map(|d| (id, *d)));
    let mut write = ServiceWrite {
        id,
        create: current.is_none(),
        details: true,
        oncall: true,
        name: name.clone(),
        description: description.clone(),
        owner_team: team_name.unwrap_or_default().to_string(),
        team,
        policy,
        tags_json: to_json(&s.tags)?,
        depends_on: depends_on.clone(),
    };
    let Some(current) = current else {
        return Ok(Planned::created(name, write));
    };
    let team_of = |id: Option<i64>| id.map(|t| name_in(&known.names.teams, t));
    let policy_of = |id: Option<i64>| id.map(|p| name_in(&known.policies, p));
    let deps_of = |ids: &mut Vec<i64>| {
        ids.sort_unstable();
        let mut names: Vec<String> = ids.iter().map(|d| name_in(&known.services, *d)).collect();
        names.sort();
        names
    };
    let mut old_deps: Vec<i64> = now
        .edges
        .iter()
        .filter(|(from, _)| *from == id)
        .map(|(_, to)| *to)
        .collect();
    let mut new_deps = depends_on;
    let (old_dep_names, new_dep_names) = (deps_of(&mut old_deps), deps_of(&mut new_deps));
    let mut changes = Vec::new();
    if current.description != description {
        changes.push(FieldChange::new(
            "description",
            format!("{:?}", current.description),
            format!("{description:?}"),
        ));
    }
    if current.team_id != team {
        changes.push(FieldChange::new(
            "team",
            shown_opt(team_of(current.team_id).as_deref()),
            shown_opt(team_name),
        ));
    }
    if current.escalation_policy_id != policy {
        changes.push(FieldChange::new(
            "escalation_policy",
            shown_opt(policy_of(current.escalation_policy_id).as_deref()),
            shown_opt(policy_name),
        ));
    }
    if current.tags != s.tags {
        changes.push(FieldChange::new(
            "tags",
            shown(&current.tags),
            shown(&s.tags),
        ));
    }
    if old_deps != new_deps {
        changes.push(FieldChange::new(
            "depends_on",
            shown(&old_dep_names),
            shown(&new_dep_names),
        ));
    }
    write.details = changes
        .iter()
        .any(|c| c.field == "description" || c.field == "team");
    write.oncall = changes.iter().any(|c| c.field != "description");
    Ok(Planned::existing(name, changes, write))
}

/// The real ids of objects created so far in the transaction, in placeholder order.
#[derive(Default)]
struct Made {
    users: Vec<i64>,
    methods: Vec<i64>,
    teams: Vec<i64>,
    schedules: Vec<i64>,
    policies: Vec<i64>,
    services: Vec<i64>,
}

/// The real id behind `id`: itself when it exists already, else the object created for it.
fn real(made: &[i64], id: i64) -> AppResult<i64> {
    if id >= 0 {
        return Ok(id);
    }
    usize::try_from(-1 - id)
        .ok()
        .and_then(|n| made.get(n).copied())
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "placeholder {id} was used before its object was written"
            ))
        })
}

fn real_target(made: &Made, target: Target) -> AppResult<Target> {
    Ok(match target {
        Target::Responder(id) => Target::Responder(real(&made.users, id)?),
        Target::Schedule(id) => Target::Schedule(real(&made.schedules, id)?),
        Target::Team(id) => Target::Team(real(&made.teams, id)?),
    })
}

async fn write_responders(
    tx: &mut OrgTx,
    writes: &[ResponderWrite],
    made: &mut Made,
    now: Timestamp,
) -> AppResult<()> {
    for w in writes {
        if let Some((username, display_name, role)) = &w.create {
            made.users
                .push(tx.insert_user(username, display_name, *role, now).await?);
        }
        let user = real(&made.users, w.user)?;
        if let Some((time_zone, skills)) = &w.profile {
            tx.set_profile(user, time_zone, skills).await?;
        }
        for (kind, address) in &w.methods {
            let id = tx
                .insert_contact_method(user, kind, address, &super::new_secret(), now)
                .await?;
            made.methods.push(id);
        }
        for (method, delay) in &w.rules {
            tx.insert_notification_rule(user, real(&made.methods, *method)?, *delay)
                .await?;
        }
    }
    Ok(())
}

async fn write_teams(
    tx: &mut OrgTx,
    writes: &[TeamWrite],
    made: &mut Made,
    now: Timestamp,
) -> AppResult<()> {
    for w in writes {
        let members = w
            .members
            .iter()
            .map(|m| real(&made.users, *m))
            .collect::<AppResult<Vec<_>>>()?;
        match w.id {
            None => made
                .teams
                .push(tx.insert_team(&w.name, &w.domain, &members, now).await?),
            Some(id) => tx.update_team(id, &w.domain, &members).await?,
        }
    }
    Ok(())
}

async fn write_schedules(
    tx: &mut OrgTx,
    writes: &[ScheduleWrite],
    made: &mut Made,
    now: Timestamp,
) -> AppResult<()> {
    for w in writes {
        let mut layers = w.layers.clone();
        for layer in &mut layers {
            for p in &mut layer.participants {
                *p = real(&made.users, *p)?;
            }
        }
        let layers = to_json(&layers)?;
        match w.id {
            None => made.schedules.push(
                tx.insert_schedule(&w.name, &w.time_zone, &layers, now)
                    .await?,
            ),
            Some(id) => tx.update_schedule(id, &w.time_zone, &layers).await?,
        }
    }
    Ok(())
}

async fn write_policies(
    tx: &mut OrgTx,
    writes: &[PolicyWrite],
    made: &mut Made,
    now: Timestamp,
) -> AppResult<()> {
    for w in writes {
        let mut levels = w.levels.clone();
        for level in &mut levels {
            for t in &mut level.targets {
                *t = real_target(made, *t)?;
            }
        }
        let levels = to_json(&levels)?;
        match w.id {
            None => made
                .policies
                .push(tx.insert_policy(&w.name, w.repeat, &levels, now).await?),
            Some(id) => tx.update_policy(id, w.repeat, &levels).await?,
        }
    }
    Ok(())
}

async fn write_services(
    tx: &mut OrgTx,
    writes: &[ServiceWrite],
    made: &mut Made,
    now: Timestamp,
) -> AppResult<()> {
    // Every new service exists before any dependency on it is stored.
    for w in writes.iter().filter(|w| w.create) {
        made.services.push(
            tx.insert_service(&w.name, &w.description, &w.owner_team, now)
                .await?,
        );
    }
    for w in writes {
        let id = real(&made.services, w.id)?;
        if w.details && !w.create {
            tx.update_service(id, &w.description, &w.owner_team).await?;
        }
        if w.oncall {
            let team = w.team.map(|t| real(&made.teams, t)).transpose()?;
            let policy = w.policy.map(|p| real(&made.policies, p)).transpose()?;
            let deps = w
                .depends_on
                .iter()
                .map(|d| real(&made.services, *d))
                .collect::<AppResult<Vec<_>>>()?;
            tx.set_service_oncall(id, team, policy, &w.tags_json, &deps)
                .await?;
        }
    }
    Ok(())
}

async fn write_rules(
    tx: &mut OrgTx,
    writes: &[RuleWrite],
    made: &Made,
    now: Timestamp,
) -> AppResult<()> {
    for w in writes {
        let target = to_json(&real_target(made, w.target)?)?;
        match w.id {
            None => {
                tx.insert_engagement_rule(
                    &w.name,
                    &w.conditions,
                    &target,
                    w.engaged_as.as_deref(),
                    now,
                )
                .await?;
            }
            Some(id) => {
                tx.update_engagement_rule(id, &w.conditions, &target, w.engaged_as.as_deref())
                    .await?;
            }
        }
    }
    Ok(())
}
