//! Playbooks: read by anyone signed in, written by responders and admins, each change a new
//! version naming its reason (and the action item that asked for it); applied when an incident
//! of their type is declared, its checklist then checked step by step on the incident.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{Aplomb, AppError, AppResult, require_responder};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::incident::Incident;
use crate::domain::playbooks::{self, DiffLine, PlaybookContent};
use crate::domain::timeline::EntryData;
use crate::store::{
    ChecklistStep, IncidentPlaybook, InvestigationTx, PlaybookRecord, PlaybookVersion,
    VersionFields,
};

/// A new playbook: `{"incident_type", "service", "steps", "roles", "guidance"}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaybookFields {
    /// One of the server's incident types.
    #[schema(example = "outage")]
    pub incident_type: String,
    /// A service's name: the playbook is for that service's incidents of the type (which it
    /// runs instead of the type's own).
    #[schema(example = "checkout")]
    pub service: Option<String>,
    /// The checklist, in order (at most 50 steps of one line each; blank ones are dropped).
    #[schema(example = json!(["Page the database team", "Check replication lag"]))]
    pub steps: Vec<String>,
    /// Roles to fill: `incident_lead`, `communications_lead`, `scribe`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Engagement rules and where to look first (Markdown, up to 5,000 characters).
    #[schema(value_type = Option<crate::app::schema::LongDescription>)]
    pub guidance: Option<String>,
}

/// A change to a playbook: its whole next version, from the version read.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaybookChange {
    /// The version read; a change from an older one is refused (409).
    #[schema(minimum = 1)]
    pub version: i64,
    pub steps: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[schema(value_type = Option<crate::app::schema::LongDescription>)]
    pub guidance: Option<String>,
    /// Why it changes ("the review of #42 found the cache was never checked").
    #[schema(value_type = crate::app::schema::Reason)]
    pub reason: Option<String>,
    /// The id of the action item that asked for the change.
    pub action_item: Option<i64>,
}

/// `{"checked": true}` checks a step of the incident's checklist; `false` unchecks it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckFields {
    pub checked: bool,
}

impl Aplomb {
    pub async fn playbooks(&self) -> AppResult<Vec<PlaybookRecord>> {
        Ok(self.store.playbooks().await?)
    }

    /// A playbook and every version of it, oldest first.
    pub async fn playbook(&self, id: i64) -> AppResult<(PlaybookRecord, Vec<PlaybookVersion>)> {
        let playbook = self
            .store
            .playbook(id)
            .await?
            .ok_or(AppError::NotFound("playbook"))?;
        Ok((playbook, self.store.playbook_versions(id).await?))
    }

    pub async fn create_playbook(
        &self,
        actor: &Actor,
        fields: &PlaybookFields,
    ) -> AppResult<PlaybookRecord> {
        require_responder(actor)?;
        let incident_type = self
            .settings
            .incident_types
            .parse(&fields.incident_type)
            .map_err(|e| FieldError::new("incident_type", e.message))?;
        let service_id = match fields.service.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(
                self.store
                    .list_services()
                    .await?
                    .into_iter()
                    .find(|s| s.name == name)
                    .ok_or_else(|| {
                        FieldError::new("service", format!("no service named {name:?}"))
                    })?
                    .id,
            ),
        };
        let content = PlaybookContent::parse(
            &fields.steps,
            &fields.roles,
            fields.guidance.as_deref().unwrap_or(""),
        )?;
        let id = self
            .store
            .create_playbook(&incident_type, service_id, &content, actor.id, self.now())
            .await?;
        Ok(self.playbook(id).await?.0)
    }

    pub async fn change_playbook(
        &self,
        actor: &Actor,
        id: i64,
        change: &PlaybookChange,
    ) -> AppResult<PlaybookRecord> {
        require_responder(actor)?;
        self.playbook(id).await?;
        let content = PlaybookContent::parse(
            &change.steps,
            &change.roles,
            change.guidance.as_deref().unwrap_or(""),
        )?;
        let reason = playbooks::reason(change.reason.as_deref())?;
        if let Some(item) = change.action_item {
            let named = self.action_item(actor, item).await.map_err(|e| match e {
                AppError::NotFound(_) => {
                    FieldError::new("action_item", format!("no action item {item}")).into()
                }
                e => e,
            })?;
            // An item that names the playbook it would change is that playbook's to cite.
            if let Some(other) = named.playbook.filter(|p| *p != id) {
                return Err(FieldError::new(
                    "action_item",
                    format!("action item {item} would change playbook {other}, not this one"),
                )
                .into());
            }
        }
        let fields = VersionFields {
            content: &content,
            reason: &reason,
            action_item_id: change.action_item,
        };
        self.store
            .change_playbook(id, change.version, &fields, actor.id, self.now())
            .await
            .map_err(|e| match e {
                crate::store::StoreError::NotFound => AppError::NotFound("playbook"),
                e => e.into(),
            })?;
        Ok(self.playbook(id).await?.0)
    }

    /// What changed from version `from` to version `to`, line by line.
    pub async fn playbook_diff(&self, id: i64, from: i64, to: i64) -> AppResult<Vec<DiffLine>> {
        let (_, versions) = self.playbook(id).await?;
        let lines = |field: &'static str, n: i64| {
            versions
                .iter()
                .find(|v| v.version == n)
                .map(|v| v.content.lines())
                .ok_or_else(|| FieldError::new(field, format!("the playbook has no version {n}")))
        };
        Ok(playbooks::diff(&lines("from", from)?, &lines("to", to)?))
    }

    /// The playbook an incident of this type and these services runs, if any.
    pub(super) async fn playbook_for(
        &self,
        incident: &Incident,
    ) -> AppResult<Option<PlaybookRecord>> {
        let services: Vec<i64> = incident.services.iter().map(|s| s.id).collect();
        Ok(self
            .store
            .playbook_for(&incident.incident_type, &services)
            .await?)
    }

    /// The playbook the incident ran and its checklist; `None` if none applied.
    pub async fn checklist(&self, actor: &Actor, id: i64) -> AppResult<Option<IncidentPlaybook>> {
        self.incident(actor, id).await?;
        Ok(self.store.incident_playbook(id).await?)
    }

    /// Checks (or unchecks) a step of the incident's checklist; it goes on the timeline.
    pub async fn check_step(
        &self,
        actor: &Actor,
        id: i64,
        step: i64,
        fields: &CheckFields,
    ) -> AppResult<ChecklistStep> {
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let by = fields.checked.then_some(actor.id);
            let done = tx
                .check_step(step, by, now)
                .await?
                .ok_or(AppError::NotFound("checklist step"))?;
            let entry = EntryData::ChecklistStepChecked {
                step,
                text: done.text.clone(),
                checked: fields.checked,
            };
            Ok((done, vec![entry]))
        })
        .await
    }
}
