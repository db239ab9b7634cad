//! Coordinating the response: the changes responders make to production, each with its
//! reference, its reason and the hypothesis it acts on, and its rollback.

use serde::Deserialize;
use utoipa::ToSchema;

use super::investigation::{found, named};
use super::{Aplomb, AppResult};
use crate::domain::access::Actor;
use crate::domain::coordination::{ChangeInput, ChangeState, RawChange};
use crate::domain::timeline::EntryData;
use crate::store::{InvestigationTx, ResponseChangeRecord};

/// A change made to production during the response.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeFields {
    /// What was changed.
    #[schema(example = "edge-proxy")]
    pub system: String,
    #[schema(example = "Rolled the upstream timeout back to 30 s")]
    pub description: String,
    /// A commit, a pull or merge request, or any URL.
    #[schema(example = "https://git.example/edge/pull/812")]
    pub reference: Option<String>,
    /// Why; required while no hypothesis is supported ("acting without a finding: …").
    pub reason: Option<String>,
    /// The hypothesis the change acts on.
    pub hypothesis_id: Option<i64>,
    /// How to undo it.
    pub rollback: Option<String>,
}

/// A change's new state: `{"state": "rolled_back"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEdit {
    #[schema(example = "rolled_back")]
    pub state: String,
}

impl Aplomb {
    pub async fn response_changes(
        &self,
        actor: &Actor,
        id: i64,
    ) -> AppResult<Vec<ResponseChangeRecord>> {
        self.incident(actor, id).await?;
        Ok(self.store.response_changes(id).await?)
    }

    /// Records a change made to production; while no hypothesis is supported it needs a reason,
    /// which the timeline keeps.
    pub async fn record_change(
        &self,
        actor: &Actor,
        id: i64,
        fields: ChangeFields,
    ) -> AppResult<ResponseChangeRecord> {
        let change = ChangeInput::parse(RawChange {
            system: &fields.system,
            description: &fields.description,
            reference: fields.reference.as_deref(),
            reason: fields.reason.as_deref(),
            hypothesis_id: fields.hypothesis_id,
            rollback: fields.rollback.as_deref(),
        })?;
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            if let Some(hid) = change.hypothesis_id {
                named(tx.hypothesis(hid).await, "hypothesis_id", || {
                    format!("this incident has no hypothesis {hid}")
                })?;
            }
            let without_finding = change.check_finding(tx.incident.findings)?;
            let c = tx.add_response_change(&change, actor.id, now).await?;
            let mut entries = vec![EntryData::ResponseChangeRecorded {
                change_id: c.id,
                system: c.system.clone(),
                description: c.description.clone(),
                reference: c.reference.clone(),
                hypothesis_id: c.hypothesis_id,
            }];
            entries.extend(without_finding);
            Ok((c, entries))
        })
        .await
    }

    pub async fn edit_change(
        &self,
        actor: &Actor,
        id: i64,
        change_id: i64,
        edit: ChangeEdit,
    ) -> AppResult<ResponseChangeRecord> {
        let to: ChangeState = edit.state.parse()?;
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let c = found(tx.response_change(change_id).await, "change")?;
            c.state.check_move(to)?;
            tx.roll_back(change_id, now).await?;
            let entry = EntryData::ResponseChangeRolledBack {
                change_id,
                system: c.system,
                description: c.description,
            };
            Ok((
                found(tx.response_change(change_id).await, "change")?,
                vec![entry],
            ))
        })
        .await
    }
}
