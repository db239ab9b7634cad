//! Background managers. Each reads its work from the database, so it is restart-safe and
//! several instances sharing one PostgreSQL can run side by side:
//! - `escalation`: fires due escalation steps exactly once;
//! - `reminders`: reminds a task's assignee of an overdue check-in, and an incident's
//!   communications lead of an overdue status update, once per interval;
//! - `maintenance`: moves scheduled maintenance on at its set times;
//! - `subscribers`: sends the status page's subscribers their notices;
//! - `retention`: prunes old resolved alerts, delivery attempts and idempotency keys, in a
//!   task of its own so a long prune never delays a page;
//! - delivery (here): sends queued messages with leases and retries with exponential backoff.
//!
//! Time comes from the injected `Clock`; tests move a `ManualClock` instead of sleeping.

pub mod channels;
pub mod drills;
pub mod escalation;
pub mod ingest;
pub mod maintenance;
pub mod meetings;
pub mod reminders;
pub mod retention;
pub mod subscribers;
pub mod tracker;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::announce::{Announcer, STATUS_PAGE_CHANGED};
use crate::clock::Clock;
use crate::domain::communication::CadencePolicy;
use crate::metrics::{self, Counters, Histogram};
use crate::secret::hmac_hex;
use crate::secret::new_secret;
use crate::store::{
    Attempt, DeliveryJob, InviteJob, NoticeJob, PageAbout, PagingTx, Store, TrackerJob,
};
use channels::{Channels, Notice, OutboundConfig, PageMessage};

/// How many times a delivery is tried before it is marked failed.
pub const MAX_ATTEMPTS: i64 = 5;
/// How many due deliveries one claim leases.
const CLAIM_AT_ONCE: i64 = 50;
/// Sends in flight at once from one claimed batch: a receiver that is slow or times out
/// holds up only its own, not every page or notice behind it.
const SENDING_AT_ONCE: usize = 8;
/// How long a claimed delivery stays with its claimer before another instance may take it.
const LEASE: SignedDuration = SignedDuration::from_secs(60);

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How often to look for due work when nothing wakes the engine sooner.
    pub poll: Duration,
    pub outbound: OutboundConfig,
    /// Key for signing acknowledgement links.
    pub signing_key: String,
    /// When status updates are due, by severity.
    pub cadence: CadencePolicy,
    /// The status page's name and address, for what its subscribers are sent.
    pub status_page: crate::config::StatusPageBrand,
    /// How long resolved alerts, delivery attempts and idempotency keys are kept.
    pub retention: SignedDuration,
    /// Where action items are sent, if anywhere.
    pub tracker: Option<crate::config::Tracker>,
}

/// The delay before retry `attempt` (1-based): 30 s, 1 min, 2 min, 4 min, …
pub fn backoff(attempt: i64) -> SignedDuration {
    SignedDuration::from_secs(30 * (1_i64 << attempt.clamp(1, 10).saturating_sub(1)))
}

/// The signature in an acknowledgement link for `page_id`.
pub fn ack_signature(signing_key: &str, page_id: i64) -> String {
    hmac_hex(signing_key, format!("ack:{page_id}"))
}

/// What other tasks of this instance give its paging engine: a wake-up when they commit new
/// work, and deliveries they leased to it in their own transaction (an incident's first
/// escalation step fires in the transaction that opens it), which the engine sends at once.
#[derive(Default)]
pub struct EngineLink {
    /// What this instance's engine sent, for `/metrics`.
    pub stats: DeliveryStats,
    wake: Notify,
    /// The running engine's lease owner and where it takes handed-over deliveries.
    engine: std::sync::Mutex<Option<(String, mpsc::UnboundedSender<Vec<DeliveryJob>>)>>,
}

/// Counts of what the paging engine sent and how soon.
#[derive(Debug)]
pub struct DeliveryStats {
    /// Delivery attempts recorded, by (channel, `Attempt::outcome`).
    pub attempts: Counters<(String, &'static str)>,
    /// For each page delivered about an incident an alert opened: the time from that alert
    /// being stored to the page leaving (escalation's later steps included).
    pub alert_to_page: Histogram,
}

impl Default for DeliveryStats {
    fn default() -> Self {
        Self {
            attempts: Counters::default(),
            alert_to_page: Histogram::new(metrics::WAITS),
        }
    }
}

impl DeliveryStats {
    fn record(&self, job: &DeliveryJob, attempt: &Attempt, now: Timestamp) {
        self.attempts.add((job.kind.clone(), attempt.outcome()));
        if let (Attempt::Sent(_), PageAbout::Incident, Some(alert_at)) =
            (attempt, &job.about, job.alert_at)
        {
            let waited = now.duration_since(alert_at).as_secs_f64().max(0.0);
            self.alert_to_page.observe(waited);
        }
    }
}

impl EngineLink {
    /// Tells the engine new work was committed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The name to lease deliveries to, while an engine runs here to send them.
    fn lease_owner(&self) -> Option<String> {
        let engine = self.engine.lock().ok()?;
        engine
            .as_ref()
            .filter(|(_, to_engine)| !to_engine.is_closed())
            .map(|(owner, _)| owner.clone())
    }

    /// Fires the first escalation steps of `incidents`, opened in `tx`, before it commits, and
    /// returns the deliveries leased to this instance's engine: hand them over after the
    /// commit. Without an engine running here (it stopped, or this instance runs none), or
    /// should firing fail (a broken policy must not keep the incident from being stored), the
    /// steps are left due for an engine's next pass.
    pub async fn fire_opened(
        &self,
        tx: &mut PagingTx,
        incidents: &[i64],
        now: Timestamp,
    ) -> crate::store::Result<Vec<DeliveryJob>> {
        let Some(owner) = self.lease_owner() else {
            return Ok(Vec::new());
        };
        tx.savepoint().await?;
        match escalation::fire_opened(tx, incidents, now, (&owner, LEASE)).await {
            Ok(jobs) => {
                tx.release_savepoint().await?;
                Ok(jobs)
            }
            Err(e) => {
                tracing::warn!(error = %e, ?incidents, "firing the first escalation steps failed; the engine will retry them");
                tx.undo_to_savepoint().await?;
                Ok(Vec::new())
            }
        }
    }

    /// Gives the engine deliveries leased to it. Should it have stopped meanwhile, they wait
    /// out their lease and go to whichever engine claims them next, as after a crash.
    pub fn hand_over(&self, jobs: Vec<DeliveryJob>) {
        if jobs.is_empty() {
            return;
        }
        if let Ok(engine) = self.engine.lock()
            && let Some((_, to_engine)) = engine.as_ref()
        {
            let _ = to_engine.send(jobs);
        }
    }

    /// Connects a starting engine under the lease owner `owner`.
    fn attach(&self, owner: &str) -> mpsc::UnboundedReceiver<Vec<DeliveryJob>> {
        let (to_engine, handed) = mpsc::unbounded_channel();
        if let Ok(mut engine) = self.engine.lock() {
            *engine = Some((owner.to_string(), to_engine));
        }
        handed
    }
}

pub struct EngineHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    pruner: JoinHandle<()>,
}

impl EngineHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = self.pruner.await;
    }

    /// Stops at once, as a crash would: work in flight is abandoned, not finished.
    pub fn abort(self) {
        self.task.abort();
        self.pruner.abort();
    }
}

/// Runs retention at once, then every `retention::EVERY`, until `stopped` says so. A prune
/// cut short by a stop loses nothing: each batch is its own transaction.
async fn prune_until_stopped(
    store: Store,
    clock: Arc<dyn Clock>,
    keep_for: SignedDuration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            pruned = retention::prune_old(&store, clock.as_ref(), keep_for) => match pruned {
                Ok(pruned) => {
                    for (kind, gone) in pruned.into_iter().filter(|(_, gone)| *gone > 0) {
                        tracing::info!(gone, "retention pruned {}", kind.as_str());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "retention failed; it runs again within the hour"),
            },
        }
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(retention::EVERY) => {}
        }
    }
}

pub struct Engine {
    store: Store,
    clock: Arc<dyn Clock>,
    announcer: Announcer,
    link: Arc<EngineLink>,
    config: EngineConfig,
    channels: Channels,
    /// Names this instance in delivery leases.
    owner: String,
}

impl Engine {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        announcer: Announcer,
        link: Arc<EngineLink>,
        config: EngineConfig,
    ) -> Self {
        Self {
            channels: Channels::new(config.outbound.clone()),
            store,
            clock,
            announcer,
            link,
            config,
            owner: format!("engine-{}", &new_secret()[..12]),
        }
    }

    /// Warns about contact methods this configuration cannot reach (their pages fail at once).
    pub async fn warn_unreachable_methods(&self) -> anyhow::Result<()> {
        for kind in self.store.contact_method_kinds().await? {
            if let Some(reason) = self.channels.unconfigured(&kind) {
                tracing::warn!(kind, "{kind} pages will fail: {reason}");
            }
        }
        Ok(())
    }

    pub fn spawn(self) -> EngineHandle {
        let (stop, mut stopped) = watch::channel(false);
        let pruner = tokio::spawn(prune_until_stopped(
            self.store.clone(),
            self.clock.clone(),
            self.config.retention,
            stopped.clone(),
        ));
        let mut handed = self.link.attach(&self.owner);
        let task = tokio::spawn(async move {
            'engine: loop {
                // Deliveries handed over while a pass ran go first: their leases are running.
                while let Ok(jobs) = handed.try_recv() {
                    self.send(jobs).await;
                }
                let pause = match self.tick().await {
                    Ok(()) => self.pause().await,
                    Err(e) => {
                        tracing::warn!(error = %e, "paging engine tick failed; retrying");
                        self.config.poll
                    }
                };
                let pause = tokio::time::sleep(pause);
                tokio::pin!(pause);
                // Handed-over deliveries leave as they come, without a pass of their own: they
                // are someone's first notice of an incident.
                loop {
                    tokio::select! {
                        _ = stopped.changed() => break 'engine,
                        Some(jobs) = handed.recv() => self.send(jobs).await,
                        _ = self.link.wake.notified() => break,
                        _ = &mut pause => break,
                    }
                }
            }
            // Stopping: what was handed over is sent, not left to wait out its lease.
            handed.close();
            while let Some(jobs) = handed.recv().await {
                self.send(jobs).await;
            }
        });
        EngineHandle { stop, task, pruner }
    }

    /// How long to sleep: until the next due work, at most one poll interval.
    async fn pause(&self) -> Duration {
        let Ok(Some(next)) = self.store.next_due().await else {
            return self.config.poll;
        };
        let until = next.duration_since(self.clock.now());
        Duration::try_from(until)
            .unwrap_or(Duration::ZERO)
            .min(self.config.poll)
    }

    /// One pass: fire due escalation steps and remind of overdue check-ins and status updates
    /// (sending what they queued at once), play drills' due events, move maintenance on, then
    /// send other due deliveries.
    pub async fn tick(&self) -> anyhow::Result<()> {
        self.store.faults().check("engine.pass")?;
        let fired =
            escalation::fire_due(&self.store, self.clock.as_ref(), 5000, (&self.owner, LEASE))
                .await?;
        self.send(fired.deliveries).await;
        // A reminder that fails must not hold up the retries claimed below: the next pass
        // tries it again.
        let reminded =
            match reminders::remind_due(&self.store, self.clock.as_ref(), (&self.owner, LEASE))
                .await
            {
                Ok(reminded) => reminded,
                Err(e) => {
                    tracing::warn!(error = %e, "check-in reminders failed");
                    escalation::Fired::default()
                }
            };
        self.send(reminded.deliveries).await;
        let told = match reminders::remind_updates(
            &self.store,
            self.clock.as_ref(),
            &self.config.cadence,
            (&self.owner, LEASE),
        )
        .await
        {
            Ok(told) => told,
            Err(e) => {
                tracing::warn!(error = %e, "status update reminders failed");
                escalation::Fired::default()
            }
        };
        self.send(told.deliveries).await;
        let owed = match reminders::remind_action_items(
            &self.store,
            self.clock.as_ref(),
            (&self.owner, LEASE),
        )
        .await
        {
            Ok(owed) => owed,
            Err(e) => {
                tracing::warn!(error = %e, "action item reminders failed");
                escalation::Fired::default()
            }
        };
        self.send(owed.deliveries).await;
        let played = match drills::play_due(&self.store, self.clock.as_ref()).await {
            Ok(played) => played,
            Err(e) => {
                tracing::warn!(error = %e, "playing drill events failed");
                Vec::new()
            }
        };
        let mut touched = fired.incidents;
        touched.extend(played);
        touched.extend(reminded.incidents);
        touched.extend(told.incidents);
        touched.extend(owed.incidents);
        touched.sort_unstable();
        touched.dedup();
        for incident_id in touched {
            self.announcer.announce(incident_id).await;
        }
        match maintenance::advance_due(&self.store, self.clock.as_ref()).await {
            Ok(0) => {}
            Ok(_) => self.announcer.announce(STATUS_PAGE_CHANGED).await,
            Err(e) => tracing::warn!(error = %e, "moving maintenance on failed"),
        }
        let now = self.clock.now();
        let jobs = self
            .store
            .claim_deliveries(&self.owner, now, now + LEASE, CLAIM_AT_ONCE)
            .await?;
        self.send(jobs).await;
        self.drain(&Notices::default()).await?;
        self.drain(&TrackerEvents).await?;
        self.drain(&Invitations).await?;
        Ok(())
    }

    /// Sends an outbox's due rows, a lease-sized batch at a time, `SENDING_AT_ONCE` at once,
    /// recording each attempt (a failure to record one is logged; the others go on).
    async fn drain<O: Outbox>(&self, outbox: &O) -> anyhow::Result<()> {
        loop {
            let now = self.clock.now();
            let jobs = outbox.claim(self, now, now + LEASE).await?;
            if jobs.is_empty() {
                return Ok(());
            }
            futures_util::stream::iter(&jobs)
                .for_each_concurrent(SENDING_AT_ONCE, |job| async move {
                    let id = O::id(job);
                    let attempt = outbox.send(self, job, self.clock.now()).await;
                    if !matches!(attempt, Attempt::Sent(_)) {
                        tracing::warn!(id, ?attempt, "{} failed", O::WHAT);
                    }
                    if let Err(e) = outbox.finish(self, id, &attempt).await {
                        tracing::error!(id, error = %e, "recording an attempt at {} failed", O::WHAT);
                    }
                })
                .await;
            if jobs.len() < CLAIM_AT_ONCE as usize {
                return Ok(());
            }
        }
    }

    /// Sends deliveries leased to this engine and records each attempt.
    async fn send(&self, jobs: Vec<DeliveryJob>) {
        futures_util::stream::iter(jobs)
            .for_each_concurrent(SENDING_AT_ONCE, |job| self.send_one(job))
            .await;
    }

    /// Sends one leased delivery and records the attempt.
    async fn send_one(&self, job: DeliveryJob) {
        let attempt = self.deliver(&job, self.clock.now()).await;
        if let Attempt::Sent(receipt) = &attempt {
            tracing::info!(delivery = job.id, kind = %job.kind, %receipt, "page delivered");
        } else {
            tracing::warn!(delivery = job.id, kind = %job.kind, ?attempt, "page delivery failed");
        }
        // One record that fails to commit must not strand the other leased deliveries
        // until their leases run out: log it and go on (this one is retried after its lease).
        let now = self.clock.now();
        if let Err(e) = self
            .store
            .finish_delivery(job.id, &self.owner, now, &attempt)
            .await
        {
            tracing::error!(delivery = job.id, error = %e, "recording a delivery attempt failed");
            return;
        }
        self.link.stats.record(&job, &attempt, now);
        self.announcer.announce(job.incident_id).await;
    }

    async fn deliver(&self, job: &DeliveryJob, now: Timestamp) -> Attempt {
        if let Some(reason) = self.channels.unconfigured(&job.kind) {
            return Attempt::GiveUp(reason.into());
        }
        let message = self.compose(job);
        match self
            .channels
            .send(&job.kind, &job.address, &job.secret, &message, now)
            .await
        {
            Ok(receipt) => Attempt::Sent(receipt),
            Err(e) if job.attempts + 1 >= MAX_ATTEMPTS => Attempt::GiveUp(e),
            Err(e) => Attempt::Retry(e, now + backoff(job.attempts + 1)),
        }
    }

    fn compose(&self, job: &DeliveryJob) -> PageMessage {
        let base = self.channels.public_url().trim_end_matches('/');
        let incident_url = format!("{base}/incidents/{}", job.incident_id);
        let about = match &job.about {
            // A reminder asks for a check-in or an update on the incident page, not an
            // acknowledgement.
            PageAbout::CheckIn(task_id, task) => Notice::CheckIn {
                task_id: *task_id,
                task: task.clone(),
                url: format!("{incident_url}#task-{task_id}"),
            },
            PageAbout::UpdateDue => Notice::UpdateDue {
                url: format!("{incident_url}#updates"),
            },
            PageAbout::StatusUpdate {
                update_id,
                phase,
                text,
            } => Notice::StatusUpdate {
                update_id: *update_id,
                phase: phase.label().into(),
                text: text.clone(),
                url: format!("{incident_url}#update-{update_id}"),
            },
            PageAbout::ActionItem {
                item_id,
                title,
                due_at,
                reminded_at,
            } => Notice::ActionItem {
                item_id: *item_id,
                item: title.clone(),
                due_at: due_at.map(|d| d.to_string()),
                overdue: due_at.is_some_and(|d| d <= *reminded_at),
                url: format!("{base}/action-items#item-{item_id}"),
            },
            PageAbout::Incident => Notice::Page {
                page_id: job.page_id,
                ack_url: format!(
                    "{base}/ack/{}/{}",
                    job.page_id,
                    ack_signature(&self.config.signing_key, job.page_id)
                ),
            },
        };
        PageMessage {
            delivery_id: job.id,
            incident_id: job.incident_id,
            title: job.title.clone(),
            severity: job.severity.to_string(),
            status: job.status.to_string(),
            incident_url,
            about,
            drill: job.drill,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially() {
        let secs: Vec<i64> = (1..=5).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, vec![30, 60, 120, 240, 480]);
    }

    #[test]
    fn ack_links_are_signed_per_page() {
        assert_ne!(ack_signature("k", 1), ack_signature("k", 2));
        assert_ne!(ack_signature("k", 1), ack_signature("j", 1));
        assert_eq!(ack_signature("k", 1).len(), 64);
    }
}

/// A table of messages owed outside (`store/outbox.rs`): claimed, sent and recorded by
/// `Engine::drain`. (A trait with `Send` futures rather than closures, as the engine's task
/// needs.)
trait Outbox: Sync {
    type Job: Sync;
    /// What the log calls one.
    const WHAT: &'static str;
    fn id(job: &Self::Job) -> i64;
    fn claim(
        &self,
        engine: &Engine,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> impl Future<Output = crate::store::Result<Vec<Self::Job>>> + Send;
    fn send(
        &self,
        engine: &Engine,
        job: &Self::Job,
        now: Timestamp,
    ) -> impl Future<Output = Attempt> + Send;
    fn finish(
        &self,
        engine: &Engine,
        id: i64,
        attempt: &Attempt,
    ) -> impl Future<Output = crate::store::Result<()>> + Send;
}

/// The status page's subscribers' notices, in the page's brand (read once there are some).
#[derive(Default)]
struct Notices(std::sync::OnceLock<crate::config::StatusPageBrand>);

impl Outbox for Notices {
    type Job = NoticeJob;
    const WHAT: &'static str = "a subscriber's notice";
    fn id(job: &NoticeJob) -> i64 {
        job.id
    }
    async fn claim(
        &self,
        engine: &Engine,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> crate::store::Result<Vec<NoticeJob>> {
        let jobs = engine
            .store
            .claim_notices(&engine.owner, now, lease_until, CLAIM_AT_ONCE)
            .await?;
        if !jobs.is_empty() && self.0.get().is_none() {
            let set = engine.store.status_brand().await?;
            let _ = self.0.set(engine.config.status_page.overlaid(set.as_ref()));
        }
        Ok(jobs)
    }
    async fn send(&self, engine: &Engine, job: &NoticeJob, now: Timestamp) -> Attempt {
        let page = self.0.get_or_init(|| engine.config.status_page.clone());
        subscribers::send(&engine.channels, page, job, now).await
    }
    async fn finish(
        &self,
        engine: &Engine,
        id: i64,
        attempt: &Attempt,
    ) -> crate::store::Result<()> {
        engine.store.finish_notice(id, &engine.owner, attempt).await
    }
}

/// Action item events for the external tracker.
struct TrackerEvents;

impl Outbox for TrackerEvents {
    type Job = TrackerJob;
    const WHAT: &'static str = "a tracker event";
    fn id(job: &TrackerJob) -> i64 {
        job.id
    }
    async fn claim(
        &self,
        engine: &Engine,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> crate::store::Result<Vec<TrackerJob>> {
        engine
            .store
            .claim_tracker_events(&engine.owner, now, lease_until, CLAIM_AT_ONCE)
            .await
    }
    async fn send(&self, engine: &Engine, job: &TrackerJob, now: Timestamp) -> Attempt {
        tracker::send(&engine.channels, engine.config.tracker.as_ref(), job, now).await
    }
    async fn finish(
        &self,
        engine: &Engine,
        id: i64,
        attempt: &Attempt,
    ) -> crate::store::Result<()> {
        engine
            .store
            .finish_tracker_event(id, &engine.owner, attempt)
            .await
    }
}

/// Review meeting invitations.
struct Invitations;

impl Outbox for Invitations {
    type Job = InviteJob;
    const WHAT: &'static str = "a meeting invitation";
    fn id(job: &InviteJob) -> i64 {
        job.id
    }
    async fn claim(
        &self,
        engine: &Engine,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> crate::store::Result<Vec<InviteJob>> {
        engine
            .store
            .claim_meeting_invites(&engine.owner, now, lease_until, CLAIM_AT_ONCE)
            .await
    }
    async fn send(&self, engine: &Engine, job: &InviteJob, now: Timestamp) -> Attempt {
        meetings::send(&engine.channels, job, now).await
    }
    async fn finish(
        &self,
        engine: &Engine,
        id: i64,
        attempt: &Attempt,
    ) -> crate::store::Result<()> {
        engine
            .store
            .finish_meeting_invite(id, &engine.owner, attempt)
            .await
    }
}
