//! Server-sent events: tell a browser or client that an incident changed, so it refreshes.
//! Only incidents the subscriber may see are announced to them.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use crate::app::AppResult;
use crate::domain::access::Actor;

/// Events for one incident (`Some(id)`) or for every incident `actor` may see (`None`).
pub async fn stream(
    state: AppState,
    actor: Actor,
    only: Option<i64>,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    if let Some(id) = only {
        state.incident(&actor, id).await?;
    }
    let changes = state.subscribe();
    let shutdown = state.shutdown.clone();
    let events = futures_util::stream::unfold(
        (changes, shutdown, state, actor),
        move |(mut changes, mut shutdown, state, actor)| async move {
            loop {
                let changed = tokio::select! {
                    changed = changes.recv() => changed,
                    _ = shutdown.changed() => return None,
                };
                let id = match changed {
                    Ok(c) if only.is_none_or(|id| id == c.incident_id) => c.incident_id,
                    Ok(_) => continue,
                    // Missed some: say "something changed" and let the client reload.
                    Err(RecvError::Lagged(_)) => only.unwrap_or(0),
                    Err(RecvError::Closed) => return None,
                };
                if id != 0 && !state.can_view(&actor, id).await.unwrap_or(false) {
                    continue;
                }
                let event = Event::default().event("changed").data(id.to_string());
                return Some((Ok(event), (changes, shutdown, state, actor)));
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
