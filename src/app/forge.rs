//! Changes from code forges (CONTRACTS §10): a webhook proven with its integration's secret
//! records each change it reports on every incident it names, as made by the automation user,
//! once per incident and reference, and a redelivered delivery not at all.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::coordination::add_change;
use super::{Aplomb, AppError, AppResult};
use crate::domain::FieldError;
use crate::domain::coordination::{ChangeInput, RawChange};
use crate::domain::forge::{self, DELIVERY_MEMORY_DAYS, ForgeEvent, ForgeProof};
use crate::store::StoreError;

/// One forge webhook as it arrived.
pub struct ForgeDelivery<'a> {
    pub routing_key: &'a str,
    pub event: ForgeEvent,
    pub proof: ForgeProof<'a>,
    /// The forge's id for this delivery (GitHub's `X-GitHub-Delivery`, GitLab's
    /// `X-Gitlab-Event-UUID`); a redelivery carries the same one.
    pub delivery: Option<&'a str>,
    /// The raw body: signatures are over its bytes.
    pub body: &'a [u8],
}

/// What a forge webhook recorded.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ForgeOutcome {
    /// The changes recorded, one per incident named.
    pub recorded: Vec<ForgeRecorded>,
    /// Changes the incident had with the same reference already: not recorded again.
    pub already_recorded: Vec<ForgeRecorded>,
    /// Incidents named that do not exist.
    pub unknown_incidents: Vec<i64>,
    /// The delivery was taken before; nothing was recorded again.
    pub redelivery: bool,
}

/// A response change a forge's delivery recorded (or had recorded before) on an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct ForgeRecorded {
    pub incident_id: i64,
    pub change_id: i64,
}

impl Aplomb {
    /// Takes a forge's webhook: checks it proves the integration's secret, then records each
    /// change it reports on each incident it names (once per incident and reference), and
    /// remembers its delivery id only after all of that is committed.
    pub async fn take_forge_webhook(&self, d: ForgeDelivery<'_>) -> AppResult<ForgeOutcome> {
        let now = self.now();
        let (integration, secret) = self
            .store
            .forge_integration(d.routing_key)
            .await?
            .ok_or(AppError::NotFound("forge integration"))?;
        d.proof
            .verify(&secret, d.body, now)
            .map_err(AppError::BadSignature)?;
        if let Some(delivery) = d.delivery
            && self
                .store
                .forge_delivery_taken(integration, delivery)
                .await?
        {
            return Ok(ForgeOutcome {
                redelivery: true,
                ..ForgeOutcome::default()
            });
        }
        let body: Value = serde_json::from_slice(d.body)
            .map_err(|e| FieldError::new("body", format!("is not JSON: {e}")))?;
        let mut changes = Vec::new();
        for change in forge::changes(d.event, &body)? {
            let input = ChangeInput::parse(RawChange {
                system: &change.system,
                description: &change.description,
                reference: change.reference.as_deref(),
                reason: None,
                hypothesis_id: None,
                rollback: change.rollback.as_deref(),
            })?;
            changes.push((change.incidents, input));
        }
        let author = self.store.system_user(now).await?.id;
        let mut outcome = ForgeOutcome::default();
        for (incidents, input) in &changes {
            for &incident_id in incidents {
                self.record_forge_change(incident_id, input, d.event, author, now, &mut outcome)
                    .await?;
            }
        }
        // Only now: a delivery that failed half-way is taken again in full when redelivered,
        // and what it recorded the first time is recognised by its reference.
        if let Some(delivery) = d.delivery {
            let forget_before = now - jiff::SignedDuration::from_hours(24 * DELIVERY_MEMORY_DAYS);
            self.store
                .take_forge_delivery(integration, delivery, now, forget_before)
                .await?;
        }
        outcome.unknown_incidents.sort_unstable();
        outcome.unknown_incidents.dedup();
        Ok(outcome)
    }

    async fn record_forge_change(
        &self,
        incident_id: i64,
        input: &ChangeInput,
        event: ForgeEvent,
        author: i64,
        now: Timestamp,
        outcome: &mut ForgeOutcome,
    ) -> AppResult<()> {
        let mut tx = match self.store.begin_investigation(incident_id).await {
            Err(StoreError::NotFound) => {
                outcome.unknown_incidents.push(incident_id);
                return Ok(());
            }
            tx => tx?,
        };
        // A private incident is as closed to a forge as to anyone outside it: nothing is
        // recorded there, and the answer is the same as for an incident that does not exist.
        if tx.incident.private {
            outcome.unknown_incidents.push(incident_id);
            return Ok(());
        }
        if let Some(reference) = &input.reference
            && let Some(change_id) = tx.change_with_reference(reference).await?
        {
            tx.commit(author, now, &[]).await?;
            outcome.already_recorded.push(ForgeRecorded {
                incident_id,
                change_id,
            });
            return Ok(());
        }
        // A forge cannot say why a change was made: while there is no finding, the review
        // sees that this one came in unexplained.
        let input = ChangeInput {
            reason: (tx.incident.findings == 0)
                .then(|| format!("recorded from {} without a finding", event.label())),
            ..input.clone()
        };
        let (change, entries) = add_change(&mut tx, &input, author, now).await?;
        tx.commit(author, now, &entries).await?;
        self.announce(incident_id).await;
        outcome.recorded.push(ForgeRecorded {
            incident_id,
            change_id: change.id,
        });
        Ok(())
    }
}
