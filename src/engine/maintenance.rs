//! Moves scheduled maintenance on at its set times: `scheduled → in_progress` when its window
//! opens, `in_progress → completed` when it closes, one step per pass (see
//! `domain::maintenance::due_step`). Each move is conditional on the status read, so of
//! several instances exactly one makes it.

use crate::clock::Clock;
use crate::domain::maintenance::due_step;
use crate::store::{Result, Store};

/// Moves every maintenance due by now one step on; how many moved.
pub async fn advance_due(store: &Store, clock: &dyn Clock) -> Result<usize> {
    let now = clock.now();
    let mut moved = 0;
    for m in store.maintenances_due(now).await? {
        let Some((to, at)) = due_step(m.status, m.scheduled_for, m.scheduled_until, now) else {
            continue;
        };
        if store.move_maintenance(m.id, m.status, to, at).await? {
            tracing::info!(maintenance = m.id, status = %to, "maintenance moved on by its schedule");
            moved += 1;
        }
    }
    Ok(moved)
}
