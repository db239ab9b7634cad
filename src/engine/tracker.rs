//! What an external issue tracker is told of action items: each creation and change, POSTed
//! as JSON signed like every aplomb webhook, leased and retried like a page's deliveries
//! (`super::backoff`). The body carries the item as it stood after the event.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::channels::Channels;
use super::{MAX_ATTEMPTS, backoff};
use crate::config::Tracker;
use crate::store::{Attempt, TrackerJob};

/// One attempt at sending `job` at `now` to `tracker`.
pub async fn send(
    channels: &Channels,
    tracker: Option<&Tracker>,
    job: &TrackerJob,
    now: Timestamp,
) -> Attempt {
    // Queued while a tracker was configured, and it no longer is: retrying cannot help.
    let Some(tracker) = tracker else {
        return Attempt::GiveUp("no tracker is configured".into());
    };
    let body = match event(job, now) {
        Ok(body) => body.to_string(),
        Err(e) => return Attempt::GiveUp(format!("the stored event is unreadable: {e}")),
    };
    match channels
        .post_signed(&tracker.url, &tracker.secret, body, now)
        .await
    {
        Ok(receipt) => Attempt::Sent(receipt),
        Err(e) if job.attempts + 1 >= MAX_ATTEMPTS => Attempt::GiveUp(e),
        Err(e) => Attempt::Retry(e, now + backoff(job.attempts + 1)),
    }
}

/// `{"type", "id", "created_at", "action_item"}`: `id` is the event's, the same on every
/// retry, so a tracker can drop a repeat.
fn event(job: &TrackerJob, now: Timestamp) -> serde_json::Result<Value> {
    let item: Value = serde_json::from_str(&job.body)?;
    Ok(json!({
        "type": job.event,
        "id": format!("trk_{}", job.id),
        "created_at": now.to_string(),
        "action_item": item,
    }))
}
