//! Assembling the team: the organisation (profiles, contact methods, teams, schedules,
//! escalation policies, engagement rules), paging on declaration, and acknowledgement.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Aplomb, AppError, AppResult, require_admin};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::bounded_text;
use crate::domain::catalog::creates_cycle;
use crate::domain::coordination;
use crate::domain::escalation::{
    Conditions, EngagedAs, EngagementRule, IncidentFacts, Level, Policy, Target,
};
use crate::domain::incident::{Incident, RoleKind, UserRef};
use crate::domain::schedule::{LayerSpec, Override, Schedule, Shift, ShiftLength, parse_time_zone};
use crate::domain::timeline::EntryData;
use crate::engine::escalation::resolve_targets;
use crate::secret::{constant_time_eq, hmac_hex};
use crate::store::{ContactMethodRecord, NotificationRuleRecord, PagingTx, ScheduleRecord};

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    /// IANA time zone, e.g. `Europe/Lisbon`.
    pub time_zone: String,
    /// Domains of expertise, e.g. `network`, `database`, `security`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<crate::app::schema::Skill>)]
    pub skills: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactMethodInput {
    /// `email`, `webhook`, `chat`, `sms` or `voice`.
    #[schema(value_type = crate::app::schema::ContactKindName)]
    pub kind: String,
    /// An email address, an `https://` URL, or a phone number in E.164 form (`+351…`).
    pub address: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationRuleInput {
    pub contact_method_id: i64,
    /// Minutes after a page, without acknowledgement, before this method is used.
    pub delay_minutes: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = crate::app::schema::BlankName)]
    pub domain: String,
    /// Usernames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerInput {
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
    /// Local date-time of the first hand-off in the schedule's time zone, e.g. `2026-03-02T09:00`.
    pub start: String,
    pub shift_count: i64,
    /// `hours`, `days` or `weeks`.
    pub shift_unit: String,
    /// Usernames, in rotation order.
    pub participants: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
    pub time_zone: String,
    /// Later layers take precedence where they have someone on call.
    pub layers: Vec<LayerInput>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideInput {
    pub user: String,
    /// RFC 3339 instants, e.g. `2026-03-03T18:00:00Z`.
    #[schema(format = DateTime)]
    pub start: String,
    #[schema(format = DateTime)]
    pub end: String,
}

/// A paging target by name: `{"type": "schedule", "name": "primary"}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    /// `responder`, `schedule` or `team`.
    #[serde(rename = "type")]
    #[schema(value_type = crate::app::schema::TargetKindName)]
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelInput {
    pub delay_minutes: u32,
    pub targets: Vec<TargetInput>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
    /// Extra passes over the levels when nobody acknowledges.
    #[serde(default)]
    pub repeat: u32,
    pub levels: Vec<LevelInput>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceOncallInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Names of services this one depends on; cycles are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EngagementRuleInput {
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
    /// `{"incident_types": [...], "severities": [...], "services": [...], "tags": [...]}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub when: Conditions,
    pub engage: TargetInput,
    /// `incident_lead`, `communications_lead`, `scribe`, or `expert:<skill>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engaged_as: Option<String>,
}

/// Who is on call in a schedule now, and the shifts ahead.
#[derive(Debug, Clone)]
pub struct ScheduleView {
    pub record: ScheduleRecord,
    pub on_call: Option<String>,
    /// When the shift of whoever is on call now began (the first of `shifts` is cut at `at`).
    pub on_call_since: Option<Timestamp>,
    pub shifts: Vec<(String, Shift)>,
}

pub const CONTACT_KINDS: [&str; 5] = ["email", "webhook", "chat", "sms", "voice"];

pub(super) fn check_address(kind: &str, address: &str) -> Result<(), FieldError> {
    let ok = match kind {
        "email" => address.contains('@') && !address.contains(char::is_whitespace),
        "webhook" | "chat" => address.starts_with("https://") || address.starts_with("http://"),
        "sms" | "voice" => {
            address.starts_with('+')
                && address.len() > 4
                && address[1..].chars().all(|c| c.is_ascii_digit())
        }
        _ => {
            return Err(FieldError::new(
                "kind",
                format!("must be one of {}", CONTACT_KINDS.join(", ")),
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "address",
            format!("is not a valid {kind} address"),
        ))
    }
}

pub(super) fn parse_engaged_as(raw: &str) -> Result<EngagedAs, FieldError> {
    match raw.strip_prefix("expert:") {
        Some(skill) if !skill.trim().is_empty() => {
            Ok(EngagedAs::DomainExpert(skill.trim().to_string()))
        }
        Some(_) => Err(FieldError::new(
            "engaged_as",
            "expert:<skill> needs a skill",
        )),
        None => raw
            .parse::<RoleKind>()
            .map(EngagedAs::Role)
            .map_err(|_| FieldError::new("engaged_as", "must be a role slug or expert:<skill>")),
    }
}

impl EngagedAs {
    fn label(&self) -> String {
        match self {
            Self::Role(role) => role.label().to_lowercase(),
            Self::DomainExpert(skill) => format!("{skill} expert"),
        }
    }
}

/// What the names in an input refer to (users, teams, schedules), loaded once. `apply` adds
/// the objects its plan will create, under placeholder ids (see `apply::placeholder`), so one
/// set of validators serves a single object and a whole document, without a query per name.
#[derive(Debug, Clone, Default)]
pub(super) struct Names {
    pub(super) users: Vec<(String, i64)>,
    pub(super) teams: Vec<(String, i64)>,
    pub(super) schedules: Vec<(String, i64)>,
}

impl Names {
    fn find(list: &[(String, i64)], name: &str) -> Option<i64> {
        list.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }

    pub(super) fn user(&self, field: &'static str, username: &str) -> Result<i64, FieldError> {
        let name = username.trim();
        Self::find(&self.users, name)
            .ok_or_else(|| FieldError::new(field, format!("no user named {name:?}")))
    }

    pub(super) fn target(
        &self,
        input: &TargetInput,
        field: &'static str,
    ) -> Result<Target, FieldError> {
        let name = input.name.trim();
        match input.kind.trim() {
            "responder" => Ok(Target::Responder(self.user(field, name)?)),
            "schedule" => Self::find(&self.schedules, name)
                .map(Target::Schedule)
                .ok_or_else(|| FieldError::new(field, format!("no schedule named {name:?}"))),
            "team" => Self::find(&self.teams, name)
                .map(Target::Team)
                .ok_or_else(|| FieldError::new(field, format!("no team named {name:?}"))),
            _ => Err(FieldError::new(
                field,
                "type must be responder, schedule or team",
            )),
        }
    }
}

/// A validated team: (name, domain, member ids).
pub(super) fn team_spec(
    names: &Names,
    input: &TeamInput,
) -> Result<(String, String, Vec<i64>), FieldError> {
    let name = bounded_text("name", &input.name, 1, 100)?;
    let domain = bounded_text("domain", &input.domain, 0, 100)?;
    let mut members = Vec::new();
    for username in &input.members {
        let id = names.user("members", username)?;
        if !members.contains(&id) {
            members.push(id);
        }
    }
    Ok((name, domain, members))
}

/// A validated schedule: (name, time zone, layers).
pub(super) fn schedule_spec(
    names: &Names,
    input: &ScheduleInput,
) -> Result<(String, String, Vec<LayerSpec>), FieldError> {
    let name = bounded_text("name", &input.name, 1, 100)?;
    if input.layers.is_empty() {
        return Err(FieldError::new(
            "layers",
            "a schedule needs at least one layer",
        ));
    }
    let mut specs = Vec::new();
    for layer in &input.layers {
        let mut participants = Vec::new();
        for username in &layer.participants {
            participants.push(names.user("layers.participants", username)?);
        }
        specs.push(LayerSpec {
            name: bounded_text("layers.name", &layer.name, 1, 100)?,
            start: layer.start.trim().to_string(),
            shift: ShiftLength::parse(
                "layers.shift_count",
                layer.shift_count,
                layer.shift_unit.trim(),
            )?,
            participants,
        });
    }
    // Validate the whole schedule before storing it.
    Schedule::from_specs(&input.time_zone, &specs, Vec::new()).map_err(|e| match e.field {
        "participants" => FieldError::new("layers.participants", e.message),
        _ => e,
    })?;
    Ok((name, input.time_zone.trim().to_string(), specs))
}

/// A validated policy: (name, repeat, levels).
pub(super) fn policy_spec(
    names: &Names,
    input: &PolicyInput,
) -> Result<(String, i64, Vec<Level>), FieldError> {
    let name = bounded_text("name", &input.name, 1, 100)?;
    let mut levels = Vec::new();
    for level in &input.levels {
        let mut targets = Vec::new();
        for target in &level.targets {
            targets.push(names.target(target, "levels.targets")?);
        }
        levels.push(Level {
            delay_minutes: level.delay_minutes,
            targets,
        });
    }
    let policy = Policy::new(levels, input.repeat)?;
    Ok((name, i64::from(policy.repeat()), policy.levels().to_vec()))
}

impl Aplomb {
    /// Every escalation policy with its levels.
    pub async fn escalation_policies(
        &self,
    ) -> AppResult<Vec<(crate::store::PolicyRecord, Vec<Level>)>> {
        let policies = self.store.policies().await?;
        policies
            .into_iter()
            .map(|p| {
                let levels = from_json(&p.levels_json)?;
                Ok((p, levels))
            })
            .collect()
    }

    /// Every user, team and schedule by name (see `Names`).
    pub(super) async fn names(&self) -> AppResult<Names> {
        Ok(Names {
            users: (self.store.list_users().await?)
                .into_iter()
                .map(|u| (u.username, u.id))
                .collect(),
            teams: (self.store.teams().await?)
                .into_iter()
                .map(|t| (t.name, t.id))
                .collect(),
            schedules: (self.store.schedules().await?)
                .into_iter()
                .map(|s| (s.name, s.id))
                .collect(),
        })
    }

    async fn user_id(&self, field: &'static str, username: &str) -> AppResult<i64> {
        Ok(self.user_ref(field, username).await?.id)
    }

    /// The id of a responder `actor` may manage: themselves, or anyone for an admin.
    pub(super) async fn managed_user(&self, actor: &Actor, username: &str) -> AppResult<i64> {
        if !(actor.is_admin() || actor.username == username) {
            return Err(AppError::Forbidden(
                "only admins change other responders".into(),
            ));
        }
        // The user is the path's resource: one that does not exist is not found.
        match self.store.user_by_username(username.trim()).await? {
            Some(user) => Ok(user.id),
            None => Err(AppError::NotFound("user")),
        }
    }

    pub async fn set_profile(
        &self,
        actor: &Actor,
        username: &str,
        input: ProfileInput,
    ) -> AppResult<()> {
        let user = self.managed_user(actor, username).await?;
        parse_time_zone("time_zone", &input.time_zone)?;
        let mut skills = Vec::new();
        for skill in &input.skills {
            let skill = coordination::skill("skills", skill)?;
            if !skills.contains(&skill) {
                skills.push(skill);
            }
        }
        let skills = to_json(&skills)?;
        Ok(self
            .store
            .set_profile(user, input.time_zone.trim(), &skills)
            .await?)
    }

    pub async fn add_contact_method(
        &self,
        actor: &Actor,
        username: &str,
        input: ContactMethodInput,
    ) -> AppResult<ContactMethodRecord> {
        let user = self.managed_user(actor, username).await?;
        let kind = input.kind.trim().to_lowercase();
        let address = input.address.trim();
        check_address(&kind, address)?;
        Ok(self
            .store
            .insert_contact_method(user, &kind, address, &super::new_secret(), self.now())
            .await?)
    }

    pub async fn add_notification_rule(
        &self,
        actor: &Actor,
        username: &str,
        input: NotificationRuleInput,
    ) -> AppResult<i64> {
        let user = self.managed_user(actor, username).await?;
        if !(0..=1440).contains(&input.delay_minutes) {
            return Err(FieldError::new("delay_minutes", "must be 0 to 1440").into());
        }
        let methods = self.store.contact_methods(user).await?;
        if !methods.iter().any(|m| m.id == input.contact_method_id) {
            return Err(FieldError::new(
                "contact_method_id",
                "is not one of this responder's contact methods",
            )
            .into());
        }
        Ok(self
            .store
            .insert_notification_rule(user, input.contact_method_id, input.delay_minutes)
            .await?)
    }

    /// A responder's contact methods (admins, or the responder: addresses are personal).
    pub async fn contact_methods_of(
        &self,
        actor: &Actor,
        username: &str,
    ) -> AppResult<Vec<ContactMethodRecord>> {
        let user = self.managed_user(actor, username).await?;
        Ok(self.store.contact_methods(user).await?)
    }

    /// A responder's notification rules (admins, or the responder).
    pub async fn notification_rules_of(
        &self,
        actor: &Actor,
        username: &str,
    ) -> AppResult<Vec<NotificationRuleRecord>> {
        let user = self.managed_user(actor, username).await?;
        Ok(self.store.notification_rules(user).await?)
    }

    /// Gives a webhook contact method a new signing secret and returns the method with it: the
    /// one time it is shown, since the old one may have leaked. The old secret stops signing
    /// new deliveries at once.
    pub async fn rotate_contact_secret(
        &self,
        actor: &Actor,
        username: &str,
        id: i64,
    ) -> AppResult<ContactMethodRecord> {
        let user = self.managed_user(actor, username).await?;
        let method = self
            .store
            .contact_methods(user)
            .await?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or(AppError::NotFound("contact method"))?;
        if method.kind != "webhook" {
            return Err(AppError::Conflict(
                "only webhook contact methods have a signing secret".into(),
            ));
        }
        let secret = super::new_secret();
        if !self.store.set_contact_secret(user, id, &secret).await? {
            return Err(AppError::NotFound("contact method"));
        }
        Ok(ContactMethodRecord { secret, ..method })
    }

    /// Removes a contact method and the notification rules that use it.
    pub async fn remove_contact_method(
        &self,
        actor: &Actor,
        username: &str,
        id: i64,
    ) -> AppResult<()> {
        let user = self.managed_user(actor, username).await?;
        if self.store.delete_contact_method(user, id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("contact method"))
        }
    }

    pub async fn remove_notification_rule(
        &self,
        actor: &Actor,
        username: &str,
        id: i64,
    ) -> AppResult<()> {
        let user = self.managed_user(actor, username).await?;
        if self.store.delete_notification_rule(user, id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("notification rule"))
        }
    }

    pub async fn create_team(&self, actor: &Actor, input: TeamInput) -> AppResult<i64> {
        require_admin(actor)?;
        let names = self.names().await?;
        let (name, domain, members) = team_spec(&names, &input)?;
        Ok(self
            .store
            .insert_team(&name, &domain, &members, self.now())
            .await?)
    }

    pub async fn create_schedule(&self, actor: &Actor, input: ScheduleInput) -> AppResult<i64> {
        require_admin(actor)?;
        let names = self.names().await?;
        let (name, time_zone, layers) = schedule_spec(&names, &input)?;
        Ok(self
            .store
            .insert_schedule(&name, &time_zone, &to_json(&layers)?, self.now())
            .await?)
    }

    async fn schedule_record(&self, id: i64) -> AppResult<(ScheduleRecord, Schedule)> {
        let record = self
            .store
            .schedule(id)
            .await?
            .ok_or(AppError::NotFound("schedule"))?;
        let schedule = record.schedule()?;
        Ok((record, schedule))
    }

    /// Who is on call at `at`, and the final shifts over `[at, until)`, with usernames.
    pub async fn schedule_view(
        &self,
        id: i64,
        at: Timestamp,
        until: Timestamp,
    ) -> AppResult<ScheduleView> {
        let (record, schedule) = self.schedule_record(id).await?;
        let users = self.store.list_users().await?;
        let name = |id: i64| {
            users
                .iter()
                .find(|u| u.id == id)
                .map_or_else(|| format!("user {id}"), |u| u.username.clone())
        };
        Ok(ScheduleView {
            on_call: schedule.on_call_at(at).map(name),
            on_call_since: schedule.shift_began(at),
            shifts: schedule
                .shifts(at, until)
                .into_iter()
                .map(|s| (name(s.responder), s))
                .collect(),
            record,
        })
    }

    pub async fn add_override(
        &self,
        actor: &Actor,
        schedule_id: i64,
        input: OverrideInput,
    ) -> AppResult<i64> {
        if !actor.can_act() {
            return Err(AppError::Forbidden(
                "viewers cannot change schedules".into(),
            ));
        }
        let user = self.user_id("user", &input.user).await?;
        let start = crate::domain::instant("start", &input.start)?;
        let end = crate::domain::instant("end", &input.end)?;
        let (_, mut schedule) = self.schedule_record(schedule_id).await?;
        schedule.add_override(Override {
            responder: user,
            start,
            end,
        })?;
        Ok(self
            .store
            .insert_override(schedule_id, user, start, end)
            .await?)
    }

    pub async fn create_policy(&self, actor: &Actor, input: PolicyInput) -> AppResult<i64> {
        require_admin(actor)?;
        let names = self.names().await?;
        let (name, repeat, levels) = policy_spec(&names, &input)?;
        Ok(self
            .store
            .insert_policy(&name, repeat, &to_json(&levels)?, self.now())
            .await?)
    }

    pub async fn set_service_oncall(
        &self,
        actor: &Actor,
        service: &str,
        input: ServiceOncallInput,
    ) -> AppResult<()> {
        require_admin(actor)?;
        let services = self.store.list_services().await?;
        let by_name = |field: &'static str, name: &str| {
            services
                .iter()
                .find(|s| s.name == name.trim())
                .map(|s| s.id)
                .ok_or_else(|| {
                    FieldError::new(field, format!("no service named {:?}", name.trim()))
                })
        };
        let id = by_name("service", service).map_err(|_| AppError::NotFound("service"))?;
        let team = match input.team.as_deref() {
            Some(name) => Some(
                self.store
                    .teams()
                    .await?
                    .into_iter()
                    .find(|t| t.name == name.trim())
                    .ok_or_else(|| FieldError::new("team", format!("no team named {name:?}")))?
                    .id,
            ),
            None => None,
        };
        let policy = match input.escalation_policy.as_deref() {
            Some(name) => Some(
                self.store
                    .policies()
                    .await?
                    .into_iter()
                    .find(|p| p.name == name.trim())
                    .ok_or_else(|| {
                        FieldError::new(
                            "escalation_policy",
                            format!("no escalation policy named {name:?}"),
                        )
                    })?
                    .id,
            ),
            None => None,
        };
        let deps = input
            .depends_on
            .iter()
            .map(|d| by_name("depends_on", d))
            .collect::<Result<Vec<_>, _>>()?;
        if creates_cycle(&self.store.service_dependencies().await?, id, &deps) {
            return Err(FieldError::new("depends_on", "would create a dependency cycle").into());
        }
        let tags = to_json(&input.tags)?;
        Ok(self
            .store
            .set_service_oncall(id, team, policy, &tags, &deps)
            .await?)
    }

    pub async fn create_engagement_rule(
        &self,
        actor: &Actor,
        input: EngagementRuleInput,
    ) -> AppResult<i64> {
        require_admin(actor)?;
        let name = bounded_text("name", &input.name, 1, 100)?;
        let names = self.names().await?;
        let (conditions, target, engaged_as) = self.rule_spec(&names, &input)?;
        Ok(self
            .store
            .insert_engagement_rule(
                &name,
                &conditions,
                &to_json(&target)?,
                engaged_as.as_deref(),
                self.now(),
            )
            .await?)
    }

    /// A validated rule: (conditions as stored JSON, target, engaged-as as stored JSON).
    pub(super) fn rule_spec(
        &self,
        names: &Names,
        input: &EngagementRuleInput,
    ) -> AppResult<(String, Target, Option<String>)> {
        bounded_text("name", &input.name, 1, 100)?;
        for t in &input.when.incident_types {
            self.settings.incident_types.parse(t).map_err(|_| {
                FieldError::new(
                    "when.incident_types",
                    format!("unknown incident type {t:?}"),
                )
            })?;
        }
        let target = names.target(&input.engage, "engage")?;
        let engaged_as = input
            .engaged_as
            .as_deref()
            .map(parse_engaged_as)
            .transpose()?;
        Ok((
            to_json(&input.when)?,
            target,
            engaged_as.as_ref().map(to_json).transpose()?,
        ))
    }

    /// What assembling `incident` will do, read before its declaration's transaction: the
    /// affected services' escalation policies and the engagement rules that match it.
    pub(super) async fn assembly_plan(&self, incident: &Incident) -> AppResult<AssemblyPlan> {
        let service_ids: Vec<i64> = incident.services.iter().map(|s| s.id).collect();
        let oncall = self.store.services_oncall(&service_ids).await?;
        let mut tags: Vec<String> = Vec::new();
        let mut policies: Vec<(i64, String)> = Vec::new();
        for (policy, tags_json) in &oncall {
            tags.extend(serde_json::from_str::<Vec<String>>(tags_json).unwrap_or_default());
            if let Some(id) = policy
                && !policies.iter().any(|(p, _)| p == id)
                && let Some(record) = self.store.policy(*id).await?
            {
                policies.push((*id, record.name));
            }
        }
        let service_names: Vec<String> = incident.services.iter().map(|s| s.name.clone()).collect();
        let facts = IncidentFacts {
            incident_type: &incident.incident_type,
            severity: incident.severity,
            services: &service_names,
            tags: &tags,
        };
        let mut rules = Vec::new();
        for record in self.store.engagement_rules().await? {
            let rule = EngagementRule {
                name: record.name.clone(),
                when: from_json(&record.conditions_json)?,
                engage: from_json(&record.target_json)?,
                engaged_as: record
                    .engaged_as_json
                    .as_deref()
                    .map(from_json)
                    .transpose()?,
            };
            if rule.matches(&facts) {
                rules.push((record.id, rule));
            }
        }
        Ok(AssemblyPlan {
            policies,
            rules,
            named: Vec::new(),
        })
    }

    /// Assembles the team for a just-declared incident, in its declaration's transaction:
    /// starts the services' escalation policies, pages whoever matching engagement rules name
    /// and fills the roles they engage into.
    pub(super) async fn assemble(
        &self,
        tx: &mut PagingTx,
        incident: &Incident,
        plan: &AssemblyPlan,
        now: Timestamp,
    ) -> AppResult<()> {
        let mut assembled = incident.clone();
        let mut entries = Vec::new();
        for (policy_id, name) in &plan.policies {
            tx.start_escalation(incident.id, *policy_id, now).await?;
            entries.push(EntryData::EscalationStarted {
                policy: name.clone(),
            });
        }
        // Roles are filled after everyone is engaged, so the entries read in that order.
        let mut engaged: Vec<(UserRef, Option<RoleKind>)> = Vec::new();
        for person in &plan.named {
            if let Some(page_id) = tx
                .page(incident.id, None, NAMED_STEP, person.id, now)
                .await?
            {
                tx.queue_deliveries(page_id, person.id, now).await?;
            }
            entries.push(EntryData::Engaged {
                user: person.username.clone(),
                rule: NAMED_RULE.into(),
                engaged_as: None,
            });
            engaged.push((person.clone(), None));
        }
        for (rule_id, rule) in &plan.rules {
            let step_key = format!("engagement:{rule_id}");
            for responder in resolve_targets(tx, &[rule.engage], now).await? {
                let Some(username) = tx.username(responder).await? else {
                    continue;
                };
                if let Some(page_id) = tx
                    .page(incident.id, None, &step_key, responder, now)
                    .await?
                {
                    tx.queue_deliveries(page_id, responder, now).await?;
                }
                entries.push(EntryData::Engaged {
                    user: username.clone(),
                    rule: rule.name.clone(),
                    engaged_as: rule.engaged_as.as_ref().map(EngagedAs::label),
                });
                let role = match &rule.engaged_as {
                    Some(EngagedAs::Role(role)) => Some(*role),
                    _ => None,
                };
                engaged.push((
                    UserRef {
                        id: responder,
                        username,
                    },
                    role,
                ));
            }
        }
        for (user, role) in &engaged {
            match role {
                Some(role) if assembled.holder(*role).is_none() => {
                    entries.extend(assembled.assign(*role, user.clone(), None, now));
                }
                _ => {
                    if assembled.join(user) {
                        entries.push(EntryData::ParticipantAdded {
                            user: user.username.clone(),
                        });
                    }
                }
            }
        }
        tx.save_incident(incident, &assembled, None, now, &entries)
            .await?;
        Ok(())
    }

    /// Acknowledges every outstanding page of an incident: escalation stops, pending
    /// deliveries are cancelled, and the acknowledger joins the incident.
    pub async fn acknowledge(&self, actor: &Actor, id: i64) -> AppResult<bool> {
        self.may_change(actor, id).await?;
        let changed = self
            .store
            .acknowledge(id, actor.id, &actor.username, self.now())
            .await?;
        self.store.acknowledge_alerts(id).await?;
        if changed {
            let me = UserRef {
                id: actor.id,
                username: actor.username.clone(),
            };
            let now = self.now();
            self.store
                .modify_incident(id, Some(actor.id), now, |incident| {
                    Ok(if incident.join(&me) {
                        vec![EntryData::ParticipantAdded {
                            user: me.username.clone(),
                        }]
                    } else {
                        Vec::new()
                    })
                })
                .await?;
            self.check_team_assembled(id).await?;
            self.announce(id).await;
        }
        Ok(changed)
    }

    /// The feed's address (under the server's root) with its key. Calendar apps subscribe by
    /// URL and cannot send a bearer token, so the key in the link stands in for one: it reads
    /// this feed and nothing else. Keys derive from the signing key, so every instance agrees.
    pub async fn calendar_link(&self, feed: &CalendarFeed) -> AppResult<String> {
        match feed {
            CalendarFeed::Schedule(id) => {
                self.schedule_record(*id).await?;
            }
            CalendarFeed::Responder(username) => {
                self.store
                    .user_by_username(username)
                    .await?
                    .ok_or(AppError::NotFound("user"))?;
            }
        }
        Ok(feed.link(&self.signing_key().await?))
    }

    /// Whether `key` is the one in the feed's link.
    pub async fn is_calendar_key(&self, feed: &CalendarFeed, key: &str) -> AppResult<bool> {
        let expected = feed.key(&self.signing_key().await?);
        Ok(constant_time_eq(expected.as_bytes(), key.as_bytes()))
    }

    /// The paged responder of `page_id`, when `signature` is the one in their link.
    pub async fn actor_for_ack_link(
        &self,
        page_id: i64,
        signature: &str,
        signing_key: &str,
    ) -> AppResult<(Actor, i64)> {
        let expected = crate::engine::ack_signature(signing_key, page_id);
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(AppError::NotFound("page"));
        }
        let (incident_id, user_id) = self
            .store
            .page_owner(page_id)
            .await?
            .ok_or(AppError::NotFound("page"))?;
        let user = self
            .store
            .list_users()
            .await?
            .into_iter()
            .find(|u| u.id == user_id)
            .ok_or(AppError::NotFound("page"))?;
        Ok((user.actor(), incident_id))
    }

    /// Records "team assembled" once: every required role filled and someone acknowledged.
    pub(super) async fn check_team_assembled(&self, id: i64) -> AppResult<()> {
        if self.store.has_entry(id, "team_assembled").await? || !self.store.acknowledged(id).await?
        {
            return Ok(());
        }
        let policy = &self.settings.role_policy;
        let now = self.now();
        let (_, written) = self
            .store
            .modify_incident(id, None, now, |incident| {
                if !incident.unfilled_roles(policy).is_empty() {
                    return Ok(Vec::new());
                }
                Ok(vec![EntryData::TeamAssembled {
                    seconds_since_declared: now.duration_since(incident.declared_at).as_secs(),
                }])
            })
            .await?;
        if !written.is_empty() {
            self.announce(id).await;
        }
        Ok(())
    }
}

/// What assembling a declared incident does (see `Aplomb::assembly_plan`).
#[derive(Default)]
pub(super) struct AssemblyPlan {
    /// The affected services' escalation policies: (id, name).
    policies: Vec<(i64, String)>,
    /// The engagement rules that match: (id, rule).
    rules: Vec<(i64, EngagementRule)>,
    /// People paged by name, each joining the incident (a drill's participants).
    named: Vec<UserRef>,
}

impl AssemblyPlan {
    /// Pages only `people`: no escalation policy, no engagement rule.
    pub(super) fn only(people: Vec<UserRef>) -> Self {
        Self {
            named: people,
            ..Self::default()
        }
    }
}

/// The step key of a page to someone the plan names, and the rule its `Engaged` entry gives.
const NAMED_STEP: &str = "named";
const NAMED_RULE: &str = "named by the drill";

/// An escalation policy in words, with who its first level reaches right now.
#[derive(Debug, Clone)]
pub struct PolicySummary {
    pub id: i64,
    pub name: String,
    pub repeat: i64,
    /// One line per level: "after 5 min: schedule checkout-primary, responder carol".
    pub levels: Vec<String>,
    pub first_level_now: Vec<String>,
}

impl Aplomb {
    /// Every policy described for people, resolving its first level at `now`.
    pub async fn policy_summaries(&self, now: Timestamp) -> AppResult<Vec<PolicySummary>> {
        let users = self.store.list_users().await?;
        let teams = self.store.teams().await?;
        let schedules = self.store.schedules().await?;
        let user_name = |id: i64| {
            users
                .iter()
                .find(|u| u.id == id)
                .map_or_else(|| format!("user {id}"), |u| u.username.clone())
        };
        let mut out = Vec::new();
        for record in self.store.policies().await? {
            let levels: Vec<Level> = from_json(&record.levels_json)?;
            let mut lines = Vec::new();
            let mut first_now = Vec::new();
            for (i, level) in levels.iter().enumerate() {
                let mut names = Vec::new();
                for target in &level.targets {
                    match *target {
                        Target::Responder(id) => {
                            names.push(format!("responder {}", user_name(id)));
                            if i == 0 {
                                first_now.push(user_name(id));
                            }
                        }
                        Target::Schedule(id) => {
                            let name = schedules
                                .iter()
                                .find(|s| s.id == id)
                                .map_or("?", |s| s.name.as_str());
                            names.push(format!("schedule {name}"));
                            if i == 0
                                && let Some(on_call) = self
                                    .schedule_view(
                                        id,
                                        now,
                                        now + jiff::SignedDuration::from_hours(1),
                                    )
                                    .await?
                                    .on_call
                            {
                                first_now.push(on_call);
                            }
                        }
                        Target::Team(id) => {
                            let team = teams.iter().find(|t| t.id == id);
                            names.push(format!("team {}", team.map_or("?", |t| t.name.as_str())));
                            if i == 0 {
                                first_now
                                    .extend(team.map(|t| t.members.clone()).unwrap_or_default());
                            }
                        }
                    }
                }
                lines.push(format!(
                    "level {}: {} (then {} min)",
                    i + 1,
                    names.join(", "),
                    level.delay_minutes
                ));
            }
            first_now.dedup();
            out.push(PolicySummary {
                id: record.id,
                name: record.name,
                repeat: record.repeat,
                levels: lines,
                first_level_now: first_now,
            });
        }
        Ok(out)
    }
}

/// An iCalendar feed of on-call shifts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarFeed {
    /// One schedule's shifts.
    Schedule(i64),
    /// One responder's shifts across every schedule.
    Responder(String),
}

impl CalendarFeed {
    /// Where the feed is served, with its key (see `Aplomb::calendar_link`, which also checks
    /// that the feed exists; `signing_key` is `Aplomb::signing_key`).
    pub fn link(&self, signing_key: &str) -> String {
        let path = match self {
            Self::Schedule(id) => format!("/api/v1/schedules/{id}/calendar.ics"),
            Self::Responder(username) => format!("/api/v1/users/{username}/calendar.ics"),
        };
        format!("{path}?key={}", self.key(signing_key))
    }

    /// The feed's key: what the signing key signs for it.
    fn key(&self, signing_key: &str) -> String {
        let subject = match self {
            Self::Schedule(id) => format!("calendar:schedule:{id}"),
            Self::Responder(username) => format!("calendar:user:{username}"),
        };
        hmac_hex(signing_key, &subject)
    }
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> AppResult<T> {
    serde_json::from_str(text)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored JSON is unreadable: {e}")))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(|e| AppError::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_addresses_are_checked_by_kind() {
        assert!(check_address("email", "bob@example.org").is_ok());
        assert_eq!(check_address("email", "bob").unwrap_err().field, "address");
        assert!(check_address("webhook", "https://hooks.example.org/x").is_ok());
        assert!(check_address("sms", "+351912345678").is_ok());
        assert!(check_address("sms", "0912").is_err());
        assert_eq!(check_address("pigeon", "x").unwrap_err().field, "kind");
    }

    #[test]
    fn engaged_as_reads_roles_and_expert_skills() {
        assert_eq!(
            parse_engaged_as("scribe").unwrap(),
            EngagedAs::Role(RoleKind::Scribe)
        );
        assert_eq!(
            parse_engaged_as("expert:security").unwrap(),
            EngagedAs::DomainExpert("security".into())
        );
        assert!(parse_engaged_as("expert:").is_err());
        assert!(parse_engaged_as("boss").is_err());
    }
}
