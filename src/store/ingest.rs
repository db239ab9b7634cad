//! The event writer's storage. `Ingester` applies a whole batch of events in one transaction
//! (the group commit: one fsync for many events). It keeps the routing table (routing keys → services and their alert
//! rules, silences) in memory between batches; every change to those bumps
//! `ingest_routes.generation` in its own transaction, and each batch reads that counter first,
//! so a revoked key or a new silence takes effect from the next batch on, on every instance.
//!
//! A batch costs a handful of statements whatever its size: the counter, one multi-row upsert
//! per hundred alerts (which also finds each new alert's open incident), one multi-row insert
//! of timeline entries, and the commit. Opening an incident adds its own few. On SQLite the
//! statements run on the writer's thread, so they cost little beside the commit's fsync; on
//! PostgreSQL each is a round trip, so a batch of triggers that opens no incident takes a
//! shortcut: one statement, committed on its own (see `Ingester::try_single`).

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};

use super::db::{Arg, Conn, Row, args, closed_statuses, not_drill};
use super::incidents::{insert_entries_across, insert_incident_in, load_incident, save_incident};
use super::paging::PagingTx;
use super::playbooks::apply_service_playbook;
use super::{Backend, Result, Store, StoreError, ms};
use crate::domain::alert::{
    AlertEvent, AlertPayload, AlertRules, ChangeEvent, EventAction, Silence, SilenceMatch,
};
use crate::domain::incident::{Declaration, Incident, Origin, ServiceRef, Summary, Title, UserRef};
use crate::domain::timeline::EntryData;

/// One event waiting to be stored.
#[derive(Debug, Clone)]
pub enum Ingest {
    Alert(AlertEvent),
    Change(ChangeEvent),
}

impl Ingest {
    pub fn routing_key(&self) -> &str {
        match self {
            Ingest::Alert(e) => &e.routing_key,
            Ingest::Change(c) => &c.routing_key,
        }
    }
}

/// What storing one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    Stored {
        /// Incidents whose timelines changed (for live updates).
        incident: Option<i64>,
        /// True when this event opened the incident (the engine should look for work).
        opened: bool,
    },
    UnknownRoutingKey,
}

/// What an alert-opened incident is declared as.
#[derive(Debug, Clone)]
pub struct AlertIncidentDefaults {
    pub incident_type: String,
    pub declared_by: UserRef,
}

/// A service as alert handling sees it: its name, alert rules and escalation policy.
#[derive(Debug, Clone)]
pub(super) struct ServiceInfo {
    pub id: i64,
    pub name: String,
    pub rules: AlertRules,
    pub policy: Option<i64>,
}

/// The routing table as of one generation.
struct Routes {
    generation: i64,
    by_key: HashMap<String, ServiceInfo>,
    /// Silences not ended when loaded (each still checks its window when matched).
    silences: Vec<Silence>,
}

/// More work in an ingest batch's transaction, after its events are stored and before it
/// commits, knowing what each event did (the engine fires the incidents' first steps there).
/// A batch that takes PostgreSQL's shortcut runs none: it opens no incident. A batch run again
/// (see `Ingester::ingest_then`) runs it again, in the new transaction.
pub trait BeforeCommit: Send {
    type Output: Default + Send;
    fn run(
        &mut self,
        tx: &mut PagingTx,
        outcomes: &[Ingested],
        now: Timestamp,
    ) -> impl Future<Output = Result<Self::Output>> + Send;
}

/// No more work: the batch alone.
impl BeforeCommit for () {
    type Output = ();
    async fn run(&mut self, _: &mut PagingTx, _: &[Ingested], _: Timestamp) -> Result<()> {
        Ok(())
    }
}

/// The event writer's routing table and statement texts.
pub struct Ingester {
    store: Store,
    routes: Option<Routes>,
    upserts: HashMap<usize, String>,
    /// PostgreSQL's single-statement batches by row count (see `single_sql`).
    singles: HashMap<usize, String>,
    /// Batches left to send the general way before trying a single statement again (see
    /// `SINGLE_BACKOFF`).
    single_backoff: u32,
    shortcut_batches: u64,
    /// Services whose new alerts last joined an open incident, as this writer saw: a trigger
    /// for any other service may open an incident, which only the general path does.
    in_incident: HashSet<i64>,
}

impl Store {
    pub fn ingester(&self) -> Ingester {
        Ingester {
            store: self.clone(),
            routes: None,
            upserts: HashMap::new(),
            singles: HashMap::new(),
            single_backoff: 0,
            shortcut_batches: 0,
            in_incident: HashSet::new(),
        }
    }
}

impl Ingester {
    /// Stores a batch of events in one transaction and says what each did, in order.
    pub async fn ingest(
        &mut self,
        batch: &[Ingest],
        defaults: &AlertIncidentDefaults,
        now: Timestamp,
    ) -> Result<Vec<Ingested>> {
        let (out, ()) = self.ingest_then(batch, defaults, now, &mut ()).await?;
        Ok(out)
    }

    /// Like `ingest`, and runs `then` in the batch's transaction before it commits (see
    /// `BeforeCommit`).
    pub async fn ingest_then<B: BeforeCommit>(
        &mut self,
        batch: &[Ingest],
        defaults: &AlertIncidentDefaults,
        now: Timestamp,
        then: &mut B,
    ) -> Result<(Vec<Ingested>, B::Output)> {
        // PostgreSQL may abort a batch to break a deadlock with another instance's writer, or
        // may have dropped the writer's connection (a restart, a failover): run it again (on
        // another connection: one that failed is not returned to the pool).
        let mut attempt = 1;
        loop {
            let result = self.ingest_once(batch, defaults, now, then).await;
            match result {
                Err(e) if attempt < 3 && (super::is_retryable(&e) || e.is_unavailable()) => {
                    attempt += 1
                }
                result => return result,
            }
        }
    }

    async fn ingest_once<B: BeforeCommit>(
        &mut self,
        batch: &[Ingest],
        defaults: &AlertIncidentDefaults,
        now: Timestamp,
        then: &mut B,
    ) -> Result<(Vec<Ingested>, B::Output)> {
        let result = async {
            if let Some(out) = self.try_single(batch, now).await? {
                return Ok((out, B::Output::default()));
            }
            let mut tx = self.store.begin_paging().await?;
            let out = store_batch(
                tx.conn(),
                self.store.backend,
                &mut self.routes,
                &mut self.upserts,
                batch,
                defaults,
                now,
            )
            .await?;
            let after = then.run(&mut tx, &out, now).await?;
            tx.commit().await?;
            Ok((out, after))
        }
        .await;
        if let (true, Ok((out, _)), Some(routes)) = (self.has_shortcut(), &result, &self.routes) {
            for (item, outcome) in batch.iter().zip(out) {
                if let (
                    Ingest::Alert(event),
                    Ingested::Stored {
                        incident: Some(_), ..
                    },
                ) = (item, outcome)
                    && let Some(service) = routes.by_key.get(&event.routing_key)
                {
                    self.in_incident.insert(service.id);
                }
            }
        }
        if result.is_err() {
            // The transaction rolled back; the next batch reads the routing table afresh.
            self.routes = None;
        }
        result
    }

    /// Whether `routing_key` is in the routing table as last loaded (a key created since is
    /// not, until the next batch reloads the table).
    pub fn routes_key(&self, routing_key: &str) -> bool {
        self.routes
            .as_ref()
            .is_some_and(|r| r.by_key.contains_key(routing_key))
    }

    /// Batches that took PostgreSQL's single-statement shortcut so far.
    pub fn shortcut_batches(&self) -> u64 {
        self.shortcut_batches
    }

    /// Whether some batches may take a shortcut: only those need to know which services have
    /// an open incident.
    fn has_shortcut(&self) -> bool {
        self.store.backend == Backend::Postgres
    }

    /// On PostgreSQL, stores a batch the shortcut fits as one statement committed on its own
    /// (`single_sql`): one round trip instead of three (BEGIN, the upsert, COMMIT). The
    /// statement stores nothing when the routing generation moved, and fails (rolling itself
    /// back) when an alert is new in an incident or would open one; either way `None` leaves
    /// the batch to the general path.
    async fn try_single(
        &mut self,
        batch: &[Ingest],
        now: Timestamp,
    ) -> Result<Option<Vec<Ingested>>> {
        let Some(routes) = &self.routes else {
            return Ok(None);
        };
        if self.store.backend != Backend::Postgres
            || !shortcut_fits(routes, &self.in_incident, batch)
        {
            return Ok(None);
        }
        if self.single_backoff > 0 {
            self.single_backoff -= 1;
            return Ok(None);
        }
        let run = known_triggers(&routes.by_key, batch);
        let groups = group_triggers(&run)?;
        // Unknown keys alone: only the general path's generation check can tell whether a key
        // was added since the routing table was loaded.
        if groups.is_empty() || groups.len() > ROWS_PER_STATEMENT {
            return Ok(None);
        }
        let mut args = upsert_args(&groups, &routes.silences, now);
        args.push(Arg::Int(routes.generation));
        args.extend(
            groups
                .iter()
                .map(|g| Arg::Int(i64::from(g.service.rules.opens_incident(g.latest.severity)))),
        );
        let sql = self
            .singles
            .entry(groups.len())
            .or_insert_with(|| single_sql(groups.len()));
        // A connection outside any transaction: the statement commits on its own.
        let mut conn = self.store.read().await?;
        let rows = match conn.fetch_all(sql, &args).await {
            // The generation moved: nothing was stored.
            Ok(rows) if rows.is_empty() => return Ok(None),
            Ok(rows) => rows,
            Err(e) if e.sqlstate().as_deref() == Some(NEEDS_GENERAL_PATH) => {
                // Perhaps an incident was resolved meanwhile: learn afresh which are open.
                self.in_incident.clear();
                self.single_backoff = SINGLE_BACKOFF;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let stored = in_chunk_order(&groups, rows.iter().map(Upserted::from_row).collect())?;
        let mut out = vec![Ingested::UnknownRoutingKey; batch.len()];
        let mut entries = Vec::new();
        for (group, row) in groups.iter().zip(stored) {
            settle(group, &row, row.incident, false, &mut out, &mut entries);
        }
        if !entries.is_empty() {
            return Err(StoreError::Corrupt(
                "a single-statement batch stored an alert new in an incident".into(),
            ));
        }
        self.shortcut_batches += 1;
        Ok(Some(out))
    }
}

/// Whether a batch may take the shortcut (`try_single`): triggers only, for a
/// routing table already loaded, none of which may open an incident (only the general path
/// opens one). A trigger for a service not known to have an open incident may.
fn shortcut_fits(routes: &Routes, in_incident: &HashSet<i64>, batch: &[Ingest]) -> bool {
    let may_open = |event: &AlertEvent| {
        routes.by_key.get(&event.routing_key).is_some_and(|s| {
            !in_incident.contains(&s.id)
                && event
                    .payload
                    .as_ref()
                    .is_some_and(|p| s.rules.opens_incident(p.severity))
        })
    };
    batch.iter().all(
        |item| matches!(item, Ingest::Alert(e) if e.action == EventAction::Trigger && !may_open(e)),
    )
}

/// The batch's triggers whose routing key is known, with their service and place in the batch.
fn known_triggers<'e>(
    by_key: &'e HashMap<String, ServiceInfo>,
    batch: &'e [Ingest],
) -> Vec<(usize, &'e ServiceInfo, &'e AlertEvent)> {
    batch
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            Ingest::Alert(event) => by_key.get(&event.routing_key).map(|s| (i, s, event)),
            Ingest::Change(_) => None,
        })
        .collect()
}

/// Marks the routing table changed; call in the transaction that changes an integration, a
/// service's alert rules or policy, or a silence.
pub(super) async fn routes_changed(conn: &mut Conn) -> Result<()> {
    conn.execute(
        "UPDATE ingest_routes SET generation = generation + 1 WHERE id = 1",
        &[],
    )
    .await?;
    Ok(())
}

/// Stores the batch in the caller's transaction, after checking the routing table is still
/// the one loaded.
async fn store_batch(
    tx: &mut Conn,
    backend: Backend,
    cached: &mut Option<Routes>,
    upserts: &mut HashMap<usize, String>,
    batch: &[Ingest],
    defaults: &AlertIncidentDefaults,
    now: Timestamp,
) -> Result<Vec<Ingested>> {
    let generation: i64 = tx
        .fetch_optional("SELECT generation FROM ingest_routes WHERE id = 1", &[])
        .await?
        .ok_or_else(|| StoreError::Corrupt("ingest_routes has no row".into()))?
        .get("generation")?;
    let routes = match cached {
        Some(routes) if routes.generation == generation => routes,
        _ => cached.insert(load_routes(tx, generation, now).await?),
    };
    let mut ctx = BatchContext {
        backend,
        upserts,
        silences: &routes.silences,
        defaults,
        now,
    };
    let mut out: Vec<Ingested> = vec![Ingested::UnknownRoutingKey; batch.len()];
    // Consecutive triggers are stored together; anything else keeps its place in order.
    let mut run: Vec<(usize, &ServiceInfo, &AlertEvent)> = Vec::new();
    for (i, item) in batch.iter().enumerate() {
        let Some(service) = routes.by_key.get(item.routing_key()) else {
            continue;
        };
        match item {
            Ingest::Alert(event) if event.action == EventAction::Trigger => {
                run.push((i, service, event))
            }
            other => {
                store_triggers(tx, &mut run, &mut out, &mut ctx).await?;
                out[i] = match other {
                    Ingest::Alert(event) => apply_alert(tx, backend, service, event, now).await?,
                    Ingest::Change(change) => {
                        store_change(tx, service.id, change, now).await?;
                        Ingested::Stored {
                            incident: None,
                            opened: false,
                        }
                    }
                };
            }
        }
    }
    store_triggers(tx, &mut run, &mut out, &mut ctx).await?;
    Ok(out)
}

async fn load_routes(conn: &mut Conn, generation: i64, now: Timestamp) -> Result<Routes> {
    let rows = conn
        .fetch_all(
            "SELECT i.routing_key, s.id, s.name, s.alert_rules, s.escalation_policy_id \
             FROM integrations i JOIN services s ON s.id = i.service_id \
             WHERE i.revoked_at IS NULL AND i.kind <> $1",
            args![crate::domain::forge::FORGE_KIND],
        )
        .await?;
    let mut by_key = HashMap::with_capacity(rows.len());
    for row in &rows {
        by_key.insert(row.get("routing_key")?, service_from_row(row)?);
    }
    let rows = conn
        .fetch_all(
            "SELECT service_id, matchers, starts_at, ends_at FROM silences WHERE ends_at > $1",
            args![ms(now)],
        )
        .await?;
    let silences = rows
        .iter()
        .map(|r| {
            Ok(Silence {
                service_id: r.get("service_id")?,
                matchers: silence_matchers(r)?,
                starts_at: r.ts("starts_at")?,
                ends_at: r.ts("ends_at")?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Routes {
        generation,
        by_key,
        silences,
    })
}

/// A silence row's matchers (stored as JSON).
pub(super) fn silence_matchers(r: &Row) -> Result<SilenceMatch> {
    let matchers: String = r.get("matchers")?;
    serde_json::from_str(&matchers).map_err(|e| StoreError::Corrupt(format!("silence: {e}")))
}

/// One service, for acting on its alerts outside a batch.
pub(super) async fn service_info(conn: &mut Conn, service_id: i64) -> Result<Option<ServiceInfo>> {
    conn.fetch_optional(
        "SELECT id, name, alert_rules, escalation_policy_id FROM services WHERE id = $1",
        args![service_id],
    )
    .await?
    .as_ref()
    .map(service_from_row)
    .transpose()
}

fn service_from_row(row: &Row) -> Result<ServiceInfo> {
    let rules: String = row.get("alert_rules")?;
    Ok(ServiceInfo {
        id: row.get("id")?,
        name: row.get("name")?,
        rules: serde_json::from_str(&rules)
            .map_err(|e| StoreError::Corrupt(format!("alert rules: {e}")))?,
        policy: row.get("escalation_policy_id")?,
    })
}

async fn store_change(
    conn: &mut Conn,
    service_id: i64,
    change: &ChangeEvent,
    now: Timestamp,
) -> Result<()> {
    conn.execute(
        "INSERT INTO change_events (service_id, summary, source, happened_at, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            service_id,
            &change.summary,
            &change.source,
            ms(change.timestamp.unwrap_or(now)),
            change.raw.to_string(),
            ms(now)
        ],
    )
    .await?;
    Ok(())
}

/// What every event of one batch shares.
struct BatchContext<'a> {
    backend: Backend,
    /// Upsert statement texts by row count, kept across batches (they are long to build).
    upserts: &'a mut HashMap<usize, String>,
    silences: &'a [Silence],
    defaults: &'a AlertIncidentDefaults,
    now: Timestamp,
}

/// Rows per multi-row statement (10 parameters each, well under both backends' limits).
const ROWS_PER_STATEMENT: usize = 100;

/// The service's unresolved incident still taking alerts (declared, or last alerted, within the
/// grouping window), for the upsert row whose service is `$S` and window start `$W`.
const OPEN_INCIDENT: &str = concat!(
    "(SELECT i.id FROM incidents i JOIN incident_services x ON x.incident_id = i.id \
     WHERE x.service_id = $S AND i.status NOT IN ",
    closed_statuses!(),
    " AND ",
    not_drill!(),
    " AND (i.declared_at >= $W OR EXISTS (SELECT 1 FROM alerts o WHERE o.incident_id = i.id AND o.last_at >= $W)) \
     ORDER BY i.id DESC LIMIT 1)"
);

/// Repeats of one key within a run of triggers, stored as one row.
struct Group<'e> {
    service: &'e ServiceInfo,
    key: &'e str,
    count: i64,
    latest: &'e AlertPayload,
    members: Vec<usize>,
}

/// Groups a run of triggers by service and key (repeats of one key are stored as one row), in
/// the order writers lock alert rows: writers of several instances sharing PostgreSQL then
/// cannot deadlock on each other's upserts.
fn group_triggers<'e>(run: &[(usize, &'e ServiceInfo, &'e AlertEvent)]) -> Result<Vec<Group<'e>>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: HashMap<(i64, &str), usize> = HashMap::new();
    for &(i, service, event) in run {
        let key = event.dedup_key.as_deref().unwrap_or("");
        let payload = event
            .payload
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("a trigger without a payload".into()))?;
        match index.get(&(service.id, key)) {
            Some(&g) => {
                let group = &mut groups[g];
                group.count += 1;
                group.latest = payload;
                group.members.push(i);
            }
            None => {
                index.insert((service.id, key), groups.len());
                groups.push(Group {
                    service,
                    key,
                    count: 1,
                    latest: payload,
                    members: vec![i],
                });
            }
        }
    }
    groups.sort_by(|a, b| (a.service.id, a.key).cmp(&(b.service.id, b.key)));
    Ok(groups)
}

/// Where a stored alert belongs.
enum Placement {
    /// Where the upsert put it: in this incident, or in none.
    Stays(Option<i64>),
    /// New, in the incident another alert of the same chunk opened.
    Joins(i64),
    /// New, and it opens an incident (or joins one another writer opened meanwhile).
    Opens,
}

/// Decides where a stored alert belongs. `opened_here` holds the incidents this chunk opened,
/// by service: the upsert found none for their other new alerts.
fn place(group: &Group<'_>, row: &Upserted, opened_here: &HashMap<i64, i64>) -> Placement {
    match row.incident {
        Some(id) => Placement::Stays(Some(id)),
        None if row.is_new(group) => match opened_here.get(&group.service.id) {
            Some(&id) => Placement::Joins(id),
            None if group.service.rules.opens_incident(group.latest.severity) => Placement::Opens,
            None => Placement::Stays(None),
        },
        None => Placement::Stays(None),
    }
}

/// Answers the group's events and, for an alert new in an incident, adds its timeline entry.
fn settle(
    group: &Group<'_>,
    row: &Upserted,
    incident: Option<i64>,
    opened: bool,
    out: &mut [Ingested],
    entries: &mut Vec<(i64, EntryData)>,
) {
    if let (true, Some(incident_id)) = (row.is_new(group), incident) {
        entries.push((
            incident_id,
            EntryData::AlertTriggered {
                alert_id: row.id,
                dedup_key: group.key.to_string(),
                summary: group.latest.summary.clone(),
                severity: group.latest.severity.to_string(),
            },
        ));
    }
    for &m in &group.members {
        out[m] = Ingested::Stored { incident, opened };
    }
}

/// Stores a run of trigger events: every alert is inserted or merged by one multi-row upsert
/// per hundred keys, which also attaches each new alert to its service's open incident. A new
/// alert with no incident opens one when its severity says so; every new alert in an incident
/// gets a timeline entry.
async fn store_triggers(
    conn: &mut Conn,
    run: &mut Vec<(usize, &ServiceInfo, &AlertEvent)>,
    out: &mut [Ingested],
    ctx: &mut BatchContext<'_>,
) -> Result<()> {
    let groups = group_triggers(run)?;
    let mut entries: Vec<(i64, EntryData)> = Vec::new();
    for chunk in groups.chunks(ROWS_PER_STATEMENT) {
        let (sql, args) = upsert_statement(chunk, ctx);
        let rows = conn.fetch_all(sql, &args).await?;
        let stored = in_chunk_order(chunk, rows.iter().map(Upserted::from_row).collect())?;
        let mut opened_here: HashMap<i64, i64> = HashMap::new();
        let mut to_attach: Vec<(i64, i64)> = Vec::new();
        for (group, row) in chunk.iter().zip(stored) {
            let (incident, opened) = match place(group, &row, &opened_here) {
                Placement::Stays(incident) => (incident, false),
                Placement::Joins(id) => {
                    to_attach.push((id, row.id));
                    (Some(id), false)
                }
                Placement::Opens => {
                    let (id, new_incident) =
                        open_or_join(conn, group.service, group.latest, ctx).await?;
                    opened_here.insert(group.service.id, id);
                    to_attach.push((id, row.id));
                    (Some(id), new_incident)
                }
            };
            settle(group, &row, incident, opened, out, &mut entries);
        }
        for (incident_id, alert_id) in to_attach {
            conn.execute(
                "UPDATE alerts SET incident_id = $1 WHERE id = $2",
                args![incident_id, alert_id],
            )
            .await?;
        }
    }
    insert_entries_across(conn, None, ctx.now, &entries).await?;
    run.clear();
    Ok(())
}

/// An alert row as the upsert left it.
struct Upserted {
    service_id: i64,
    key: String,
    id: i64,
    count: i64,
    silenced: bool,
    incident: Option<i64>,
}

impl Upserted {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            service_id: row.get("service_id")?,
            key: row.get("dedup_key")?,
            id: row.get("id")?,
            count: row.get("event_count")?,
            silenced: row.get("silenced")?,
            incident: row.get("incident_id")?,
        })
    }

    /// A new alert's count is exactly this run's; a merged one had events before.
    fn is_new(&self, group: &Group<'_>) -> bool {
        self.count == group.count && !self.silenced
    }
}

/// The upsert of up to a hundred groups, with its arguments.
fn upsert_statement<'c>(chunk: &[Group<'_>], ctx: &'c mut BatchContext<'_>) -> (&'c str, Vec<Arg>) {
    let args = upsert_args(chunk, ctx.silences, ctx.now);
    let sql = ctx
        .upserts
        .entry(chunk.len())
        .or_insert_with(|| upsert_sql(chunk.len()));
    (sql.as_str(), args)
}

/// The upsert's arguments for each group, in `upsert_rows`' order.
fn upsert_args(chunk: &[Group<'_>], silences: &[Silence], now: Timestamp) -> Vec<Arg> {
    let mut args = Vec::with_capacity(chunk.len() * 10);
    for group in chunk {
        let payload = group.latest;
        let silenced = silences
            .iter()
            .any(|s| s.silences(group.service.id, group.key, payload, now));
        let window =
            now - SignedDuration::from_mins(i64::from(group.service.rules.group_window_minutes));
        args.extend([
            Arg::Int(group.service.id),
            Arg::from(group.key),
            Arg::from(payload.severity.as_str()),
            Arg::from(payload.summary.as_str()),
            Arg::from(payload.source.as_str()),
            Arg::Text(payload.raw.to_string()),
            Arg::Int(group.count),
            Arg::Int(ms(now)),
            Arg::Int(i64::from(silenced)),
            Arg::Int(ms(window)),
        ]);
    }
    args
}

/// The upserted rows in the chunk's order (the database returns them in its own).
fn in_chunk_order(chunk: &[Group<'_>], rows: Result<Vec<Upserted>>) -> Result<Vec<Upserted>> {
    let mut by_key: HashMap<(i64, String), Upserted> = rows?
        .into_iter()
        .map(|row| ((row.service_id, row.key.clone()), row))
        .collect();
    chunk
        .iter()
        .map(|group| {
            by_key
                .remove(&(group.service.id, group.key.to_string()))
                .ok_or_else(|| StoreError::Corrupt("an upserted alert was not returned".into()))
        })
        .collect()
}

/// The upsert's target: an alert row (its rows follow as VALUES, or a SELECT of them).
const UPSERT_INTO: &str = "INSERT INTO alerts (service_id, dedup_key, status, severity, summary, \
     source, payload, event_count, first_at, last_at, silenced, incident_id) ";

/// Merges a repeated key into its open alert, and returns every row as `Upserted` reads it.
const UPSERT_MERGE: &str = " ON CONFLICT (service_id, dedup_key) WHERE status <> 'resolved' DO UPDATE SET \
     event_count = alerts.event_count + excluded.event_count, last_at = excluded.last_at, \
     payload = excluded.payload, summary = excluded.summary, severity = excluded.severity, \
     source = excluded.source RETURNING id, service_id, dedup_key, incident_id, event_count, silenced";

/// The upsert statement for `rows` alerts (10 parameters a row).
fn upsert_sql(rows: usize) -> String {
    format!("{UPSERT_INTO}VALUES {}{UPSERT_MERGE}", upsert_rows(rows))
}

/// The upsert's rows: alert `n` takes parameters `10n+1` to `10n+10` (see `upsert_statement`).
fn upsert_rows(rows: usize) -> String {
    let p = |n: usize, k: usize| format!("${}", n * 10 + k);
    (0..rows)
        .map(|n| {
            let incident = OPEN_INCIDENT.replace("$S", &p(n, 1)).replace("$W", &p(n, 10));
            format!(
                "({}, {}, 'triggered', {}, {}, {}, {}, {}, {}, {}, {}, CASE WHEN {} = 0 THEN {incident} END)",
                p(n, 1),
                p(n, 2),
                p(n, 3),
                p(n, 4),
                p(n, 5),
                p(n, 6),
                p(n, 7),
                p(n, 8),
                p(n, 8),
                p(n, 9),
                p(n, 9),
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Batches sent the general way after a single statement had to (typically new keys joining
/// an open incident, which come in runs during a storm): each such try costs a round trip.
const SINGLE_BACKOFF: u32 = 8;

/// What PostgreSQL answers when a single-statement batch needs the general path (SQLSTATE
/// division_by_zero, raised on purpose by `single_sql`'s last line).
const NEEDS_GENERAL_PATH: &str = "22012";

/// PostgreSQL's whole batch of `rows` alerts as one statement, committed on its own: the
/// upsert's parameters, then the routing generation it was routed at (`$10·rows+1`), then for
/// each alert whether its severity opens an incident. It upserts nothing when the generation
/// moved, and divides by zero (so the statement, upsert included, rolls back) when an alert is
/// new and joined an incident (which needs a timeline entry) or would open one.
fn single_sql(rows: usize) -> String {
    let generation = rows * 10 + 1;
    let expected = (0..rows)
        .map(|n| {
            format!(
                "(${}, ${}, ${}, ${})",
                n * 10 + 1,
                n * 10 + 2,
                n * 10 + 7,
                generation + 1 + n
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH stored AS ({UPSERT_INTO}SELECT v.* FROM (VALUES {}) AS v \
         WHERE EXISTS (SELECT 1 FROM ingest_routes WHERE id = 1 AND generation = ${generation})\
         {UPSERT_MERGE}) \
         SELECT s.* FROM stored s JOIN (VALUES {expected}) AS b (service_id, dedup_key, event_count, opens) \
         ON b.service_id = s.service_id AND b.dedup_key = s.dedup_key \
         WHERE 1 / CASE WHEN s.event_count = b.event_count AND s.silenced = 0 \
         AND (s.incident_id IS NOT NULL OR b.opens = 1) THEN 0 ELSE 1 END = 1",
        upsert_rows(rows)
    )
}

/// Acknowledges or resolves the open alert with the event's key (triggers go through
/// `store_triggers`).
pub(super) async fn apply_alert(
    conn: &mut Conn,
    backend: Backend,
    service: &ServiceInfo,
    event: &AlertEvent,
    now: Timestamp,
) -> Result<Ingested> {
    let key = event.dedup_key.clone().unwrap_or_default();
    match event.action {
        EventAction::Trigger => Err(StoreError::Corrupt("triggers are stored in runs".into())),
        EventAction::Acknowledge => {
            let row = conn
                .fetch_optional(
                    "UPDATE alerts SET status = 'acknowledged', last_at = $1 WHERE service_id = $2 AND dedup_key = $3 \
                     AND status = 'triggered' RETURNING incident_id",
                    args![ms(now), service.id, &key],
                )
                .await?;
            Ok(Ingested::Stored {
                incident: row.map(|r| r.get("incident_id")).transpose()?.flatten(),
                opened: false,
            })
        }
        EventAction::Resolve => {
            let row = conn
                .fetch_optional(
                    "UPDATE alerts SET status = 'resolved', resolved_at = $1, last_at = $1 WHERE service_id = $2 \
                     AND dedup_key = $3 AND status <> 'resolved' RETURNING incident_id",
                    args![ms(now), service.id, &key],
                )
                .await?;
            let incident: Option<i64> = row.map(|r| r.get("incident_id")).transpose()?.flatten();
            if let Some(incident_id) = incident
                && service.rules.auto_resolve
            {
                resolve_if_quiet(conn, backend, incident_id, &service.rules, now).await?;
            }
            Ok(Ingested::Stored {
                incident,
                opened: false,
            })
        }
    }
}

/// Opens an incident for a new alert, unless another instance's writer opened one since the
/// upsert looked: the service's row is locked first, so writers decide one at a time. Returns
/// the incident and whether it is new.
async fn open_or_join(
    conn: &mut Conn,
    service: &ServiceInfo,
    payload: &AlertPayload,
    ctx: &BatchContext<'_>,
) -> Result<(i64, bool)> {
    conn.fetch_optional(
        &format!(
            "SELECT s.id FROM services s WHERE s.id = $1{}",
            ctx.backend.row_lock("s")
        ),
        args![service.id],
    )
    .await?;
    let window = ctx.now - SignedDuration::from_mins(i64::from(service.rules.group_window_minutes));
    let open = OPEN_INCIDENT.replace("$S", "$1").replace("$W", "$2");
    let existing: Option<i64> = conn
        .fetch_one(
            &format!("SELECT {open} AS id"),
            args![service.id, ms(window)],
        )
        .await?
        .get("id")?;
    Ok(match existing {
        Some(id) => (id, false),
        None => (
            open_alert_incident(conn, service, payload, ctx.defaults, ctx.now).await?,
            true,
        ),
    })
}

async fn open_alert_incident(
    conn: &mut Conn,
    service: &ServiceInfo,
    payload: &AlertPayload,
    defaults: &AlertIncidentDefaults,
    now: Timestamp,
) -> Result<i64> {
    let title: String = payload
        .summary
        .trim()
        .chars()
        .take(Title::MAX_CHARS)
        .collect();
    let title =
        Title::parse(&title).or_else(|_| Title::parse(&format!("Alert on {}", service.name)))?;
    let declaration = Declaration {
        title,
        summary: Summary::parse(&format!(
            "Opened by a {} alert from {}.",
            payload.severity, payload.source
        ))?,
        severity: AlertRules::incident_severity(payload.severity),
        incident_type: defaults.incident_type.clone(),
        private: false,
        services: vec![ServiceRef {
            id: service.id,
            name: service.name.clone(),
        }],
        origin: Origin::Alert,
    };
    open_service_incident(
        conn,
        service,
        declaration,
        defaults.declared_by.clone(),
        now,
    )
    .await
}

/// Opens an incident nobody declared on `service` (alerts or user reports opened it); the
/// service's escalation policy starts, due now.
pub(super) async fn open_service_incident(
    conn: &mut Conn,
    service: &ServiceInfo,
    declaration: Declaration,
    by: UserRef,
    now: Timestamp,
) -> Result<i64> {
    let (mut incident, entry): (Incident, EntryData) = Incident::declare(declaration, by, now);
    let id = insert_incident_in(conn, &incident, &entry).await?;
    incident.id = id;
    apply_service_playbook(conn, &incident, service.id, now).await?;
    if let Some(policy) = service.policy {
        conn.execute(
            "INSERT INTO escalations (incident_id, policy_id, round, level, state, due_at, created_at) \
             VALUES ($1, $2, 0, 0, 'pending', $3, $3)",
            args![id, policy, ms(now)],
        )
        .await?;
    }
    Ok(id)
}

/// Offers the domain's rule an incident whose alerts have all resolved: it may resolve it
/// (which stops its paging, in this transaction).
async fn resolve_if_quiet(
    conn: &mut Conn,
    backend: Backend,
    incident_id: i64,
    rules: &AlertRules,
    now: Timestamp,
) -> Result<()> {
    // The incident is locked before its alerts are counted, so two writers resolving its last
    // two alerts at once decide one after the other.
    let Some(mut incident) = load_incident(conn, incident_id, &backend.row_lock("i")).await? else {
        return Ok(());
    };
    if !incident.status.is_active() {
        return Ok(());
    }
    let open: i64 = conn
        .fetch_one(
            "SELECT COUNT(*) AS n FROM alerts WHERE incident_id = $1 AND status <> 'resolved'",
            args![incident_id],
        )
        .await?
        .get("n")?;
    if open > 0 {
        return Ok(());
    }
    let before = incident.clone();
    let entries = incident.resolve_when_alerts_quiet(rules.auto_resolve_declared, now)?;
    save_incident(conn, &before, &incident, None, now, &entries).await?;
    Ok(())
}
