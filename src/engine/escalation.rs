//! The escalation manager: fires each due step of each escalation exactly once. The step is
//! read under a row lock (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite),
//! and its pages, deliveries, timeline entries and the move to the next step commit together:
//! a crash before the commit leaves the step due, a commit leaves it done.

use jiff::{SignedDuration, Timestamp};

use super::CLAIM_AT_ONCE;
use crate::clock::Clock;

use crate::domain::escalation::{Level, Policy, Step, Target};
use crate::domain::schedule::ResponderId;
use crate::domain::timeline::EntryData;
use crate::store::{DeliveryJob, DueEscalation, PagingTx, Result, StoreError};

/// How many steps one transaction fires: one commit (one fsync) for the batch.
const BATCH: i64 = 100;

/// What a pass of `fire_due` did.
#[derive(Debug, Default)]
pub struct Fired {
    /// Incidents whose timelines changed.
    pub incidents: Vec<i64>,
    /// Deliveries now due, leased to the caller in the transactions that fired the steps.
    pub deliveries: Vec<DeliveryJob>,
}

/// Fires due escalation steps until none is due or about `max` have fired. Each transaction
/// also leases the deliveries due by then to `lease.0` until `lease.1`, so a step's pages
/// leave right after its commit. The clock is read per batch, so a long backlog is stamped
/// with the time each batch actually fired.
pub async fn fire_due(
    store: &crate::store::Store,
    clock: &dyn Clock,
    max: usize,
    lease: (&str, SignedDuration),
) -> Result<Fired> {
    let mut fired = Fired::default();
    while fired.incidents.len() < max {
        let now = clock.now();
        let mut tx = store.begin_paging().await?;
        let due = tx.due_escalations(now, BATCH).await?;
        for step in &due {
            fire_step(&mut tx, step, now).await?;
        }
        if !due.is_empty() {
            let jobs = tx
                .claim_deliveries(lease.0, now, now + lease.1, CLAIM_AT_ONCE)
                .await?;
            fired.deliveries.extend(jobs);
        }
        tx.commit().await?;
        fired.incidents.extend(due.iter().map(|d| d.incident_id));
        if due.len() < BATCH as usize {
            break;
        }
    }
    Ok(fired)
}

/// Fires the due steps of incidents opened in the caller's transaction, before it commits, and
/// leases the deliveries due by then (engagement pages too) to `lease.0` until `lease.1`: an
/// incident's first pages then leave right after the one commit that opened it. A step that
/// falls due again at once (a level with nobody on call) is left to the engine's next pass.
pub async fn fire_opened(
    tx: &mut PagingTx,
    incidents: &[i64],
    now: Timestamp,
    lease: (&str, SignedDuration),
) -> Result<Vec<DeliveryJob>> {
    tx.check_fault("fire_opened")?;
    for &incident_id in incidents {
        for step in tx.due_escalations_of(incident_id, now).await? {
            fire_step(tx, &step, now).await?;
        }
    }
    tx.claim_deliveries(lease.0, now, now + lease.1, CLAIM_AT_ONCE)
        .await
}

fn policy_of(due: &DueEscalation) -> Result<Policy> {
    let levels: Vec<Level> = serde_json::from_str(&due.policy.levels_json)
        .map_err(|e| StoreError::Corrupt(format!("policy {} levels: {e}", due.policy.id)))?;
    let repeat = u32::try_from(due.policy.repeat).unwrap_or(0);
    Policy::new(levels, repeat)
        .map_err(|e| StoreError::Corrupt(format!("policy {}: {e}", due.policy.id)))
}

async fn fire_step(tx: &mut PagingTx, due: &DueEscalation, now: Timestamp) -> Result<()> {
    let policy = policy_of(due)?;
    let name = due.policy.name.clone();
    let step = Step {
        round: due.round,
        level: due.level,
    };
    // A step past the last level is the final wait running out.
    let Some(level) = policy.level(step) else {
        tx.record(
            due.incident_id,
            now,
            &[EntryData::EscalationExhausted { policy: name }],
        )
        .await?;
        return tx.advance(due.id, None).await;
    };
    let responders = resolve_targets(tx, &level.targets, now).await?;
    let mut entries = Vec::new();
    let next_due = if responders.is_empty() {
        entries.push(EntryData::LevelSkipped {
            policy: name.clone(),
            level: step.level,
            reason: "nobody is on call for its targets".into(),
        });
        now
    } else {
        let step_key = format!("escalation:{}:{}:{}", due.id, step.round, step.level);
        for responder in responders {
            let Some(page_id) = tx
                .page(due.incident_id, Some(due.id), &step_key, responder, now)
                .await?
            else {
                continue;
            };
            tx.queue_deliveries(page_id, responder, now).await?;
            let user = tx
                .username(responder)
                .await?
                .unwrap_or_else(|| format!("user {responder}"));
            entries.push(EntryData::Paged {
                user,
                policy: name.clone(),
                level: step.level,
                round: step.round,
            });
        }
        now + policy.wait_after(step)
    };
    tx.record(due.incident_id, now, &entries).await?;
    let next = match policy.after(step) {
        Some(next) => (next.round, next.level, next_due),
        // Past the last level: wait once more, then record the exhaustion.
        None => (
            step.round,
            u32::try_from(policy.levels().len()).unwrap_or(u32::MAX),
            next_due,
        ),
    };
    tx.advance(due.id, Some(next)).await
}

/// The responders a level's targets name at `now`: a responder, whoever is on call in a
/// schedule, every member of a team. Duplicates removed, order kept.
pub async fn resolve_targets(
    tx: &mut PagingTx,
    targets: &[Target],
    now: Timestamp,
) -> Result<Vec<ResponderId>> {
    let mut out: Vec<ResponderId> = Vec::new();
    for target in targets {
        let found = match *target {
            Target::Responder(id) => vec![id],
            Target::Schedule(id) => match tx.schedule(id).await? {
                Some(record) => record.schedule()?.on_call_at(now).into_iter().collect(),
                None => Vec::new(),
            },
            Target::Team(id) => tx.team_members(id).await?,
        };
        for responder in found {
            if !out.contains(&responder) {
                out.push(responder);
            }
        }
    }
    Ok(out)
}
