//! Telling live subscribers (pages, API streams) that a change was committed. It sits below
//! the application and the engine, which both announce.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::broadcast;

use crate::store::Store;

/// Sent to live subscribers after a change to an incident is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentChanged {
    pub incident_id: i64,
}

/// Tells live subscribers that a committed change happened. With a listener on PostgreSQL the
/// announcement goes through the database, so every instance hears it (this one too).
#[derive(Clone)]
pub struct Announcer {
    store: Store,
    changes: broadcast::Sender<IncidentChanged>,
    /// True once changes are announced through PostgreSQL `LISTEN/NOTIFY`.
    cross_instance: Arc<AtomicBool>,
}

impl Announcer {
    pub fn new(store: Store, changes: broadcast::Sender<IncidentChanged>) -> Self {
        Self {
            store,
            changes,
            cross_instance: Arc::default(),
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

    pub async fn announce(&self, incident_id: i64) {
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
