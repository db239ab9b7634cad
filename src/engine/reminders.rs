//! Reminders of what the response owes on a rhythm:
//! - a task whose check-in is overdue reminds its assignee, once per check-in interval while
//!   it stays overdue;
//! - an incident whose status update is overdue (see `domain::communication::update_due`)
//!   reminds its communications lead, or its incident lead while that role is empty, once per
//!   update interval while it stays overdue and not snoozed.
//!
//! - an action item's owner is reminded a day before it is due, when it falls due, and daily
//!   while it stays overdue.
//!
//! A reminder is a page with its purpose, so it is delivered, retried and recorded like any
//! page; the task or incident row is read under a row lock and the reminder, its deliveries,
//! its timeline entry and the next reminder time commit together, so each overdue period
//! reminds once, whichever instance runs it.

use jiff::Timestamp;

use super::CLAIM_AT_ONCE;
use super::escalation::Fired;
use crate::clock::Clock;
use crate::domain::action_items::next_reminder;
use crate::domain::communication::{CadencePolicy, update_due};
use crate::domain::timeline::EntryData;
use crate::store::{DueCheckIn, DueUpdate, PagingTx, Result, Store};

/// How many reminders one transaction sends out.
const BATCH: i64 = 100;

/// What one batch of reminders did: how many due rows it read (fewer than `BATCH` makes it
/// the last), the incidents it touched, and whether it queued deliveries.
struct Batch {
    read: usize,
    incidents: Vec<i64>,
    queued: bool,
}

/// One kind of reminder: reminds of what is due at `now`, up to `BATCH`, in `tx`. (A trait
/// rather than an async closure so that its future is known to be `Send`, as the engine's
/// task needs.)
trait Reminding {
    fn batch<'a>(
        &'a self,
        tx: &'a mut PagingTx,
        now: Timestamp,
    ) -> impl Future<Output = Result<Batch>> + Send + 'a;
}

/// Runs `reminding` over what is due, one transaction a batch, until a batch comes up short;
/// the deliveries a batch queued are leased to `lease.0` until `lease.1` in its transaction.
async fn in_batches(
    store: &Store,
    clock: &dyn Clock,
    lease: (&str, jiff::SignedDuration),
    reminding: &impl Reminding,
) -> Result<Fired> {
    let mut fired = Fired::default();
    loop {
        let now = clock.now();
        let mut tx = store.begin_paging().await?;
        let done = reminding.batch(&mut tx, now).await?;
        if done.queued {
            let jobs = tx
                .claim_deliveries(lease.0, now, now + lease.1, CLAIM_AT_ONCE)
                .await?;
            fired.deliveries.extend(jobs);
        }
        tx.commit().await?;
        fired.incidents.extend(done.incidents);
        if done.read < BATCH as usize {
            return Ok(fired);
        }
    }
}

/// Reminds of every overdue check-in due by now.
pub async fn remind_due(
    store: &Store,
    clock: &dyn Clock,
    lease: (&str, jiff::SignedDuration),
) -> Result<Fired> {
    in_batches(store, clock, lease, &CheckIns).await
}

struct CheckIns;

impl Reminding for CheckIns {
    async fn batch(&self, tx: &mut PagingTx, now: Timestamp) -> Result<Batch> {
        let due = tx.due_check_ins(now, BATCH).await?;
        for check_in in &due {
            remind(tx, check_in, now).await?;
        }
        Ok(Batch {
            read: due.len(),
            incidents: due.iter().map(|d| d.incident_id).collect(),
            queued: !due.is_empty(),
        })
    }
}

async fn remind(tx: &mut PagingTx, due: &DueCheckIn, now: Timestamp) -> Result<()> {
    // A task that no longer expects check-ins (finished, unassigned) stops reminding.
    let (Some(assignee), Some(again)) = (due.assignee_id, due.cadence.remind_again(now)) else {
        return tx.remind_again(due.task_id, None).await;
    };
    if let Some(page_id) = tx.reminder_page(due, assignee, now).await? {
        let steps = tx.queue_deliveries(page_id, assignee, now).await?;
        let name = tx
            .username(assignee)
            .await?
            .unwrap_or_else(|| format!("user {assignee}"));
        let entry = EntryData::CheckInOverdue {
            task_id: due.task_id,
            title: due.title.clone(),
            assignee: name,
            unreachable: steps.is_empty(),
        };
        tx.record(due.incident_id, now, &[entry]).await?;
    }
    tx.remind_again(due.task_id, Some(again)).await
}

/// Reminds of every overdue status update, and works out when each incident whose cadence
/// changed is next due.
pub async fn remind_updates(
    store: &Store,
    clock: &dyn Clock,
    policy: &CadencePolicy,
    lease: (&str, jiff::SignedDuration),
) -> Result<Fired> {
    in_batches(store, clock, lease, &Updates(policy)).await
}

struct Updates<'p>(&'p CadencePolicy);

impl Reminding for Updates<'_> {
    async fn batch(&self, tx: &mut PagingTx, now: Timestamp) -> Result<Batch> {
        let due = tx.due_updates(now, BATCH).await?;
        let mut reminded = Vec::new();
        for incident in &due {
            if remind_update(tx, incident, self.0, now).await? {
                reminded.push(incident.incident_id);
            }
        }
        Ok(Batch {
            read: due.len(),
            queued: !reminded.is_empty(),
            incidents: reminded,
        })
    }
}

/// Whether it reminded anyone (or recorded that nobody could be).
async fn remind_update(
    tx: &mut PagingTx,
    incident: &DueUpdate,
    policy: &CadencePolicy,
    now: Timestamp,
) -> Result<bool> {
    let id = incident.incident_id;
    let told = tx.last_told(id).await?;
    let Some(due) = update_due(
        policy.of(incident.severity),
        incident.active,
        incident.declared_at,
        told,
    ) else {
        tx.look_at_updates_again(id, None).await?;
        return Ok(false);
    };
    let next = due.next_reminder(now, incident.snoozed_until);
    let snoozed = incident.snoozed_until.is_some_and(|s| s > now);
    let (Some(period), false) = (due.period(now), snoozed) else {
        tx.look_at_updates_again(id, Some(next)).await?;
        return Ok(false);
    };
    // The period is named by the due time it belongs to, so a reminder a later update
    // makes due again starts afresh, and a repeat of this pass reminds nobody twice.
    let key = format!("{}:{period}", due.at.as_millisecond());
    let owner = tx.update_owner(id).await?;
    let (page, unreachable) = match owner {
        Some(user) => match tx.update_reminder_page(id, &key, user, now).await? {
            Some(page_id) => (
                true,
                tx.queue_deliveries(page_id, user, now).await?.is_empty(),
            ),
            None => (false, false),
        },
        // Nobody to page: the timeline says so, once a pass (the row lock and the next look
        // committed with it keep passes a period apart).
        None => (true, false),
    };
    if page {
        let reminded = match owner {
            Some(user) => Some(
                tx.username(user)
                    .await?
                    .unwrap_or_else(|| format!("user {user}")),
            ),
            None => None,
        };
        let entry = EntryData::UpdateOverdue {
            first: due.first,
            due_at: due.at,
            reminded,
            unreachable,
        };
        tx.record(id, now, &[entry]).await?;
    }
    tx.look_at_updates_again(id, Some(next)).await?;
    Ok(page)
}

/// Reminds the owners of action items due soon or overdue (see
/// `domain::action_items::next_reminder`). An
/// item's reminder is a page about it; its owner with no contact method is not reminded, and
/// the item is looked at again at its next reminder time.
pub async fn remind_action_items(
    store: &Store,
    clock: &dyn Clock,
    lease: (&str, jiff::SignedDuration),
) -> Result<Fired> {
    in_batches(store, clock, lease, &ActionItems).await
}

struct ActionItems;

impl Reminding for ActionItems {
    async fn batch(&self, tx: &mut PagingTx, now: Timestamp) -> Result<Batch> {
        let due = tx.due_action_items(now, BATCH).await?;
        let mut queued = false;
        for item in &due {
            if let Some(owner) = item.owner_id
                && let Some(page_id) = tx.action_item_reminder_page(item, owner, now).await?
            {
                queued |= !tx.queue_deliveries(page_id, owner, now).await?.is_empty();
            }
            let again = next_reminder(item.state, item.owner_id.is_some(), item.due_at, now);
            tx.remind_of_action_item(item.id, again).await?;
        }
        Ok(Batch {
            read: due.len(),
            incidents: Vec::new(),
            queued,
        })
    }
}
