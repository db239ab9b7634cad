//! Alert ingestion storage: integrations (routing keys), alerts deduplicated per service, change
//! events, and `ingest`, which applies a whole batch of events in one transaction (the group
//! commit: one fsync for many events).

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::incidents::{insert_entries, insert_incident_in};
use super::{Result, Store, StoreError, is_unique_violation, ms, opt_ts, parsed, ts};
use crate::domain::alert::{
    AlertEvent, AlertRules, AlertStatus, ChangeEvent, EventAction, Silence, SilenceMatch,
};
use crate::domain::incident::{Declaration, Incident, ServiceRef, Summary, Title, UserRef};
use crate::domain::timeline::EntryData;

#[derive(Debug, Clone)]
pub struct IntegrationRecord {
    pub id: i64,
    pub service_id: i64,
    pub service: String,
    pub kind: String,
    pub routing_key: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct AlertRecord {
    pub id: i64,
    pub service: String,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub severity: String,
    pub summary: String,
    pub source: String,
    pub payload: String,
    pub count: i64,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub incident_id: Option<i64>,
    /// Arrived during a maintenance window or silence: stored, but opened no incident.
    pub silenced: bool,
}

#[derive(Debug, Clone)]
pub struct SilenceRecord {
    pub id: i64,
    pub service: Option<String>,
    pub matchers: SilenceMatch,
    pub reason: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
}

/// One event waiting to be stored.
#[derive(Debug, Clone)]
pub enum Ingest {
    Alert(AlertEvent),
    Change(ChangeEvent),
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

#[derive(Debug, Clone)]
pub struct AlertFilter {
    pub service: Option<String>,
    pub status: Option<AlertStatus>,
    pub incident: Option<i64>,
    pub limit: i64,
}

struct ServiceInfo {
    id: i64,
    name: String,
    rules: AlertRules,
    policy: Option<i64>,
}

const ALERT_COLUMNS: &str = "a.id, s.name AS service, a.dedup_key, a.status, a.severity, a.summary, a.source, \
     a.payload, a.event_count, a.first_at, a.last_at, a.resolved_at, a.incident_id, a.silenced";

impl Store {
    pub async fn insert_integration(
        &self,
        service_id: i64,
        kind: &str,
        routing_key: &str,
        now: Timestamp,
    ) -> Result<i64> {
        Ok(sqlx::query(
            "INSERT INTO integrations (service_id, kind, routing_key, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(service_id)
        .bind(kind)
        .bind(routing_key)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("routing key exists".into())
            } else {
                e.into()
            }
        })?
        .try_get("id")?)
    }

    pub async fn integrations(&self, service_id: Option<i64>) -> Result<Vec<IntegrationRecord>> {
        let rows = sqlx::query(
            "SELECT i.id, i.service_id, s.name, i.kind, i.routing_key, i.created_at, i.revoked_at \
             FROM integrations i JOIN services s ON s.id = i.service_id \
             WHERE ($1 = 0 OR i.service_id = $1) ORDER BY i.id",
        )
        .bind(service_id.unwrap_or(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(IntegrationRecord {
                    id: r.try_get("id")?,
                    service_id: r.try_get("service_id")?,
                    service: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    routing_key: r.try_get("routing_key")?,
                    created_at: ts(r, "created_at")?,
                    revoked_at: opt_ts(r, "revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes an integration's key; with `new_key`, issues a replacement of the same kind.
    pub async fn revoke_integration(&self, id: i64, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE integrations SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(ms(now))
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done > 0)
    }

    pub async fn set_alert_rules(&self, service_id: i64, rules_json: &str) -> Result<()> {
        sqlx::query("UPDATE services SET alert_rules = $1 WHERE id = $2")
            .bind(rules_json)
            .bind(service_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a batch of events in one transaction and says what each did, in order.
    pub async fn ingest(
        &self,
        batch: &[Ingest],
        defaults: &AlertIncidentDefaults,
        now: Timestamp,
    ) -> Result<Vec<Ingested>> {
        let mut tx = self.begin_write().await?;
        let mut ctx = BatchContext {
            silences: active_silences(&mut tx, now).await?,
            open_incidents: HashMap::new(),
            defaults,
            now,
        };
        let mut services: HashMap<&str, Option<ServiceInfo>> = HashMap::new();
        for item in batch {
            let key = routing_key(item);
            if !services.contains_key(key) {
                let info = service_for_key(&mut tx, key).await?;
                services.insert(key, info);
            }
        }
        let mut out: Vec<Ingested> = vec![Ingested::UnknownRoutingKey; batch.len()];
        // Consecutive triggers are stored together; anything else keeps its place in order.
        let mut run: Vec<(usize, &ServiceInfo, &AlertEvent)> = Vec::new();
        for (i, item) in batch.iter().enumerate() {
            let Some(Some(service)) = services.get(routing_key(item)) else {
                continue;
            };
            match item {
                Ingest::Alert(event) if event.action == EventAction::Trigger => {
                    run.push((i, service, event))
                }
                other => {
                    store_triggers(&mut tx, &mut run, &mut out, &mut ctx).await?;
                    out[i] = match other {
                        Ingest::Alert(event) => {
                            apply_alert(&mut tx, service, event, &mut ctx).await?
                        }
                        Ingest::Change(change) => {
                            store_change(&mut tx, service.id, change, now).await?;
                            Ingested::Stored {
                                incident: None,
                                opened: false,
                            }
                        }
                    };
                }
            }
        }
        store_triggers(&mut tx, &mut run, &mut out, &mut ctx).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN services s ON s.id = a.service_id \
             WHERE ($1 = '' OR s.name = $1) AND ($2 = '' OR a.status = $2) AND ($3 = 0 OR a.incident_id = $3) \
             ORDER BY a.last_at DESC, a.id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.service.clone().unwrap_or_default())
            .bind(filter.status.map(|s| s.as_str()).unwrap_or(""))
            .bind(filter.incident.unwrap_or(0))
            .bind(filter.limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(alert_from_row).collect()
    }

    pub async fn alert(&self, id: i64) -> Result<Option<AlertRecord>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN services s ON s.id = a.service_id WHERE a.id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(alert_from_row).transpose()
    }

    /// Acknowledges or resolves one alert by hand, with the same effects as the event from
    /// monitoring (resolving the last open alert may resolve its incident). Returns the
    /// incident it belongs to, or `NotFound` when the alert is unknown or already past that.
    pub async fn alert_action(
        &self,
        alert_id: i64,
        action: EventAction,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT service_id, dedup_key, status FROM alerts WHERE id = $1")
            .bind(alert_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let status = parsed_status(&row)?;
        let allowed = match action {
            EventAction::Acknowledge => status == AlertStatus::Triggered,
            EventAction::Resolve => status != AlertStatus::Resolved,
            EventAction::Trigger => false,
        };
        if !allowed {
            return Err(StoreError::Conflict(format!(
                "the alert is already {}",
                status.as_str()
            )));
        }
        let service_id: i64 = row.try_get("service_id")?;
        let service = service_info(&mut tx, service_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let event = AlertEvent {
            routing_key: String::new(),
            action,
            dedup_key: Some(row.try_get("dedup_key")?),
            payload: None,
        };
        let defaults = AlertIncidentDefaults {
            incident_type: String::new(),
            declared_by: UserRef {
                id: 0,
                username: String::new(),
            },
        };
        let mut ctx = BatchContext {
            silences: Vec::new(),
            open_incidents: HashMap::new(),
            defaults: &defaults,
            now,
        };
        let outcome = apply_alert(&mut tx, &service, &event, &mut ctx).await?;
        tx.commit().await?;
        Ok(match outcome {
            Ingested::Stored { incident, .. } => incident,
            Ingested::UnknownRoutingKey => None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_silence(
        &self,
        service_id: Option<i64>,
        matchers: &SilenceMatch,
        reason: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        created_by: i64,
        now: Timestamp,
    ) -> Result<i64> {
        let json =
            serde_json::to_string(matchers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(sqlx::query(
            "INSERT INTO silences (service_id, matchers, reason, starts_at, ends_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(service_id)
        .bind(json)
        .bind(reason)
        .bind(ms(starts_at))
        .bind(ms(ends_at))
        .bind(created_by)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?
        .try_get("id")?)
    }

    /// Silences not yet ended at `now`, soonest first.
    pub async fn silences(&self, now: Timestamp) -> Result<Vec<SilenceRecord>> {
        let rows = sqlx::query(
            "SELECT x.id, s.name AS service, x.matchers, x.reason, x.starts_at, x.ends_at, u.username \
             FROM silences x LEFT JOIN services s ON s.id = x.service_id JOIN users u ON u.id = x.created_by \
             WHERE x.ends_at > $1 ORDER BY x.starts_at, x.id",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let matchers: String = r.try_get("matchers")?;
                Ok(SilenceRecord {
                    id: r.try_get("id")?,
                    service: r.try_get("service")?,
                    matchers: serde_json::from_str(&matchers)
                        .map_err(|e| StoreError::Corrupt(format!("silence: {e}")))?,
                    reason: r.try_get("reason")?,
                    starts_at: ts(r, "starts_at")?,
                    ends_at: ts(r, "ends_at")?,
                    created_by: r.try_get("username")?,
                })
            })
            .collect()
    }

    /// Ends a silence now; false when it had already ended.
    pub async fn end_silence(&self, id: i64, now: Timestamp) -> Result<bool> {
        let done = sqlx::query("UPDATE silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1")
            .bind(ms(now))
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done > 0)
    }

    /// Marks the open alerts of an incident acknowledged (an incident acknowledgement).
    pub async fn acknowledge_alerts(&self, incident_id: i64) -> Result<()> {
        sqlx::query("UPDATE alerts SET status = 'acknowledged' WHERE incident_id = $1 AND status = 'triggered'")
            .bind(incident_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Recent change events of a service, newest first.
    pub async fn change_events(
        &self,
        service_id: i64,
        limit: i64,
    ) -> Result<Vec<(Timestamp, String, String)>> {
        let rows = sqlx::query(
            "SELECT happened_at, summary, source FROM change_events WHERE service_id = $1 ORDER BY happened_at DESC LIMIT $2",
        )
        .bind(service_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    ts(r, "happened_at")?,
                    r.try_get("summary")?,
                    r.try_get("source")?,
                ))
            })
            .collect()
    }
}

fn alert_from_row(r: &AnyRow) -> Result<AlertRecord> {
    Ok(AlertRecord {
        id: r.try_get("id")?,
        service: r.try_get("service")?,
        dedup_key: r.try_get("dedup_key")?,
        status: parsed_status(r)?,
        severity: r.try_get("severity")?,
        summary: r.try_get("summary")?,
        source: r.try_get("source")?,
        payload: r.try_get("payload")?,
        count: r.try_get("event_count")?,
        first_at: ts(r, "first_at")?,
        last_at: ts(r, "last_at")?,
        resolved_at: opt_ts(r, "resolved_at")?,
        incident_id: r.try_get("incident_id")?,
        silenced: r.try_get::<i64, _>("silenced")? != 0,
    })
}

fn parsed_status(r: &AnyRow) -> Result<AlertStatus> {
    let raw: String = r.try_get("status")?;
    raw.parse()
        .map_err(|()| StoreError::Corrupt(format!("alert status {raw:?}")))
}

async fn service_for_key(
    conn: &mut AnyConnection,
    routing_key: &str,
) -> Result<Option<ServiceInfo>> {
    let row = sqlx::query(
        "SELECT service_id FROM integrations WHERE routing_key = $1 AND revoked_at IS NULL",
    )
    .bind(routing_key)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => service_info(conn, row.try_get("service_id")?).await,
        None => Ok(None),
    }
}

/// A service's name, alert rules and escalation policy.
async fn service_info(conn: &mut AnyConnection, service_id: i64) -> Result<Option<ServiceInfo>> {
    let row = sqlx::query(
        "SELECT id, name, alert_rules, escalation_policy_id FROM services WHERE id = $1",
    )
    .bind(service_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let rules: String = row.try_get("alert_rules")?;
    Ok(Some(ServiceInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        rules: serde_json::from_str(&rules)
            .map_err(|e| StoreError::Corrupt(format!("alert rules: {e}")))?,
        policy: row.try_get("escalation_policy_id")?,
    }))
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
    silences: Vec<Silence>,
    /// Per service, its incident taking alerts, looked up once per batch.
    open_incidents: HashMap<i64, Option<i64>>,
    defaults: &'a AlertIncidentDefaults,
    now: Timestamp,
}

fn routing_key(item: &Ingest) -> &str {
    match item {
        Ingest::Alert(e) => &e.routing_key,
        Ingest::Change(c) => &c.routing_key,
    }
}

/// Rows per multi-row statement (9 parameters each, well under both backends' limits).
const ROWS_PER_STATEMENT: usize = 100;

/// Stores a run of trigger events: repeats of one key are counted together, then every alert
/// is inserted or merged by one multi-row upsert per hundred keys. New alerts then join the
/// service's open incident or open one.
async fn store_triggers(
    conn: &mut AnyConnection,
    run: &mut Vec<(usize, &ServiceInfo, &AlertEvent)>,
    out: &mut [Ingested],
    ctx: &mut BatchContext<'_>,
) -> Result<()> {
    struct Group<'e> {
        service: &'e ServiceInfo,
        key: String,
        count: i64,
        latest: &'e AlertEvent,
        members: Vec<usize>,
    }
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: HashMap<(i64, &str), usize> = HashMap::new();
    for (i, service, event) in run.iter() {
        let key = event.dedup_key.as_deref().unwrap_or("");
        match index.get(&(service.id, key)) {
            Some(&g) => {
                let group = &mut groups[g];
                group.count += 1;
                group.latest = event;
                group.members.push(*i);
            }
            None => {
                index.insert((service.id, key), groups.len());
                groups.push(Group {
                    service,
                    key: key.to_string(),
                    count: 1,
                    latest: event,
                    members: vec![*i],
                });
            }
        }
    }
    let now = ctx.now;
    for chunk in groups.chunks(ROWS_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO alerts (service_id, dedup_key, status, severity, summary, source, payload, event_count, \
             first_at, last_at, silenced) VALUES ",
        );
        for n in 0..chunk.len() {
            let p = n * 9;
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, 'triggered', ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8,
                p + 8,
                p + 9
            ));
        }
        sql.push_str(
            " ON CONFLICT (service_id, dedup_key) WHERE status <> 'resolved' DO UPDATE SET \
             event_count = alerts.event_count + excluded.event_count, last_at = excluded.last_at, \
             payload = excluded.payload, summary = excluded.summary, severity = excluded.severity, \
             source = excluded.source RETURNING id, service_id, dedup_key, incident_id, event_count, silenced",
        );
        let mut query = sqlx::query(&sql);
        for group in chunk {
            let payload = group
                .latest
                .payload
                .as_ref()
                .ok_or_else(|| StoreError::Corrupt("a trigger without a payload".into()))?;
            let silenced = ctx
                .silences
                .iter()
                .any(|s| s.silences(group.service.id, &group.key, payload, now));
            query = query
                .bind(group.service.id)
                .bind(group.key.clone())
                .bind(payload.severity.as_str())
                .bind(payload.summary.clone())
                .bind(payload.source.clone())
                .bind(payload.raw.to_string())
                .bind(group.count)
                .bind(ms(now))
                .bind(i64::from(silenced));
        }
        let rows = query.fetch_all(&mut *conn).await?;
        let mut stored: HashMap<(i64, String), AnyRow> = HashMap::with_capacity(rows.len());
        for row in rows {
            stored.insert((row.try_get("service_id")?, row.try_get("dedup_key")?), row);
        }
        for group in chunk {
            let row = stored
                .get(&(group.service.id, group.key.clone()))
                .ok_or_else(|| StoreError::Corrupt("an upserted alert was not returned".into()))?;
            let alert_id: i64 = row.try_get("id")?;
            let count: i64 = row.try_get("event_count")?;
            let silenced = row.try_get::<i64, _>("silenced")? != 0;
            // A new alert's count is exactly this batch's; a merged one had events before.
            let (incident, opened) = if count == group.count && !silenced {
                let payload = group
                    .latest
                    .payload
                    .as_ref()
                    .ok_or_else(|| StoreError::Corrupt("a trigger without a payload".into()))?;
                attach_new_alert(conn, group.service, alert_id, &group.key, payload, ctx).await?
            } else {
                (row.try_get("incident_id")?, false)
            };
            for &m in &group.members {
                out[m] = Ingested::Stored { incident, opened };
            }
        }
    }
    run.clear();
    Ok(())
}

/// A new alert joins the service's incident that is taking alerts, or opens one when its
/// severity says so; either way the timeline records it.
async fn attach_new_alert(
    conn: &mut AnyConnection,
    service: &ServiceInfo,
    alert_id: i64,
    key: &str,
    payload: &crate::domain::alert::AlertPayload,
    ctx: &mut BatchContext<'_>,
) -> Result<(Option<i64>, bool)> {
    let now = ctx.now;
    let window = now - SignedDuration::from_mins(i64::from(service.rules.group_window_minutes));
    let mut incident = match ctx.open_incidents.get(&service.id) {
        Some(known) => *known,
        None => open_incident(conn, service.id, window).await?,
    };
    let mut opened = false;
    if incident.is_none() && service.rules.opens_incident(payload.severity) {
        incident = Some(open_alert_incident(conn, service, payload, ctx.defaults, now).await?);
        opened = true;
    }
    ctx.open_incidents.insert(service.id, incident);
    if let Some(incident_id) = incident {
        sqlx::query("UPDATE alerts SET incident_id = $1 WHERE id = $2")
            .bind(incident_id)
            .bind(alert_id)
            .execute(&mut *conn)
            .await?;
        let entry = EntryData::AlertTriggered {
            alert_id,
            dedup_key: key.to_string(),
            summary: payload.summary.clone(),
            severity: payload.severity.to_string(),
        };
        insert_entries(conn, incident_id, None, now, &[entry]).await?;
    }
    Ok((incident, opened))
}

/// Acknowledges or resolves the open alert with the event's key (triggers go through
/// `store_triggers`).
async fn apply_alert(
    conn: &mut AnyConnection,
    service: &ServiceInfo,
    event: &AlertEvent,
    ctx: &mut BatchContext<'_>,
) -> Result<Ingested> {
    let now = ctx.now;
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
                resolve_if_quiet(conn, incident_id, now).await?;
                // Whether the service still has an open incident is looked up again.
                ctx.open_incidents.remove(&service.id);
            }
            Ok(Ingested::Stored {
                incident,
                opened: false,
            })
        }
    }
}

async fn active_silences(conn: &mut AnyConnection, now: Timestamp) -> Result<Vec<Silence>> {
    let rows = sqlx::query("SELECT service_id, matchers, starts_at, ends_at FROM silences WHERE starts_at <= $1 AND ends_at > $1")
        .bind(ms(now))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let matchers: String = r.try_get("matchers")?;
            Ok(Silence {
                service_id: r.try_get("service_id")?,
                matchers: serde_json::from_str(&matchers)
                    .map_err(|e| StoreError::Corrupt(format!("silence: {e}")))?,
                starts_at: ts(r, "starts_at")?,
                ends_at: ts(r, "ends_at")?,
            })
        })
        .collect()
}

/// The service's unresolved incident that is still taking alerts: declared, or last alerted,
/// within the grouping window.
async fn open_incident(
    conn: &mut AnyConnection,
    service_id: i64,
    window_start: Timestamp,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT i.id FROM incidents i JOIN incident_services x ON x.incident_id = i.id \
         WHERE x.service_id = $1 AND i.status <> 'resolved' \
         AND (i.declared_at >= $2 OR EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = i.id AND a.last_at >= $2)) \
         ORDER BY i.id DESC LIMIT 1",
    )
    .bind(service_id)
    .bind(ms(window_start))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

async fn open_alert_incident(
    conn: &mut AnyConnection,
    service: &ServiceInfo,
    payload: &crate::domain::alert::AlertPayload,
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
    incident_id: i64,
    now: Timestamp,
) -> Result<()> {
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
    let Some(row) = sqlx::query("SELECT status FROM incidents WHERE id = $1")
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
