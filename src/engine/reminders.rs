//! Check-in reminders: a task whose check-in is overdue reminds its assignee through their
//! contact methods, once per check-in interval while it stays overdue. A reminder is a page
//! about the task, so it is delivered, retried and recorded like any page; the task row is
//! read under a row lock and the reminder, its deliveries, its timeline entry and the next
//! reminder time commit together, so each overdue period reminds once, whichever instance runs it.

use jiff::Timestamp;

use super::CLAIM_AT_ONCE;
use super::escalation::Fired;
use crate::clock::Clock;
use crate::domain::timeline::EntryData;
use crate::store::{DueCheckIn, PagingTx, Result, Store};

/// How many reminders one transaction sends out.
const BATCH: i64 = 100;

/// Reminds of every overdue check-in due by now, leasing the deliveries to `lease.0` until
/// `lease.1` in the transactions that queued them.
pub async fn remind_due(
    store: &Store,
    clock: &dyn Clock,
    lease: (&str, jiff::SignedDuration),
) -> Result<Fired> {
    let mut fired = Fired::default();
    loop {
        let now = clock.now();
        let mut tx = store.begin_paging().await?;
        let due = tx.due_check_ins(now, BATCH).await?;
        for check_in in &due {
            remind(&mut tx, check_in, now).await?;
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
            return Ok(fired);
        }
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
