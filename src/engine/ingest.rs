//! The ingestion writer: one task that stores inbound events in batches, one transaction (one
//! fsync) per batch. A request waits for the commit of the batch holding its event, so a 202 is
//! only ever sent for an event that is durably stored; under load, batches grow and the cost
//! of each commit is shared, which is how durable ingestion goes past the disk's fsync rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::app::Announcer;
use crate::clock::Clock;
use crate::domain::access::UserRole;
use crate::domain::incident::UserRef;
use crate::domain::rate::TokenBucket;
use crate::store::{AlertIncidentDefaults, Ingest, Ingested, Ingester, Store, StoreError};

/// The most events one transaction takes.
pub const MAX_BATCH: usize = 512;

/// The user alert-opened incidents are declared by.
pub const SYSTEM_USER: &str = "aplomb";

type Job = (Ingest, oneshot::Sender<Result<Ingested, String>>);

/// Why an event was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The routing key is over its rate: try again in this many seconds.
    RateLimited(u64),
    /// It could not be stored; the sender should retry.
    Unavailable(String),
}

/// How group commit is doing: events per batch is `events / batches`.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub batches: AtomicU64,
    /// Batches that took a shortcut: SQLite's direct connection (see `store::direct`), or one
    /// statement on PostgreSQL.
    pub shortcut_batches: AtomicU64,
    pub events: AtomicU64,
    /// Time spent storing batches (from the transaction's start to its commit), in microseconds.
    pub store_micros: AtomicU64,
}

#[derive(Clone)]
pub struct IngestWriter {
    jobs: mpsc::Sender<Job>,
    pub stats: Arc<IngestStats>,
    clock: Arc<dyn Clock>,
    rate_per_key: u32,
    buckets: Arc<Mutex<HashMap<String, TokenBucket>>>,
}

impl IngestWriter {
    pub fn spawn(
        store: Store,
        clock: Arc<dyn Clock>,
        announcer: Announcer,
        wake: Arc<Notify>,
        incident_type: String,
        rate_per_key: u32,
    ) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(MAX_BATCH * 8);
        let stats = Arc::new(IngestStats::default());
        // One writer: SQLite takes one write transaction at a time anyway, and on PostgreSQL
        // (measured on 2 cores) concurrent writers only made batches smaller.
        let writer = Writer {
            ingester: store.ingester(),
            store,
            clock: clock.clone(),
            announcer,
            wake,
            incident_type,
            stats: stats.clone(),
            defaults: None,
        };
        tokio::spawn(writer.run(queue));
        Self {
            jobs,
            stats,
            clock,
            rate_per_key,
            buckets: Arc::default(),
        }
    }

    /// Stores one event; resolves once its batch is committed.
    pub async fn submit(&self, event: Ingest) -> Result<Ingested, Refused> {
        self.admit(event.routing_key())?;
        let stopped = || Refused::Unavailable("the ingestion writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((event, reply))
            .await
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(Refused::Unavailable)
    }

    /// The per-key rate limit (per instance).
    fn admit(&self, routing_key: &str) -> Result<(), Refused> {
        let now = self.clock.now();
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| Refused::Unavailable("rate limiter poisoned".into()))?;
        if buckets.len() > 100_000 {
            // Keys seen once and never again should not grow the map forever.
            buckets.clear();
        }
        buckets
            .entry(routing_key.to_string())
            .or_insert_with(|| TokenBucket::new(self.rate_per_key, now))
            .take(self.rate_per_key, now)
            .map_err(Refused::RateLimited)
    }
}

/// One writer task: takes whatever events are queued, stores them in one transaction, and
/// answers their requests.
struct Writer {
    ingester: Ingester,
    store: Store,
    clock: Arc<dyn Clock>,
    announcer: Announcer,
    wake: Arc<Notify>,
    incident_type: String,
    stats: Arc<IngestStats>,
    defaults: Option<AlertIncidentDefaults>,
}

impl Writer {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
            self.store_batch(&mut batch).await;
        }
    }

    async fn store_batch(&mut self, batch: &mut Vec<Job>) {
        let (events, replies): (Vec<Ingest>, Vec<_>) = batch.drain(..).unzip();
        let started = Instant::now();
        let result = match ensure_defaults(
            &self.store,
            &mut self.defaults,
            &self.incident_type,
            self.clock.as_ref(),
        )
        .await
        {
            Ok(d) => self.ingester.ingest(&events, d, self.clock.now()).await,
            Err(e) => Err(e),
        };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats
            .shortcut_batches
            .store(self.ingester.shortcut_batches(), Ordering::Relaxed);
        self.stats
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.stats.store_micros.fetch_add(micros, Ordering::Relaxed);
        match result {
            Ok(outcomes) => {
                let mut changed: Vec<i64> = Vec::new();
                let mut opened = false;
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    if let Ingested::Stored {
                        incident,
                        opened: o,
                    } = &outcome
                    {
                        changed.extend(incident);
                        opened |= *o;
                    }
                    let _ = reply.send(Ok(outcome));
                }
                if opened {
                    self.wake.notify_one();
                }
                changed.sort_unstable();
                changed.dedup();
                for id in changed {
                    self.announcer.announce(id).await;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = replies.len(), "storing a batch of events failed");
                for reply in replies {
                    let _ = reply.send(Err("the event could not be stored; retry".into()));
                }
            }
        }
    }
}

/// Finds or creates the automation user that declares alert-opened incidents.
async fn ensure_defaults<'a>(
    store: &Store,
    cached: &'a mut Option<AlertIncidentDefaults>,
    incident_type: &str,
    clock: &dyn Clock,
) -> Result<&'a AlertIncidentDefaults, StoreError> {
    if cached.is_none() {
        let user = match store.user_by_username(SYSTEM_USER).await? {
            Some(user) => user,
            None => match store
                .insert_user(
                    SYSTEM_USER,
                    "aplomb (automation)",
                    None,
                    UserRole::Viewer,
                    clock.now(),
                )
                .await
            {
                Ok(user) => user,
                // Another instance created it meanwhile.
                Err(StoreError::Conflict(_)) => store
                    .user_by_username(SYSTEM_USER)
                    .await?
                    .ok_or(StoreError::NotFound)?,
                Err(e) => return Err(e),
            },
        };
        *cached = Some(AlertIncidentDefaults {
            incident_type: incident_type.to_string(),
            declared_by: UserRef {
                id: user.id,
                username: user.username,
            },
        });
    }
    cached.as_ref().ok_or(StoreError::NotFound)
}
