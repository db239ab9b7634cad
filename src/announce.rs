//! Telling live subscribers (pages, API streams) that a change was committed. It sits below
//! the application and the engine, which both announce.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::store::Store;

/// Sent to live subscribers after a change to an incident is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentChanged {
    pub incident_id: i64,
}

/// Announced for a change to what the status page shows that no incident holds: its
/// components, a maintenance (no incident has id 0).
pub const STATUS_PAGE_CHANGED: i64 = 0;

/// At most one announcement per incident in this interval: during an alert storm every batch
/// changes the incident, and each announcement makes every open page fetch an update.
const COALESCE: Duration = Duration::from_millis(500);

/// Tells live subscribers that a committed change happened. With a listener on PostgreSQL the
/// announcement goes through the database, so every instance hears it (this one too).
#[derive(Clone)]
pub struct Announcer {
    store: Store,
    changes: broadcast::Sender<IncidentChanged>,
    /// True once changes are announced through PostgreSQL `LISTEN/NOTIFY`.
    cross_instance: Arc<AtomicBool>,
    /// Per incident: when it was last announced, and whether a later announcement is already
    /// waiting (it will carry every change committed before it goes out).
    recent: Arc<Mutex<HashMap<i64, Sent>>>,
    /// Where a waiting announcement waits: the main runtime, whichever task announced (on
    /// SQLite the ingestion writer announces from a runtime of its own, kept for storing).
    runtime: tokio::runtime::Handle,
}

#[derive(Clone, Copy)]
struct Sent {
    at: Instant,
    waiting: bool,
}

impl Announcer {
    pub fn new(store: Store, changes: broadcast::Sender<IncidentChanged>) -> Self {
        Self {
            store,
            changes,
            cross_instance: Arc::default(),
            recent: Arc::default(),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Feeds changes announced by every instance (PostgreSQL) into this one's subscribers.
    pub async fn start_listening(&self) -> anyhow::Result<()> {
        let changes = self.changes.clone();
        let listening = self
            .store
            .listen_changes(move |incident_id| {
                let _ = changes.send(IncidentChanged { incident_id });
            })
            .await?;
        self.cross_instance.store(listening, Ordering::Relaxed);
        Ok(())
    }

    /// Announces a committed change to `incident_id`: at once, unless the incident was
    /// announced less than `COALESCE` ago; then once when that interval is over.
    pub async fn announce(&self, incident_id: i64) {
        let now = Instant::now();
        let wait = {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() > 1024 {
                recent.retain(|_, s| s.waiting || now.duration_since(s.at) < COALESCE);
            }
            match recent.get_mut(&incident_id) {
                Some(s) if s.waiting => return,
                Some(s) if now.duration_since(s.at) < COALESCE => {
                    s.waiting = true;
                    Some(s.at + COALESCE - now)
                }
                _ => {
                    recent.insert(
                        incident_id,
                        Sent {
                            at: now,
                            waiting: false,
                        },
                    );
                    None
                }
            }
        };
        match wait {
            None => self.send(incident_id).await,
            Some(wait) => {
                let announcer = self.clone();
                self.runtime.spawn(async move {
                    tokio::time::sleep(wait).await;
                    if let Some(s) = announcer
                        .recent
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_mut(&incident_id)
                    {
                        *s = Sent {
                            at: Instant::now(),
                            waiting: false,
                        };
                    }
                    announcer.send(incident_id).await;
                });
            }
        }
    }

    async fn send(&self, incident_id: i64) {
        if self.cross_instance.load(Ordering::Relaxed) {
            match self.store.notify_changed(incident_id).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "could not announce a change to other instances")
                }
            }
        }
        // No subscribers is normal; nothing is lost, the timeline is in the database.
        let _ = self.changes.send(IncidentChanged { incident_id });
    }
}
