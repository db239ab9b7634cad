//! Retention in the background: once when the engine starts, then every hour, each prunable
//! kind is deleted a bounded batch at a time (see `store/retention.rs`), with a pause between
//! batches so ingestion's writes go first. Several instances may prune at once: a row goes
//! once, whoever deletes it.

use std::time::Duration;

use jiff::SignedDuration;

use crate::clock::Clock;
use crate::store::{Prunable, Store};

/// Rows one statement deletes: a few milliseconds of the writer's time.
const BATCH: i64 = 1000;
/// Between batches, the writer is free for others.
const BREATHER: Duration = Duration::from_millis(20);
/// How often retention runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Prunes every kind of row older than `keep_for`; returns how many of each went.
pub async fn prune_old(
    store: &Store,
    clock: &dyn Clock,
    keep_for: SignedDuration,
) -> crate::store::Result<Vec<(Prunable, u64)>> {
    let cutoff = clock.now() - keep_for;
    let mut pruned = Vec::new();
    for kind in Prunable::ALL {
        let mut gone = 0;
        loop {
            let batch = store.prune(kind, cutoff, BATCH).await?;
            gone += batch;
            if batch < BATCH as u64 {
                break;
            }
            tokio::time::sleep(BREATHER).await;
        }
        pruned.push((kind, gone));
    }
    Ok(pruned)
}
