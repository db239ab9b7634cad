//! The event writer's storage. `Ingester` applies a whole batch of events in one transaction
//! (the group commit: one fsync for many events) on a connection it keeps, so a batch never
//! waits for the pool. It keeps the routing table (routing keys → services and their alert
//! rules, silences) in memory between batches; every change to those bumps
//! `ingest_routes.generation` in its own transaction, and each batch reads that counter first,
//! so a revoked key or a new silence takes effect from the next batch on, on every instance.
//!
//! A batch costs a handful of statements whatever its size: the counter, one multi-row upsert
//! per hundred alerts (which also finds each new alert's open incident), one multi-row insert
//! of timeline entries, and the commit. Opening an incident adds its own few.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use sqlx::{AnyConnection, Connection, Executor, Row};

use super::alerts::silence_matchers;
use super::incidents::{insert_entries, insert_entries_across, insert_incident_in};
use super::{Backend, Result, Store, StoreError, ms, parsed, ts};
use crate::domain::alert::{
    AlertEvent, AlertPayload, AlertRules, ChangeEvent, EventAction, Silence,
};
use crate::domain::incident::{Declaration, Incident, ServiceRef, Summary, Title, UserRef};
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

/// The event writer's connection and routing table.
pub struct Ingester {
    store: Store,
    /// Taken from the pool and detached from it, so closing the pool at shutdown does not
    /// wait for a writer that is idle between batches.
    conn: Option<AnyConnection>,
    routes: Option<Routes>,
    upserts: HashMap<usize, String>,
}

impl Store {
    pub fn ingester(&self) -> Ingester {
        Ingester {
            store: self.clone(),
            conn: None,
            routes: None,
            upserts: HashMap::new(),
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
        // PostgreSQL may abort a batch to break a deadlock with another instance's writer: run
        // it again.
        let mut attempt = 1;
        loop {
            let result = self.ingest_once(batch, defaults, now).await;
            match result {
                Err(e) if attempt < 3 && super::is_retryable(&e) => attempt += 1,
                result => return result,
            }
        }
    }

    async fn ingest_once(
        &mut self,
        batch: &[Ingest],
        defaults: &AlertIncidentDefaults,
        now: Timestamp,
    ) -> Result<Vec<Ingested>> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.store.pool.acquire().await?.detach()),
        };
        let _turn = self.store.write_turn().await;
        let result = store_batch(
            conn,
            self.store.backend,
            &mut self.routes,
            &mut self.upserts,
            batch,
            defaults,
            now,
        )
        .await;
        if result.is_err() {
            // The transaction may still be open: closing the connection rolls it back, and the
            // next batch starts on a new one, with the routing table read afresh.
            if let Some(conn) = self.conn.take() {
                let _ = conn.close().await;
            }
            self.routes = None;
        }
        result
    }
}

/// Marks the routing table changed; call in the transaction that changes an integration, a
/// service's alert rules or policy, or a silence.
pub(super) async fn routes_changed(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("UPDATE ingest_routes SET generation = generation + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Runs the batch's transaction. BEGIN and COMMIT are plain statements rather than sqlx's
/// `Transaction` (whose begin and commit each wait for an extra acknowledgement from SQLite's
/// worker thread), and BEGIN travels with the generation check: a batch of any size costs
/// three round trips to the database when no alert is new, four otherwise. On error the
/// caller closes the connection, which rolls the transaction back.
async fn store_batch(
    tx: &mut AnyConnection,
    backend: Backend,
    cached: &mut Option<Routes>,
    upserts: &mut HashMap<usize, String>,
    batch: &[Ingest],
    defaults: &AlertIncidentDefaults,
    now: Timestamp,
) -> Result<Vec<Ingested>> {
    let begin = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE; SELECT generation FROM ingest_routes WHERE id = 1",
        Backend::Postgres => "BEGIN; SELECT generation FROM ingest_routes WHERE id = 1",
    };
    // A query without arguments may hold several statements (on PostgreSQL it goes as a simple
    // query); the last one's row is the generation.
    let rows = tx.fetch_all(begin).await?;
    let generation: i64 = rows
        .last()
        .ok_or_else(|| StoreError::Corrupt("ingest_routes has no row".into()))?
        .try_get("generation")?;
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
    tx.execute("COMMIT").await?;
    Ok(out)
}

async fn load_routes(conn: &mut AnyConnection, generation: i64, now: Timestamp) -> Result<Routes> {
    let rows = sqlx::query(
        "SELECT i.routing_key, s.id, s.name, s.alert_rules, s.escalation_policy_id \
         FROM integrations i JOIN services s ON s.id = i.service_id WHERE i.revoked_at IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut by_key = HashMap::with_capacity(rows.len());
    for row in &rows {
        by_key.insert(row.try_get("routing_key")?, service_from_row(row)?);
    }
    let rows = sqlx::query(
        "SELECT service_id, matchers, starts_at, ends_at FROM silences WHERE ends_at > $1",
    )
    .bind(ms(now))
    .fetch_all(&mut *conn)
    .await?;
    let silences = rows
        .iter()
        .map(|r| {
            Ok(Silence {
                service_id: r.try_get("service_id")?,
                matchers: silence_matchers(r)?,
                starts_at: ts(r, "starts_at")?,
                ends_at: ts(r, "ends_at")?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Routes {
        generation,
        by_key,
        silences,
    })
}

/// One service, for acting on its alerts outside a batch.
pub(super) async fn service_info(
    conn: &mut AnyConnection,
    service_id: i64,
) -> Result<Option<ServiceInfo>> {
    sqlx::query("SELECT id, name, alert_rules, escalation_policy_id FROM services WHERE id = $1")
        .bind(service_id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(service_from_row)
        .transpose()
}

fn service_from_row(row: &sqlx::any::AnyRow) -> Result<ServiceInfo> {
    let rules: String = row.try_get("alert_rules")?;
    Ok(ServiceInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        rules: serde_json::from_str(&rules)
            .map_err(|e| StoreError::Corrupt(format!("alert rules: {e}")))?,
        policy: row.try_get("escalation_policy_id")?,
    })
}

async fn store_change(
    conn: &mut AnyConnection,
    service_id: i64,
    change: &ChangeEvent,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO change_events (service_id, summary, source, happened_at, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(service_id)
    .bind(&change.summary)
    .bind(&change.source)
    .bind(ms(change.timestamp.unwrap_or(now)))
    .bind(change.raw.to_string())
    .bind(ms(now))
    .execute(&mut *conn)
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
const OPEN_INCIDENT: &str = "(SELECT i.id FROM incidents i JOIN incident_services x ON x.incident_id = i.id \
     WHERE x.service_id = $S AND i.status <> 'resolved' \
     AND (i.declared_at >= $W OR EXISTS (SELECT 1 FROM alerts o WHERE o.incident_id = i.id AND o.last_at >= $W)) \
     ORDER BY i.id DESC LIMIT 1)";

/// Repeats of one key within a run of triggers, stored as one row.
struct Group<'e> {
    service: &'e ServiceInfo,
    key: &'e str,
    count: i64,
    latest: &'e AlertPayload,
    members: Vec<usize>,
}

/// Stores a run of trigger events: repeats of one key are counted together, then every alert
/// is inserted or merged by one multi-row upsert per hundred keys, which also attaches each new
/// alert to its service's open incident. A new alert with no incident opens one when its
/// severity says so; every new alert in an incident gets a timeline entry.
async fn store_triggers(
    conn: &mut AnyConnection,
    run: &mut Vec<(usize, &ServiceInfo, &AlertEvent)>,
    out: &mut [Ingested],
    ctx: &mut BatchContext<'_>,
) -> Result<()> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: HashMap<(i64, &str), usize> = HashMap::new();
    for (i, service, event) in run.iter() {
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
                group.members.push(*i);
            }
            None => {
                index.insert((service.id, key), groups.len());
                groups.push(Group {
                    service,
                    key,
                    count: 1,
                    latest: payload,
                    members: vec![*i],
                });
            }
        }
    }
    // Writers of several instances sharing PostgreSQL lock alert rows in one order, so they
    // cannot deadlock on each other's upserts.
    groups.sort_by(|a, b| (a.service.id, a.key).cmp(&(b.service.id, b.key)));
    let now = ctx.now;
    let mut entries: Vec<(i64, EntryData)> = Vec::new();
    for chunk in groups.chunks(ROWS_PER_STATEMENT) {
        let stored = upsert_alerts(conn, chunk, ctx).await?;
        // Incidents opened by this chunk, whose other new alerts came back without one.
        let mut opened_here: HashMap<i64, i64> = HashMap::new();
        let mut to_attach: Vec<(i64, i64)> = Vec::new();
        for (group, row) in chunk.iter().zip(stored) {
            // A new alert's count is exactly this run's; a merged one had events before.
            let new = row.count == group.count && !row.silenced;
            let mut opened = false;
            let incident = match row.incident {
                Some(id) => Some(id),
                None if new => match opened_here.get(&group.service.id) {
                    Some(&id) => {
                        to_attach.push((id, row.id));
                        Some(id)
                    }
                    None if group.service.rules.opens_incident(group.latest.severity) => {
                        let (id, new_incident) =
                            open_or_join(conn, group.service, group.latest, ctx).await?;
                        opened_here.insert(group.service.id, id);
                        to_attach.push((id, row.id));
                        opened = new_incident;
                        Some(id)
                    }
                    None => None,
                },
                None => None,
            };
            if let (true, Some(incident_id)) = (new, incident) {
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
        for (incident_id, alert_id) in to_attach {
            sqlx::query("UPDATE alerts SET incident_id = $1 WHERE id = $2")
                .bind(incident_id)
                .bind(alert_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    insert_entries_across(conn, None, now, &entries).await?;
    run.clear();
    Ok(())
}

/// An alert row as the upsert left it.
struct Upserted {
    id: i64,
    count: i64,
    silenced: bool,
    incident: Option<i64>,
}

/// One multi-row upsert for up to a hundred groups; rows come back in the groups' order.
async fn upsert_alerts(
    conn: &mut AnyConnection,
    chunk: &[Group<'_>],
    ctx: &mut BatchContext<'_>,
) -> Result<Vec<Upserted>> {
    let now = ctx.now;
    let sql = ctx
        .upserts
        .entry(chunk.len())
        .or_insert_with(|| upsert_sql(chunk.len()));
    let mut query = sqlx::query(sql.as_str());
    for group in chunk {
        let payload = group.latest;
        let silenced = ctx
            .silences
            .iter()
            .any(|s| s.silences(group.service.id, group.key, payload, now));
        let window =
            now - SignedDuration::from_mins(i64::from(group.service.rules.group_window_minutes));
        query = query
            .bind(group.service.id)
            .bind(group.key.to_string())
            .bind(payload.severity.as_str())
            .bind(payload.summary.clone())
            .bind(payload.source.clone())
            .bind(payload.raw.to_string())
            .bind(group.count)
            .bind(ms(now))
            .bind(i64::from(silenced))
            .bind(ms(window));
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut by_key: HashMap<(i64, String), Upserted> = HashMap::with_capacity(rows.len());
    for row in rows {
        by_key.insert(
            (row.try_get("service_id")?, row.try_get("dedup_key")?),
            Upserted {
                id: row.try_get("id")?,
                count: row.try_get("event_count")?,
                silenced: row.try_get::<i64, _>("silenced")? != 0,
                incident: row.try_get("incident_id")?,
            },
        );
    }
    chunk
        .iter()
        .map(|group| {
            by_key
                .remove(&(group.service.id, group.key.to_string()))
                .ok_or_else(|| StoreError::Corrupt("an upserted alert was not returned".into()))
        })
        .collect()
}

/// The upsert statement for `rows` alerts (10 parameters a row).
fn upsert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO alerts (service_id, dedup_key, status, severity, summary, source, payload, event_count, \
         first_at, last_at, silenced, incident_id) VALUES ",
    );
    for n in 0..rows {
        let p = |k: usize| format!("${}", n * 10 + k);
        if n > 0 {
            sql.push_str(", ");
        }
        let incident = OPEN_INCIDENT.replace("$S", &p(1)).replace("$W", &p(10));
        sql.push_str(&format!(
            "({}, {}, 'triggered', {}, {}, {}, {}, {}, {}, {}, {}, CASE WHEN {} = 0 THEN {incident} END)",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6),
            p(7),
            p(8),
            p(8),
            p(9),
            p(9),
        ));
    }
    sql.push_str(
        " ON CONFLICT (service_id, dedup_key) WHERE status <> 'resolved' DO UPDATE SET \
         event_count = alerts.event_count + excluded.event_count, last_at = excluded.last_at, \
         payload = excluded.payload, summary = excluded.summary, severity = excluded.severity, \
         source = excluded.source RETURNING id, service_id, dedup_key, incident_id, event_count, silenced",
    );
    sql
}

/// Acknowledges or resolves the open alert with the event's key (triggers go through
/// `store_triggers`).
pub(super) async fn apply_alert(
    conn: &mut AnyConnection,
    backend: Backend,
    service: &ServiceInfo,
    event: &AlertEvent,
    now: Timestamp,
) -> Result<Ingested> {
    let key = event.dedup_key.clone().unwrap_or_default();
    match event.action {
        EventAction::Trigger => Err(StoreError::Corrupt("triggers are stored in runs".into())),
        EventAction::Acknowledge => {
            let row = sqlx::query(
                "UPDATE alerts SET status = 'acknowledged', last_at = $1 WHERE service_id = $2 AND dedup_key = $3 \
                 AND status = 'triggered' RETURNING incident_id",
            )
            .bind(ms(now))
            .bind(service.id)
            .bind(&key)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(Ingested::Stored {
                incident: row.map(|r| r.try_get("incident_id")).transpose()?.flatten(),
                opened: false,
            })
        }
        EventAction::Resolve => {
            let row = sqlx::query(
                "UPDATE alerts SET status = 'resolved', resolved_at = $1, last_at = $1 WHERE service_id = $2 \
                 AND dedup_key = $3 AND status <> 'resolved' RETURNING incident_id",
            )
            .bind(ms(now))
            .bind(service.id)
            .bind(&key)
            .fetch_optional(&mut *conn)
            .await?;
            let incident: Option<i64> =
                row.map(|r| r.try_get("incident_id")).transpose()?.flatten();
            if let Some(incident_id) = incident
                && service.rules.auto_resolve
            {
                resolve_if_quiet(conn, backend, incident_id, now).await?;
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
    conn: &mut AnyConnection,
    service: &ServiceInfo,
    payload: &AlertPayload,
    ctx: &BatchContext<'_>,
) -> Result<(i64, bool)> {
    sqlx::query(&format!(
        "SELECT s.id FROM services s WHERE s.id = $1{}",
        ctx.backend.row_lock("s")
    ))
    .bind(service.id)
    .fetch_optional(&mut *conn)
    .await?;
    let window = ctx.now - SignedDuration::from_mins(i64::from(service.rules.group_window_minutes));
    let open = OPEN_INCIDENT.replace("$S", "$1").replace("$W", "$2");
    let existing: Option<i64> = sqlx::query(&format!("SELECT {open} AS id"))
        .bind(service.id)
        .bind(ms(window))
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
    Ok(match existing {
        Some(id) => (id, false),
        None => (
            open_alert_incident(conn, service, payload, ctx.defaults, ctx.now).await?,
            true,
        ),
    })
}

async fn open_alert_incident(
    conn: &mut AnyConnection,
    service: &ServiceInfo,
    payload: &AlertPayload,
    defaults: &AlertIncidentDefaults,
    now: Timestamp,
) -> Result<i64> {
    let title: String = payload.summary.chars().take(Title::MAX_CHARS).collect();
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
    };
    let (incident, entry): (Incident, EntryData) =
        Incident::declare(declaration, defaults.declared_by.clone(), now);
    let id = insert_incident_in(conn, &incident, &entry).await?;
    if let Some(policy) = service.policy {
        sqlx::query(
            "INSERT INTO escalations (incident_id, policy_id, round, level, state, due_at, created_at) \
             VALUES ($1, $2, 0, 0, 'pending', $3, $3)",
        )
        .bind(id)
        .bind(policy)
        .bind(ms(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// Resolves an incident whose alerts have all resolved, stopping its escalations.
async fn resolve_if_quiet(
    conn: &mut AnyConnection,
    backend: Backend,
    incident_id: i64,
    now: Timestamp,
) -> Result<()> {
    // The incident is locked before its alerts are counted, so two writers resolving its last
    // two alerts at once decide one after the other.
    let Some(row) = sqlx::query(&format!(
        "SELECT i.status FROM incidents i WHERE i.id = $1{}",
        backend.row_lock("i")
    ))
    .bind(incident_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(());
    };
    let from: crate::domain::incident::Status = parsed(&row, "status")?;
    if !from.is_active() {
        return Ok(());
    }
    let open: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM alerts WHERE incident_id = $1 AND status <> 'resolved'",
    )
    .bind(incident_id)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    if open > 0 {
        return Ok(());
    }
    sqlx::query(
        "UPDATE incidents SET status = 'resolved', resolved_at = $1, updated_at = $1 WHERE id = $2",
    )
    .bind(ms(now))
    .bind(incident_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE escalations SET state = 'resolved' WHERE incident_id = $1 AND state = 'pending'",
    )
    .bind(incident_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE deliveries SET state = 'cancelled' WHERE state = 'pending' AND page_id IN (SELECT id FROM pages WHERE incident_id = $1)",
    )
    .bind(incident_id)
    .execute(&mut *conn)
    .await?;
    let entry = EntryData::StatusChanged {
        from,
        to: crate::domain::incident::Status::Resolved,
        reason: Some("every alert of the incident resolved".into()),
    };
    insert_entries(conn, incident_id, None, now, &[entry]).await?;
    Ok(())
}
