//! The ingestion writer: one writer (a thread of its own on SQLite) that stores inbound events
//! in batches, one transaction (one fsync) per batch. A request waits for the commit of the
//! batch holding its event, so a 202 is only ever sent for an event that is durably stored;
//! under load, batches grow and the cost of each commit is shared, which is how durable
//! ingestion goes past the disk's fsync rate.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::announce::Announcer;
use crate::clock::Clock;
use crate::domain::rate::TokenBucket;
use crate::metrics::{self, Histogram};
use crate::store::{
    AlertIncidentDefaults, Backend, BeforeCommit, DeliveryJob, Ingest, Ingested, Ingester,
    PagingTx, Store, StoreError,
};

use super::EngineLink;

/// The most events one transaction takes.
pub const MAX_BATCH: usize = 512;

/// One submission: its events (a webhook's alerts travel together, so they share a batch) and
/// where their outcomes go, in the same order.
struct Job {
    events: Vec<Ingest>,
    reply: oneshot::Sender<Vec<Result<Ingested, Refused>>>,
}

/// Why an event was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The routing key is over its rate: try again in this many seconds.
    RateLimited(u64),
    /// It could not be stored; the sender should retry.
    Unavailable(String),
}

/// How group commit is doing. Batches and events stored are the batch-size histogram's count
/// and sum; time spent storing is the commit-time histogram's sum.
#[derive(Debug)]
pub struct IngestStats {
    /// Events in each batch stored.
    pub batch_events: Histogram,
    /// Each batch's time from its transaction's start to its commit.
    pub commit_seconds: Histogram,
    /// Batches stored as one statement committed on its own (PostgreSQL only).
    pub shortcut_batches: AtomicU64,
    /// Routing keys the rate limiter holds a bucket for (only keys the writer routes).
    pub rate_buckets: AtomicU64,
}

impl Default for IngestStats {
    fn default() -> Self {
        Self {
            batch_events: Histogram::new(metrics::SIZES),
            commit_seconds: Histogram::new(metrics::SECONDS),
            shortcut_batches: AtomicU64::default(),
            rate_buckets: AtomicU64::default(),
        }
    }
}

#[derive(Clone)]
pub struct IngestWriter {
    jobs: mpsc::Sender<Job>,
    pub stats: Arc<IngestStats>,
}

impl IngestWriter {
    pub fn spawn(
        store: Store,
        clock: Arc<dyn Clock>,
        announcer: Announcer,
        engine: Arc<EngineLink>,
        incident_type: String,
        rate_per_key: u32,
    ) -> std::io::Result<Self> {
        // Submissions that may wait; past that, requests wait to submit (backpressure). Most
        // submissions are one event, so this is about eight full batches.
        let (jobs, queue) = mpsc::channel::<Job>(MAX_BATCH * 8);
        let stats = Arc::new(IngestStats::default());
        let backend = store.backend();
        // One writer: SQLite takes one write transaction at a time anyway, and on PostgreSQL
        // (measured on 2 cores) concurrent writers only made batches smaller.
        let writer = Writer {
            ingester: store.ingester(),
            store,
            clock: clock.clone(),
            announcer,
            engine,
            incident_type,
            stats: stats.clone(),
            defaults: None,
            limiter: RateLimiter::new(rate_per_key),
        };
        // On SQLite the writer has a thread and a runtime of its own: a transaction's
        // statements and its commit's fsync run on the calling thread, and there they hold up
        // no worker serving requests (nor need `block_in_place`). On PostgreSQL a statement is
        // a network round trip that blocks nothing, and a writer on another runtime than the
        // connections' drivers paid a cross-thread wake-up per statement (distinct keys fell
        // to 0.4x of pgbench, measured 2026-12-03), so it stays a task.
        match backend {
            Backend::Sqlite => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                std::thread::Builder::new()
                    .name("aplomb-ingest".into())
                    .spawn(move || runtime.block_on(writer.run(queue)))?;
            }
            Backend::Postgres => {
                tokio::spawn(writer.run(queue));
            }
        }
        Ok(Self { jobs, stats })
    }

    /// Stores one event; resolves once its batch is committed.
    pub async fn submit(&self, event: Ingest) -> Result<Ingested, Refused> {
        let mut outcomes = self.submit_all(vec![event]).await;
        outcomes.pop().unwrap_or_else(|| Err(stopped()))
    }

    /// Stores several events in one batch (never split: a submission bigger than `MAX_BATCH`
    /// is a batch of its own); resolves once they are committed, with one outcome per event
    /// in their order.
    pub async fn submit_all(&self, events: Vec<Ingest>) -> Vec<Result<Ingested, Refused>> {
        let count = events.len();
        let all_stopped = || (0..count).map(|_| Err(stopped())).collect();
        if count == 0 {
            return Vec::new();
        }
        let (reply, answer) = oneshot::channel();
        if self.jobs.send(Job { events, reply }).await.is_err() {
            return all_stopped();
        }
        answer.await.unwrap_or_else(|_| all_stopped())
    }
}

fn stopped() -> Refused {
    Refused::Unavailable("the ingestion writer has stopped".into())
}

/// The per-routing-key rate limit (per instance), kept by the writer for the keys it routes.
/// A key it does not know never gets a bucket, so no flood of made-up keys can grow the map or
/// push out the buckets of real keys; a bucket that has refilled is dropped, as it says nothing
/// a new one would not.
struct RateLimiter {
    rate: u32,
    buckets: HashMap<String, TokenBucket>,
}

impl RateLimiter {
    /// Buckets kept before the refilled ones are swept out.
    const SWEEP_ABOVE: usize = 10_000;

    fn new(rate: u32) -> Self {
        Self {
            rate,
            buckets: HashMap::new(),
        }
    }

    fn admit(&mut self, routing_key: &str, now: Timestamp) -> Result<(), Refused> {
        if self.buckets.len() > Self::SWEEP_ABOVE {
            let rate = self.rate;
            self.buckets.retain(|_, bucket| !bucket.is_full(rate, now));
        }
        let rate = self.rate;
        match self.buckets.get_mut(routing_key) {
            Some(bucket) => bucket.take(rate, now),
            None => {
                let mut bucket = TokenBucket::new(rate, now);
                let taken = bucket.take(rate, now);
                self.buckets.insert(routing_key.to_string(), bucket);
                taken
            }
        }
        .map_err(Refused::RateLimited)
    }
}

/// The one writer: takes whatever events are queued, stores them in one transaction, and
/// answers their requests.
struct Writer {
    ingester: Ingester,
    store: Store,
    clock: Arc<dyn Clock>,
    announcer: Announcer,
    engine: Arc<EngineLink>,
    incident_type: String,
    stats: Arc<IngestStats>,
    defaults: Option<AlertIncidentDefaults>,
    limiter: RateLimiter,
}

impl Writer {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::new();
        // A submission that did not fit the last batch starts the next.
        let mut held: Option<Job> = None;
        loop {
            let first = match held.take() {
                Some(job) => job,
                None => match queue.recv().await {
                    Some(job) => job,
                    None => return,
                },
            };
            // Everything already waiting joins the batch, up to MAX_BATCH events. A
            // submission is never split, so one bigger than that is a batch of its own.
            let mut events = first.events.len();
            batch.push(first);
            while events < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) if events + job.events.len() > MAX_BATCH => {
                        held = Some(job);
                        break;
                    }
                    Ok(job) => {
                        events += job.events.len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.store_batch(&mut batch).await;
        }
    }

    async fn store_batch(&mut self, batch: &mut Vec<Job>) {
        // Events for routing keys known to be over their rate are answered at once. A key not
        // in the routing table as loaded (a new one, or none loaded yet) is let through and
        // charged after the batch if it turned out to route.
        let now = self.clock.now();
        let mut answers: Vec<Answer> = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        let mut charge_after = Vec::new();
        for job in batch.drain(..) {
            let mut answer = Answer {
                reply: job.reply,
                outcomes: Vec::with_capacity(job.events.len()),
            };
            for event in job.events {
                let key = event.routing_key();
                if !self.ingester.routes_key(key) {
                    charge_after.push(key.to_string());
                } else if let Err(refused) = self.limiter.admit(key, now) {
                    answer.outcomes.push(Some(Err(refused)));
                    continue;
                }
                answer.outcomes.push(None);
                events.push(event);
            }
            answers.push(answer);
        }
        if events.is_empty() {
            answers.into_iter().for_each(Answer::send);
            return;
        }
        let started = Instant::now();
        let mut first_steps = FireFirstSteps {
            engine: &self.engine,
        };
        let result = match ensure_defaults(
            &self.store,
            &mut self.defaults,
            &self.incident_type,
            self.clock.as_ref(),
        )
        .await
        {
            Ok(d) => {
                self.ingester
                    .ingest_then(&events, d, self.clock.now(), &mut first_steps)
                    .await
            }
            Err(e) => Err(e),
        };
        self.stats
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        self.stats.batch_events.observe(events.len() as f64);
        self.stats
            .shortcut_batches
            .store(self.ingester.shortcut_batches(), Ordering::Relaxed);
        for key in charge_after {
            if self.ingester.routes_key(&key) {
                let _ = self.limiter.admit(&key, now);
            }
        }
        self.stats
            .rate_buckets
            .store(self.limiter.buckets.len() as u64, Ordering::Relaxed);
        match result {
            Ok((outcomes, deliveries)) => {
                self.engine.hand_over(deliveries);
                let mut changed: Vec<i64> = Vec::new();
                let mut opened = false;
                for outcome in &outcomes {
                    if let Ingested::Stored {
                        incident,
                        opened: o,
                    } = outcome
                    {
                        changed.extend(incident);
                        opened |= *o;
                    }
                }
                let mut outcomes = outcomes.into_iter();
                for mut answer in answers {
                    answer.fill(|| outcomes.next().map(Ok));
                    answer.send();
                }
                if opened {
                    self.engine.wake();
                }
                changed.sort_unstable();
                changed.dedup();
                for id in changed {
                    self.announcer.announce(id).await;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = events.len(), "storing a batch of events failed");
                for mut answer in answers {
                    answer.fill(|| {
                        Some(Err(Refused::Unavailable(
                            "the event could not be stored; retry".into(),
                        )))
                    });
                    answer.send();
                }
            }
        }
    }
}

/// The outcomes of one submission as the batch learns them: refused events are known before
/// the transaction, the stored ones (`None` until then) after it.
struct Answer {
    reply: oneshot::Sender<Vec<Result<Ingested, Refused>>>,
    outcomes: Vec<Option<Result<Ingested, Refused>>>,
}

impl Answer {
    /// Fills in the outcomes still unknown, in order, from `next`.
    fn fill(&mut self, mut next: impl FnMut() -> Option<Result<Ingested, Refused>>) {
        for slot in self.outcomes.iter_mut().filter(|o| o.is_none()) {
            *slot = next();
        }
    }

    fn send(self) {
        let outcomes = self
            .outcomes
            .into_iter()
            // Only if the store answered fewer outcomes than it was given events.
            .map(|o| {
                o.unwrap_or_else(|| Err(Refused::Unavailable("the event was not stored".into())))
            })
            .collect();
        let _ = self.reply.send(outcomes);
    }
}

/// Fires the first escalation step of the incidents a batch opened, in its transaction (see
/// `EngineLink::fire_opened`).
struct FireFirstSteps<'a> {
    engine: &'a EngineLink,
}

impl BeforeCommit for FireFirstSteps<'_> {
    type Output = Vec<DeliveryJob>;

    async fn run(
        &mut self,
        tx: &mut PagingTx,
        outcomes: &[Ingested],
        now: Timestamp,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        let opened: Vec<i64> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                Ingested::Stored {
                    incident: Some(id),
                    opened: true,
                } => Some(*id),
                _ => None,
            })
            .collect();
        if opened.is_empty() {
            return Ok(Vec::new());
        }
        self.engine.fire_opened(tx, &opened, now).await
    }
}

/// The automation user and incident type alert-opened incidents are declared with, found (or
/// created) once.
async fn ensure_defaults<'a>(
    store: &Store,
    cached: &'a mut Option<AlertIncidentDefaults>,
    incident_type: &str,
    clock: &dyn Clock,
) -> Result<&'a AlertIncidentDefaults, StoreError> {
    if cached.is_none() {
        *cached = Some(AlertIncidentDefaults {
            incident_type: incident_type.to_string(),
            declared_by: store.system_user(clock.now()).await?,
        });
    }
    cached.as_ref().ok_or(StoreError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_submission_gets_its_outcomes_in_the_order_of_its_events() {
        let (reply, answer) = oneshot::channel();
        let mut pending = Answer {
            reply,
            // The second event was refused before the batch; the others wait for it.
            outcomes: vec![None, Some(Err(Refused::RateLimited(3))), None, None],
        };
        let mut stored = vec![
            Ingested::UnknownRoutingKey,
            Ingested::Stored {
                incident: Some(7),
                opened: true,
            },
        ]
        .into_iter();
        pending.fill(|| stored.next().map(Ok));
        pending.send();
        let outcomes = answer.blocking_recv().expect("an answer");
        assert_eq!(
            outcomes,
            vec![
                Ok(Ingested::UnknownRoutingKey),
                Err(Refused::RateLimited(3)),
                Ok(Ingested::Stored {
                    incident: Some(7),
                    opened: true
                }),
                // The store answered one outcome short: that event is not called stored.
                Err(Refused::Unavailable("the event was not stored".into())),
            ]
        );
    }

    #[test]
    fn sweeping_keeps_the_buckets_of_keys_over_their_rate() {
        let t0: Timestamp = "2026-03-02T10:00:00Z".parse().expect("a time");
        let mut limiter = RateLimiter::new(5);
        for _ in 0..10 {
            assert!(limiter.admit("busy", t0).is_ok());
        }
        assert_eq!(limiter.admit("busy", t0), Err(Refused::RateLimited(1)));
        // Many other keys, each sending once within the next 1.5 s: theirs refill (in 0.2 s)
        // and are swept; the busy key's, still short of full, is not.
        let later = t0 + jiff::SignedDuration::from_millis(100);
        for n in 0..(RateLimiter::SWEEP_ABOVE * 3) {
            let at = later + jiff::SignedDuration::from_micros(50 * n as i64);
            assert!(limiter.admit(&format!("key-{n}"), at).is_ok());
        }
        assert!(limiter.buckets.len() <= RateLimiter::SWEEP_ABOVE + 1);
        assert_eq!(limiter.admit("busy", later), Err(Refused::RateLimited(1)));
    }
}
