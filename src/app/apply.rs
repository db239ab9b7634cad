//! Declarative configuration: `aplomb apply -f org.toml` sends the whole on-call setup, and
//! the server makes it so: creating what is missing, updating what differs, leaving the rest.
//! Applying the same document twice changes nothing the second time.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::oncall::{
    ContactMethodInput, EngagementRuleInput, LayerInput, LevelInput, PolicyInput, ScheduleInput,
    ServiceOncallInput, TargetInput, TeamInput,
};
use super::{Aplomb, AppError, AppResult, NewUser, require_admin};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::escalation::{EngagedAs, Level, Target};
use crate::domain::schedule::{LayerSpec, ShiftLength};

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
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `admin`, `responder` (default) or `viewer`; applies when the user is created.
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    pub name: String,
    #[serde(default)]
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

/// What applying did, one line per object: "created schedule primary", "unchanged team sre".
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub changes: Vec<String>,
}

impl ApplyReport {
    fn note(&mut self, verb: &str, kind: &str, name: &str) {
        self.changes.push(format!("{verb} {kind} {name}"));
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

    pub async fn apply(&self, actor: &Actor, doc: OrgDocument) -> AppResult<ApplyReport> {
        require_admin(actor)?;
        let mut report = ApplyReport::default();

        for r in doc.responders {
            let existing = self.store.user_by_username(r.username.trim()).await?;
            if existing.is_none() {
                self.create_user(
                    actor,
                    NewUser {
                        username: r.username.clone(),
                        display_name: r.display_name.clone(),
                        password: None,
                        role: r.role.clone(),
                    },
                )
                .await
                .map_err(|e| within("responders", &r.username, e))?;
                report.note("created", "responder", &r.username);
            }
            let mut changed = false;
            if let Some(tz) = &r.time_zone {
                let user = self.user_ref("responders", &r.username).await?;
                let current = self.store.profile(user.id).await?;
                let skills = serde_json::to_string(&r.skills).unwrap_or_default();
                if current.as_ref() != Some(&(tz.clone(), skills)) {
                    self.set_profile(
                        actor,
                        &r.username,
                        super::oncall::ProfileInput {
                            time_zone: tz.clone(),
                            skills: r.skills.clone(),
                        },
                    )
                    .await
                    .map_err(|e| within("responders", &r.username, e))?;
                    changed = true;
                }
            }
            let user = self.user_ref("responders", &r.username).await?;
            let methods = self.store.contact_methods(user.id).await?;
            for method in &r.contact_methods {
                let known = methods
                    .iter()
                    .any(|m| m.kind == method.kind.trim() && m.address == method.address.trim());
                if !known {
                    self.add_contact_method(actor, &r.username, method.clone())
                        .await
                        .map_err(|e| within("responders", &r.username, e))?;
                    changed = true;
                }
            }
            if existing.is_some() {
                report.note(
                    if changed { "updated" } else { "unchanged" },
                    "responder",
                    &r.username,
                );
            }
        }

        let teams = self.store.teams().await?;
        for t in doc.teams {
            let (name, domain, members) = self
                .team_spec(&t)
                .await
                .map_err(|e| within("teams", &t.name, e))?;
            match teams.iter().find(|x| x.name == name) {
                None => {
                    self.store
                        .insert_team(&name, &domain, &members, self.now())
                        .await?;
                    report.note("created", "team", &name);
                }
                Some(current) => {
                    let mut wanted: Vec<String> =
                        t.members.iter().map(|m| m.trim().to_string()).collect();
                    wanted.sort();
                    if current.domain == domain && current.members == wanted {
                        report.note("unchanged", "team", &name);
                    } else {
                        self.store
                            .update_team(current.id, &domain, &members)
                            .await?;
                        report.note("updated", "team", &name);
                    }
                }
            }
        }

        for s in doc.schedules {
            let (name, tz, layers) = self
                .schedule_spec(&s)
                .await
                .map_err(|e| within("schedules", &s.name, e))?;
            match self
                .store
                .schedules()
                .await?
                .into_iter()
                .find(|x| x.name == name)
            {
                None => {
                    self.store
                        .insert_schedule(&name, &tz, &layers, self.now())
                        .await?;
                    report.note("created", "schedule", &name);
                }
                Some(current) if current.time_zone == tz && current.layers_json == layers => {
                    report.note("unchanged", "schedule", &name)
                }
                Some(current) => {
                    self.store.update_schedule(current.id, &tz, &layers).await?;
                    report.note("updated", "schedule", &name);
                }
            }
        }

        for p in doc.escalation_policies {
            let (name, repeat, levels) = self
                .policy_spec(&p)
                .await
                .map_err(|e| within("escalation_policies", &p.name, e))?;
            match self
                .store
                .policies()
                .await?
                .into_iter()
                .find(|x| x.name == name)
            {
                None => {
                    self.store
                        .insert_policy(&name, repeat, &levels, self.now())
                        .await?;
                    report.note("created", "escalation policy", &name);
                }
                Some(current) if current.repeat == repeat && current.levels_json == levels => {
                    report.note("unchanged", "escalation policy", &name)
                }
                Some(current) => {
                    self.store
                        .update_policy(current.id, repeat, &levels)
                        .await?;
                    report.note("updated", "escalation policy", &name);
                }
            }
        }

        // Every service exists before any dependency between them is set.
        let mut created = Vec::new();
        for s in &doc.services {
            let current = self
                .list_services()
                .await?
                .into_iter()
                .find(|x| x.name == s.name.trim());
            match current {
                None => {
                    self.create_service(
                        actor,
                        &s.name,
                        &s.description,
                        s.team.as_deref().unwrap_or(""),
                    )
                    .await
                    .map_err(|e| within("services", &s.name, e))?;
                    created.push(s.name.trim().to_string());
                }
                Some(c) if c.description != s.description.trim() => {
                    self.store
                        .update_service(c.id, s.description.trim(), s.team.as_deref().unwrap_or(""))
                        .await?;
                }
                Some(_) => {}
            }
        }
        for s in doc.services {
            let before = self
                .list_services()
                .await?
                .into_iter()
                .find(|x| x.name == s.name.trim());
            let deps_before = match &before {
                Some(b) => {
                    let edges = self.store.service_dependencies().await?;
                    let mut ids: Vec<i64> = edges
                        .iter()
                        .filter(|(f, _)| *f == b.id)
                        .map(|(_, t)| *t)
                        .collect();
                    ids.sort();
                    ids
                }
                None => Vec::new(),
            };
            self.set_service_oncall(
                actor,
                &s.name,
                ServiceOncallInput {
                    team: s.team.clone(),
                    escalation_policy: s.escalation_policy.clone(),
                    tags: s.tags.clone(),
                    depends_on: s.depends_on.clone(),
                },
            )
            .await
            .map_err(|e| within("services", &s.name, e))?;
            let name = s.name.trim();
            if created.iter().any(|c| c == name) {
                report.note("created", "service", name);
                continue;
            }
            let after = self
                .list_services()
                .await?
                .into_iter()
                .find(|x| x.name == name);
            let edges = self.store.service_dependencies().await?;
            let same = match (&before, &after) {
                (Some(b), Some(a)) => {
                    let mut deps: Vec<i64> = edges
                        .iter()
                        .filter(|(f, _)| *f == a.id)
                        .map(|(_, t)| *t)
                        .collect();
                    deps.sort();
                    b.team_id == a.team_id
                        && b.escalation_policy_id == a.escalation_policy_id
                        && b.tags == a.tags
                        && b.description == a.description
                        && deps == deps_before
                }
                _ => false,
            };
            report.note(if same { "unchanged" } else { "updated" }, "service", name);
        }

        for r in doc.engagement_rules {
            let name = r.name.trim().to_string();
            let (conditions, target, engaged_as) = self
                .rule_spec(&r)
                .await
                .map_err(|e| within("engagement_rules", &name, e))?;
            match self
                .store
                .engagement_rules()
                .await?
                .into_iter()
                .find(|x| x.name == name)
            {
                None => {
                    self.store
                        .insert_engagement_rule(
                            &name,
                            &conditions,
                            &target,
                            engaged_as.as_deref(),
                            self.now(),
                        )
                        .await?;
                    report.note("created", "engagement rule", &name);
                }
                Some(c)
                    if c.conditions_json == conditions
                        && c.target_json == target
                        && c.engaged_as_json == engaged_as =>
                {
                    report.note("unchanged", "engagement rule", &name)
                }
                Some(c) => {
                    self.store
                        .update_engagement_rule(c.id, &conditions, &target, engaged_as.as_deref())
                        .await?;
                    report.note("updated", "engagement rule", &name);
                }
            }
        }
        Ok(report)
    }
}
