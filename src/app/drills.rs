//! Drills: a practice incident declared from a scenario, its script played by the engine
//! (`engine::drills`), and its score against the playbook it ran and the scenario's targets.
//! Any responder may start one; it is seen as its incident is.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{Aplomb, AppError, AppResult, IncidentView};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::drills::{DrillScore, Scenario, ScoreInput, score};
use crate::domain::incident::{Declaration, Incident, Origin, ServiceRef, UserRef};
use crate::domain::review::Draft;
use crate::store::{DrillRecord, IncidentPlaybook};

/// The scenarios aplomb ships, by name: written for the demo organisation.
pub const EXAMPLES: [(&str, &str); 2] = [
    ("outage", include_str!("../../examples/drills/outage.toml")),
    ("breach", include_str!("../../examples/drills/breach.toml")),
];

/// A drill to start.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrillFields {
    /// The scenario, in TOML (see `examples/drills/`): `title`, `type`, `severity`,
    /// `service`, `summary`, `paging` (`participants` or `everyone`), `participants`,
    /// `[targets]` (duration name = "5m") and `[[events]]` (`after`, `kind`: alert,
    /// user_report, change or note, `text`).
    #[schema(
        example = "title = \"Checkout times out\"\nseverity = \"SEV2\"\nparticipants = [\"bob\"]\n\n[[events]]\nafter = \"1m\"\nkind = \"alert\"\ntext = \"checkout-api p99 above 5 s\"\n"
    )]
    #[schema(value_type = crate::app::schema::ScenarioText)]
    pub scenario: String,
}

/// A checked scenario with the people it names, ready to declare.
pub(super) struct DrillStart {
    pub text: String,
    pub scenario: Scenario,
    pub participants: Vec<UserRef>,
}

/// A drill as the API and the pages show it: its incident, its scenario and script, and its
/// score so far (final once the incident is resolved).
#[derive(Debug, Clone)]
pub struct DrillView {
    pub incident: Incident,
    pub drill: DrillRecord,
    pub score: DrillScore,
}

impl Aplomb {
    /// Declares a drill from a scenario: pages whom it says, applies the type's playbook, and
    /// queues the script from now.
    pub async fn start_drill(&self, actor: &Actor, fields: &DrillFields) -> AppResult<DrillView> {
        if !actor.can_act() {
            return Err(AppError::Forbidden("viewers cannot start drills".into()));
        }
        let scenario = Scenario::parse(&fields.scenario)?;
        let declaration = self.drill_declaration(&scenario).await?;
        let mut participants = Vec::new();
        for name in &scenario.participants {
            let user = self.store.user_by_username(name).await?.ok_or_else(|| {
                FieldError::new("scenario", format!("participants: no user named {name:?}"))
            })?;
            if !user.actor().can_act() {
                return Err(FieldError::new(
                    "scenario",
                    format!("participants: {name} is a viewer and cannot respond"),
                )
                .into());
            }
            participants.push(UserRef {
                id: user.id,
                username: user.username,
            });
        }
        let start = DrillStart {
            text: fields.scenario.clone(),
            scenario,
            participants,
        };
        let (view, _) = self
            .open_incident(actor, declaration, Some(&start), None)
            .await?;
        // The script's first events may be due at once.
        self.engine.wake();
        self.drill(actor, view.incident.id).await
    }

    async fn drill_declaration(&self, scenario: &Scenario) -> AppResult<Declaration> {
        let in_scenario = |place: &str, e: FieldError| {
            FieldError::new("scenario", format!("{place}: {}", e.message))
        };
        let types = &self.settings.incident_types;
        let incident_type = match &scenario.incident_type {
            Some(t) => types.parse(t).map_err(|e| in_scenario("type", e))?,
            None => types.fallback().to_string(),
        };
        let mut services = Vec::new();
        if let Some(name) = &scenario.service {
            let catalog = self.store.list_services().await?;
            let found = catalog.iter().find(|s| &s.name == name).ok_or_else(|| {
                FieldError::new("scenario", format!("service: no service named {name:?}"))
            })?;
            services.push(ServiceRef {
                id: found.id,
                name: found.name.clone(),
            });
        }
        Ok(Declaration {
            title: scenario.title.clone(),
            summary: scenario.summary.clone(),
            severity: scenario.severity,
            incident_type,
            private: false,
            services,
            origin: Origin::Drill,
        })
    }

    /// A drill, if `actor` may see its incident.
    pub async fn drill(&self, actor: &Actor, id: i64) -> AppResult<DrillView> {
        let drill = self
            .store
            .drill(id)
            .await?
            .ok_or(AppError::NotFound("drill"))?;
        self.drill_view(actor, drill).await
    }

    /// A drill read from the store, with its incident and score, if `actor` may see it.
    async fn drill_view(&self, actor: &Actor, drill: DrillRecord) -> AppResult<DrillView> {
        let id = drill.incident_id;
        let IncidentView { incident, .. } = self.incident(actor, id).await?;
        let (_, draft) = self.draft_of(&incident, None).await?;
        let playbook = self.store.incident_playbook(id).await?;
        let score = drill_score(&incident, &drill, &draft, playbook.as_ref());
        Ok(DrillView {
            incident,
            drill,
            score,
        })
    }

    /// The newest drills `actor` may see.
    pub async fn drills(&self, actor: &Actor) -> AppResult<Vec<DrillView>> {
        let mut views = Vec::new();
        for drill in self.store.drills().await? {
            match self.drill_view(actor, drill).await {
                Ok(view) => views.push(view),
                Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(views)
    }
}

/// How a drill's response measured up to the playbook it ran and the scenario's targets, read
/// from the review's draft.
pub(super) fn drill_score(
    incident: &Incident,
    drill: &DrillRecord,
    draft: &Draft,
    playbook: Option<&IncidentPlaybook>,
) -> DrillScore {
    let steps: Vec<(String, bool)> = playbook
        .iter()
        .flat_map(|p| &p.steps)
        .map(|s| (s.text.clone(), s.is_checked()))
        .collect();
    let durations: Vec<(&'static str, Option<i64>)> = draft
        .moments
        .durations()
        .iter()
        .map(|(name, secs, _)| (*name, *secs))
        .collect();
    let filled: Vec<_> = incident.roles.iter().map(|r| r.role).collect();
    score(&ScoreInput {
        durations: &durations,
        targets: &drill.targets,
        steps: &steps,
        playbook_roles: playbook.map_or(&[], |p| &p.roles),
        filled: &filled,
    })
}

/// A shipped scenario by its name.
pub fn example(name: &str) -> Result<&'static str, FieldError> {
    EXAMPLES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .ok_or_else(|| {
            let names: Vec<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
            FieldError::new("example", format!("must be one of {}", names.join(", ")))
        })
}
