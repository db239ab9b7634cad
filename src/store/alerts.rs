//! Alert storage outside the event writer (see `ingest`): integrations (routing keys), alerts
//! and what people do to them, silences, change events.

use jiff::Timestamp;

use super::db::{Arg, Row, args};
use super::ingest::{Ingested, apply_alert, routes_changed, service_info, silence_matchers};
use super::{Result, Store, StoreError, WriteTx, ms};
use crate::domain::alert::{AlertEvent, AlertStatus, EventAction, SilenceMatch};

#[derive(Debug, Clone)]
pub struct IntegrationRecord {
    pub id: i64,
    pub service_id: i64,
    pub service: String,
    pub kind: String,
    pub routing_key: String,
    /// A forge integration's key for checking its webhooks; `None` for other kinds.
    pub signing_secret: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A change event (a deploy, a config push) a monitoring tool reported for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEventRecord {
    pub id: i64,
    pub service_id: i64,
    pub service: String,
    pub summary: String,
    pub source: String,
    pub happened_at: Timestamp,
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

#[derive(Debug, Clone)]
pub struct AlertFilter {
    pub service: Option<String>,
    pub status: Option<AlertStatus>,
    pub incident: Option<i64>,
    pub limit: i64,
}

const ALERT_COLUMNS: &str = "a.id, s.name AS service, a.dedup_key, a.status, a.severity, a.summary, a.source, \
     a.payload, a.event_count, a.first_at, a.last_at, a.resolved_at, a.incident_id, a.silenced";

impl Store {
    /// Adds an integration; one that `replaces` another revokes it in the same transaction,
    /// so a rotation never leaves a service without a live key.
    pub async fn insert_integration(
        &self,
        service_id: i64,
        kind: &str,
        routing_key: &str,
        signing_secret: Option<&str>,
        replaces: Option<i64>,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        if let Some(old) = replaces
            && !revoke(&mut tx, old, now).await?
        {
            return Err(StoreError::Conflict(
                "the integration is already revoked".into(),
            ));
        }
        let id = tx
            .fetch_one(
                "INSERT INTO integrations (service_id, kind, routing_key, signing_secret, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                args![service_id, kind, routing_key, signing_secret, ms(now)],
            )
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    StoreError::Conflict("routing key exists".into())
                } else {
                    e
                }
            })?
            .get("id")?;
        routes_changed(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn integrations(&self, service_id: Option<i64>) -> Result<Vec<IntegrationRecord>> {
        let rows = self
            .fetch_all(
                "SELECT i.id, i.service_id, s.name, i.kind, i.routing_key, i.signing_secret, i.created_at, i.revoked_at \
                 FROM integrations i JOIN services s ON s.id = i.service_id \
                 WHERE ($1 = 0 OR i.service_id = $1) ORDER BY i.id",
                args![service_id.unwrap_or(0)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(IntegrationRecord {
                    id: r.get("id")?,
                    service_id: r.get("service_id")?,
                    service: r.get("name")?,
                    kind: r.get("kind")?,
                    routing_key: r.get("routing_key")?,
                    signing_secret: r.get("signing_secret")?,
                    created_at: r.ts("created_at")?,
                    revoked_at: r.opt_ts("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes an integration's key; false when it was already revoked.
    pub async fn revoke_integration(&self, id: i64, now: Timestamp) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = revoke(&mut tx, id, now).await?;
        if done {
            routes_changed(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    pub async fn set_alert_rules(&self, service_id: i64, rules_json: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            "UPDATE services SET alert_rules = $1 WHERE id = $2",
            args![rules_json, service_id],
        )
        .await?;
        routes_changed(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN services s ON s.id = a.service_id \
             WHERE ($1 = '' OR s.name = $1) AND ($2 = '' OR a.status = $2) AND ($3 = 0 OR a.incident_id = $3) \
             ORDER BY a.last_at DESC, a.id DESC LIMIT $4"
        );
        let rows = self
            .fetch_all(
                &sql,
                args![
                    filter.service.clone().unwrap_or_default(),
                    filter.status.map(|s| s.as_str()).unwrap_or(""),
                    filter.incident.unwrap_or(0),
                    filter.limit.clamp(1, 1000),
                ],
            )
            .await?;
        rows.iter().map(alert_from_row).collect()
    }

    pub async fn alert(&self, id: i64) -> Result<Option<AlertRecord>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN services s ON s.id = a.service_id WHERE a.id = $1"
        );
        let row = self.fetch_optional(&sql, args![id]).await?;
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
        let row = tx
            .fetch_optional(
                "SELECT service_id, dedup_key, status FROM alerts WHERE id = $1",
                args![alert_id],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        let status: AlertStatus = row.parsed("status")?;
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
        let service_id: i64 = row.get("service_id")?;
        let service = service_info(&mut tx, service_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let event = AlertEvent {
            routing_key: String::new(),
            action,
            dedup_key: Some(row.get("dedup_key")?),
            payload: None,
        };
        let outcome = apply_alert(&mut tx, self.backend, &service, &event, now).await?;
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
        let mut tx = self.begin_write().await?;
        let id = tx
            .fetch_one(
                "INSERT INTO silences (service_id, matchers, reason, starts_at, ends_at, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                args![
                    service_id,
                    json,
                    reason,
                    ms(starts_at),
                    ms(ends_at),
                    created_by,
                    ms(now),
                ],
            )
            .await?
            .get("id")?;
        routes_changed(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Silences not yet ended at `now`, soonest first.
    pub async fn silences(&self, now: Timestamp) -> Result<Vec<SilenceRecord>> {
        let rows = self
            .fetch_all(
                "SELECT x.id, s.name AS service, x.matchers, x.reason, x.starts_at, x.ends_at, u.username \
                 FROM silences x LEFT JOIN services s ON s.id = x.service_id JOIN users u ON u.id = x.created_by \
                 WHERE x.ends_at > $1 ORDER BY x.starts_at, x.id",
                args![ms(now)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SilenceRecord {
                    id: r.get("id")?,
                    service: r.get("service")?,
                    matchers: silence_matchers(r)?,
                    reason: r.get("reason")?,
                    starts_at: r.ts("starts_at")?,
                    ends_at: r.ts("ends_at")?,
                    created_by: r.get("username")?,
                })
            })
            .collect()
    }

    /// Ends a silence now; false when it had already ended.
    pub async fn end_silence(&self, id: i64, now: Timestamp) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = tx
            .execute(
                "UPDATE silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1",
                args![ms(now), id],
            )
            .await?;
        if done > 0 {
            routes_changed(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }

    /// Marks the open alerts of an incident acknowledged (an incident acknowledgement).
    pub async fn acknowledge_alerts(&self, incident_id: i64) -> Result<()> {
        self.write_one(
            "UPDATE alerts SET status = 'acknowledged' WHERE incident_id = $1 AND status = 'triggered'",
            args![incident_id],
        )
        .await?;
        Ok(())
    }

    /// The alerts of one incident most recently seen first, at most `limit`, and whether it
    /// has more. (Not how many: counting tens of thousands on every live update costs more
    /// than the rest of the update.)
    pub async fn incident_alerts(
        &self,
        incident_id: i64,
        limit: u32,
    ) -> Result<(Vec<AlertRecord>, bool)> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN services s ON s.id = a.service_id \
             WHERE a.incident_id = $1 ORDER BY a.last_at DESC, a.id DESC LIMIT $2"
        );
        let rows = self
            .fetch_all(&sql, args![incident_id, i64::from(limit) + 1])
            .await?;
        let more = rows.len() > limit as usize;
        let alerts = rows
            .iter()
            .take(limit as usize)
            .map(alert_from_row)
            .collect::<Result<_>>()?;
        Ok((alerts, more))
    }

    /// The change events of `services` that happened in `[since, until]`, newest first, at most
    /// `limit`.
    pub async fn changes_between(
        &self,
        services: &[i64],
        since: Timestamp,
        until: Timestamp,
        limit: i64,
    ) -> Result<Vec<ChangeEventRecord>> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (4..4 + services.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT c.id, c.service_id, s.name AS service, c.summary, c.source, c.happened_at FROM change_events c \
             JOIN services s ON s.id = c.service_id WHERE c.happened_at >= $1 AND c.happened_at <= $2 \
             AND c.service_id IN ({}) ORDER BY c.happened_at DESC, c.id DESC LIMIT $3",
            placeholders.join(", ")
        );
        let mut arguments = vec![Arg::from(ms(since)), Arg::from(ms(until)), Arg::from(limit)];
        arguments.extend(services.iter().map(Arg::from));
        let rows = self.fetch_all(&sql, &arguments).await?;
        rows.iter()
            .map(|r| {
                Ok(ChangeEventRecord {
                    id: r.get("id")?,
                    service_id: r.get("service_id")?,
                    service: r.get("service")?,
                    summary: r.get("summary")?,
                    source: r.get("source")?,
                    happened_at: r.ts("happened_at")?,
                })
            })
            .collect()
    }
}

fn alert_from_row(r: &Row) -> Result<AlertRecord> {
    Ok(AlertRecord {
        id: r.get("id")?,
        service: r.get("service")?,
        dedup_key: r.get("dedup_key")?,
        status: r.parsed("status")?,
        severity: r.get("severity")?,
        summary: r.get("summary")?,
        source: r.get("source")?,
        payload: r.get("payload")?,
        count: r.get("event_count")?,
        first_at: r.ts("first_at")?,
        last_at: r.ts("last_at")?,
        resolved_at: r.opt_ts("resolved_at")?,
        incident_id: r.get("incident_id")?,
        silenced: r.get::<i64>("silenced")? != 0,
    })
}

/// Revokes an integration's key within `tx`; false when it was already revoked.
async fn revoke(tx: &mut WriteTx, id: i64, now: Timestamp) -> Result<bool> {
    let done = tx
        .execute(
            "UPDATE integrations SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            args![ms(now), id],
        )
        .await?;
    Ok(done > 0)
}
