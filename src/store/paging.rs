//! The paging engine's durable work: escalations (each fires its current step once, under a row
//! lock, in the transaction that records its effects), pages, and deliveries (claimed with a
//! lease, sent outside any transaction, then recorded).

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::incidents::{
    IdempotencyKey, Inserted, TimelineEntry, declare_in, insert_entries, save_incident,
};
use super::oncall::{
    NotificationStep, PolicyRecord, ScheduleRecord, notification_steps, policy_from_row, schedule,
    team_member_ids,
};
use super::{Backend, Result, Store, StoreError, WriteTx, ms, opt_ts, parsed, ts};
use crate::domain::escalation::PagingStop;
use crate::domain::incident::Incident;
use crate::domain::timeline::EntryData;

/// An escalation whose current step is due, locked for this transaction.
#[derive(Debug, Clone)]
pub struct DueEscalation {
    pub id: i64,
    pub incident_id: i64,
    pub round: u32,
    pub level: u32,
    pub due_at: Timestamp,
    pub policy: PolicyRecord,
}

/// A delivery claimed by one engine instance until `lease_until`.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub id: i64,
    pub page_id: i64,
    pub incident_id: i64,
    pub title: String,
    pub severity: crate::domain::incident::Severity,
    pub status: crate::domain::incident::Status,
    pub kind: String,
    pub address: String,
    pub secret: String,
    pub attempts: i64,
}

/// The paging history of an incident, for its page and API.
#[derive(Debug, Clone)]
pub struct PageRecord {
    pub id: i64,
    pub user: String,
    pub step_key: String,
    pub created_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub deliveries: Vec<DeliveryRecord>,
}

#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: i64,
    pub kind: String,
    pub address: String,
    pub state: String,
    /// When paging stopped while this delivery was queued or on its way, and why.
    pub stopped: Option<(Timestamp, PagingStop)>,
    pub attempts: Vec<AttemptRecord>,
}

#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub at: Timestamp,
    pub ok: bool,
    pub detail: String,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    Sent(String),
    /// Failed; try again at the given time.
    Retry(String, Timestamp),
    /// Failed for the last time.
    GiveUp(String),
}

/// A transaction of the escalation manager.
pub struct PagingTx {
    tx: WriteTx,
    backend: Backend,
}

impl Store {
    pub async fn begin_paging(&self) -> Result<PagingTx> {
        Ok(PagingTx {
            tx: self.begin_write().await?,
            backend: self.backend,
        })
    }

    /// Schedules many escalations at once (one transaction): `(incident, policy, first due)`.
    pub async fn start_escalations(
        &self,
        items: &[(i64, i64, Timestamp)],
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for (incident_id, policy_id, due) in items {
            sqlx::query(
                "INSERT INTO escalations (incident_id, policy_id, round, level, state, due_at, created_at) \
                 VALUES ($1, $2, 0, 0, 'pending', $3, $4)",
            )
            .bind(incident_id)
            .bind(policy_id)
            .bind(ms(*due))
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// When each page of an incident was created, with the escalation that made it.
    pub async fn page_times(&self, incident_id: i64) -> Result<Vec<(Option<i64>, Timestamp)>> {
        let rows =
            sqlx::query("SELECT escalation_id, created_at FROM pages WHERE incident_id = $1")
                .bind(incident_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("escalation_id")?, ts(r, "created_at")?)))
            .collect()
    }

    pub async fn policy(&self, id: i64) -> Result<Option<PolicyRecord>> {
        let row = sqlx::query(
            "SELECT id, name, repeat_count, levels FROM escalation_policies WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(policy_from_row).transpose()
    }

    /// The earliest time any escalation or delivery is due, so the engine can sleep until then.
    pub async fn next_due(&self) -> Result<Option<Timestamp>> {
        let row = sqlx::query(
            "SELECT MIN(t) AS t FROM (SELECT MIN(due_at) AS t FROM escalations WHERE state = 'pending' \
             UNION ALL SELECT MIN(due_at) AS t FROM deliveries WHERE state = 'pending') AS due",
        )
        .fetch_one(&self.pool)
        .await?;
        opt_ts(&row, "t")
    }

    /// Claims up to `limit` due deliveries for `owner` until `lease_until`. A delivery whose
    /// owner died is claimed again once its lease runs out.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<DeliveryJob>> {
        let mut tx = self.begin_write().await?;
        let jobs = claim_in(&mut tx, self.backend, owner, now, lease_until, limit).await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// Records one attempt of a delivery this owner holds, and releases the lease.
    pub async fn finish_delivery(
        &self,
        id: i64,
        owner: &str,
        now: Timestamp,
        attempt: &Attempt,
    ) -> Result<()> {
        let (ok, detail, state, due) = match attempt {
            Attempt::Sent(d) => (1, d, "sent", None),
            Attempt::Retry(d, at) => (0, d, "pending", Some(*at)),
            Attempt::GiveUp(d) => (0, d, "failed", None),
        };
        self.faults
            .check("finish_delivery")
            .map_err(|e| StoreError::Injected(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO delivery_attempts (delivery_id, at, ok, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(ms(now))
        .bind(ok)
        .bind(detail.as_str())
        .execute(&mut *tx)
        .await?;
        // Paging may have stopped while this was on its way. Sent anyway, it is recorded as
        // sent (after the stop, which the timeline says); failed, it stays cancelled.
        let row = sqlx::query(
            "UPDATE deliveries SET attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, \
             state = CASE WHEN state <> 'cancelled' THEN $1 WHEN $5 = 1 THEN 'sent' ELSE state END, \
             due_at = COALESCE($2, due_at) \
             WHERE id = $3 AND lease_owner = $4 RETURNING page_id, kind, stopped_by",
        )
        .bind(state)
        .bind(due.map(ms))
        .bind(id)
        .bind(owner)
        .bind(ok)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row
            && ok == 1
            && let Some(stopped_by) = row.try_get::<Option<String>, _>("stopped_by")?
        {
            let stopped_by: PagingStop = stopped_by
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("stopped_by = {stopped_by}")))?;
            let page = sqlx::query(
                "SELECT p.incident_id, u.username FROM pages p JOIN users u ON u.id = p.user_id \
                 WHERE p.id = $1",
            )
            .bind(row.try_get::<i64, _>("page_id")?)
            .fetch_one(&mut *tx)
            .await?;
            let entry = EntryData::SentAfterStop {
                user: page.try_get("username")?,
                channel: row.try_get("kind")?,
                stopped_by,
            };
            insert_entries(&mut tx, page.try_get("incident_id")?, None, now, &[entry]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stops every pending escalation and delivery of an incident. Returns false when nothing
    /// was pending (already acknowledged, or never paged).
    pub async fn acknowledge(
        &self,
        incident_id: i64,
        actor_id: i64,
        username: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let stopped = stop_paging(&mut tx, incident_id, now, PagingStop::Acknowledged).await?;
        let pages = sqlx::query("UPDATE pages SET acknowledged_at = $1 WHERE incident_id = $2 AND acknowledged_at IS NULL")
            .bind(ms(now))
            .bind(incident_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let changed = stopped + pages > 0;
        if changed {
            let entry = EntryData::Acknowledged {
                user: username.to_string(),
            };
            insert_entries(&mut tx, incident_id, Some(actor_id), now, &[entry]).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Whether the timeline already holds an entry of `kind`.
    pub async fn has_entry(&self, incident_id: i64, kind: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM timeline_entries WHERE incident_id = $1 AND kind = $2",
        )
        .bind(incident_id)
        .bind(kind)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Whether any page of the incident has been acknowledged.
    pub async fn acknowledged(&self, incident_id: i64) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM pages WHERE incident_id = $1 AND acknowledged_at IS NOT NULL")
            .bind(incident_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// The page a signed acknowledgement link names: (incident id, user id).
    pub async fn page_owner(&self, page_id: i64) -> Result<Option<(i64, i64)>> {
        let row = sqlx::query("SELECT incident_id, user_id FROM pages WHERE id = $1")
            .bind(page_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| Ok::<_, sqlx::Error>((r.try_get("incident_id")?, r.try_get("user_id")?)))
            .transpose()?)
    }

    pub async fn paging_history(&self, incident_id: i64) -> Result<Vec<PageRecord>> {
        let pages = sqlx::query(
            "SELECT p.id, u.username, p.step_key, p.created_at, p.acknowledged_at FROM pages p \
             JOIN users u ON u.id = p.user_id WHERE p.incident_id = $1 ORDER BY p.id",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(pages.len());
        for page in pages {
            let id: i64 = page.try_get("id")?;
            let deliveries = sqlx::query(
                "SELECT id, kind, address, state, stopped_at, stopped_by FROM deliveries \
                 WHERE page_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            let mut records = Vec::with_capacity(deliveries.len());
            for d in deliveries {
                let delivery_id: i64 = d.try_get("id")?;
                let attempts = sqlx::query("SELECT at, ok, detail FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id")
                    .bind(delivery_id)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|a| {
                        Ok(AttemptRecord {
                            at: ts(a, "at")?,
                            ok: a.try_get::<i64, _>("ok")? != 0,
                            detail: a.try_get("detail")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let stopped = match (
                    opt_ts(&d, "stopped_at")?,
                    d.try_get::<Option<String>, _>("stopped_by")?,
                ) {
                    (Some(at), Some(by)) => Some((
                        at,
                        by.parse()
                            .map_err(|_| StoreError::Corrupt(format!("stopped_by = {by}")))?,
                    )),
                    _ => None,
                };
                records.push(DeliveryRecord {
                    id: delivery_id,
                    kind: d.try_get("kind")?,
                    address: d.try_get("address")?,
                    state: d.try_get("state")?,
                    stopped,
                    attempts,
                });
            }
            out.push(PageRecord {
                id,
                user: page.try_get("username")?,
                step_key: page.try_get("step_key")?,
                created_at: ts(&page, "created_at")?,
                acknowledged_at: opt_ts(&page, "acknowledged_at")?,
                deliveries: records,
            });
        }
        Ok(out)
    }
}

impl PagingTx {
    /// Stores a declared incident (see `incidents::declare_in`); its assembly follows in this
    /// transaction, so no crash can leave an incident declared but never paged.
    pub async fn declare(
        &mut self,
        incident: &Incident,
        entry: &EntryData,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Inserted> {
        declare_in(&mut self.tx, incident, entry, idempotency).await
    }

    /// Writes a domain change to an incident (see `incidents::save_incident`).
    pub async fn save_incident(
        &mut self,
        before: &Incident,
        incident: &Incident,
        actor_id: Option<i64>,
        now: Timestamp,
        entries: &[EntryData],
    ) -> Result<Vec<TimelineEntry>> {
        save_incident(&mut self.tx, before, incident, actor_id, now, entries).await
    }

    /// Up to `limit` due escalation steps, most overdue first, locked so no other instance
    /// fires them too (PostgreSQL skips rows another instance holds).
    pub async fn due_escalations(
        &mut self,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<DueEscalation>> {
        let lock = self.backend.claim_lock("e");
        let sql = format!(
            "SELECT e.id AS eid, e.incident_id, e.round, e.level, e.due_at, p.id, p.name, p.repeat_count, p.levels \
             FROM escalations e JOIN escalation_policies p ON p.id = e.policy_id \
             WHERE e.state = 'pending' AND e.due_at <= $1 ORDER BY e.due_at, e.id LIMIT $2{lock}"
        );
        let rows = sqlx::query(&sql)
            .bind(ms(now))
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(due_from_row).collect()
    }

    /// Starts running a policy for an incident; its first step is due at `now`.
    pub async fn start_escalation(
        &mut self,
        incident_id: i64,
        policy_id: i64,
        now: Timestamp,
    ) -> Result<i64> {
        Ok(sqlx::query(
            "INSERT INTO escalations (incident_id, policy_id, round, level, state, due_at, created_at) \
             VALUES ($1, $2, 0, 0, 'pending', $3, $3) RETURNING id",
        )
        .bind(incident_id)
        .bind(policy_id)
        .bind(ms(now))
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("id")?)
    }

    pub async fn schedule(&mut self, id: i64) -> Result<Option<ScheduleRecord>> {
        schedule(&mut self.tx, id).await
    }

    pub async fn team_members(&mut self, team_id: i64) -> Result<Vec<i64>> {
        team_member_ids(&mut self.tx, team_id).await
    }

    pub async fn username(&mut self, user_id: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT username FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|r| r.try_get("username")).transpose()?)
    }

    /// Pages `user_id` for one step; `None` when they were already paged for it.
    pub async fn page(
        &mut self,
        incident_id: i64,
        escalation_id: Option<i64>,
        step_key: &str,
        user_id: i64,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "INSERT INTO pages (incident_id, escalation_id, step_key, user_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (incident_id, step_key, user_id) DO NOTHING RETURNING id",
        )
        .bind(incident_id)
        .bind(escalation_id)
        .bind(step_key)
        .bind(user_id)
        .bind(ms(now))
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Queues a page's deliveries following the responder's notification rules.
    pub async fn queue_deliveries(
        &mut self,
        page_id: i64,
        user_id: i64,
        now: Timestamp,
    ) -> Result<Vec<NotificationStep>> {
        let steps = notification_steps(&mut self.tx, user_id).await?;
        for step in &steps {
            let due = now + jiff::SignedDuration::from_mins(step.delay_minutes);
            sqlx::query(
                "INSERT INTO deliveries (page_id, kind, address, secret, state, due_at, attempts, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6)",
            )
            .bind(page_id)
            .bind(&step.method.kind)
            .bind(&step.method.address)
            .bind(&step.method.secret)
            .bind(ms(due))
            .bind(ms(now))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(steps)
    }

    /// Leases due deliveries to `owner` in this transaction, so the pages a step just queued
    /// go out right after its commit, without a transaction of their own.
    pub async fn claim_deliveries(
        &mut self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<DeliveryJob>> {
        claim_in(&mut self.tx, self.backend, owner, now, lease_until, limit).await
    }

    /// Appends timeline entries written by aplomb itself (no actor).
    pub async fn record(
        &mut self,
        incident_id: i64,
        now: Timestamp,
        entries: &[EntryData],
    ) -> Result<()> {
        insert_entries(&mut self.tx, incident_id, None, now, entries).await?;
        Ok(())
    }

    /// Moves an escalation to its next step, or ends it as exhausted.
    pub async fn advance(
        &mut self,
        escalation_id: i64,
        next: Option<(u32, u32, Timestamp)>,
    ) -> Result<()> {
        match next {
            Some((round, level, due)) => {
                sqlx::query(
                    "UPDATE escalations SET round = $1, level = $2, due_at = $3 WHERE id = $4",
                )
                .bind(i64::from(round))
                .bind(i64::from(level))
                .bind(ms(due))
                .bind(escalation_id)
                .execute(&mut *self.tx)
                .await?;
            }
            None => {
                sqlx::query("UPDATE escalations SET state = 'exhausted' WHERE id = $1")
                    .bind(escalation_id)
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Ends an incident's pending escalations and cancels its queued deliveries, marking why.
/// Deliveries already leased are on their way: they are marked too, and `finish_delivery`
/// records what happened to them. Returns how many escalations it ended.
pub(super) async fn stop_paging(
    conn: &mut AnyConnection,
    incident_id: i64,
    now: Timestamp,
    stop: PagingStop,
) -> Result<u64> {
    let ended = sqlx::query(
        "UPDATE escalations SET state = $1 WHERE incident_id = $2 AND state = 'pending'",
    )
    .bind(stop.as_str())
    .bind(incident_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE deliveries SET state = 'cancelled', stopped_at = $1, stopped_by = $2 \
         WHERE state = 'pending' AND page_id IN (SELECT id FROM pages WHERE incident_id = $3)",
    )
    .bind(ms(now))
    .bind(stop.as_str())
    .bind(incident_id)
    .execute(&mut *conn)
    .await?;
    Ok(ended)
}

fn due_from_row(row: &AnyRow) -> Result<DueEscalation> {
    let small = |column: &str| -> Result<u32> {
        let v: i64 = row.try_get(column)?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{column} = {v}")))
    };
    Ok(DueEscalation {
        id: row.try_get("eid")?,
        incident_id: row.try_get("incident_id")?,
        round: small("round")?,
        level: small("level")?,
        due_at: ts(row, "due_at")?,
        policy: policy_from_row(row)?,
    })
}

/// Leases up to `limit` due deliveries to `owner` until `lease_until`; with what composing
/// their messages needs, so sending them reads nothing more.
async fn claim_in(
    conn: &mut AnyConnection,
    backend: Backend,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: i64,
) -> Result<Vec<DeliveryJob>> {
    let lock = backend.claim_lock("d");
    let incident = |column: &str| {
        format!(
            "(SELECT i.{column} FROM pages p JOIN incidents i ON i.id = p.incident_id \
             WHERE p.id = deliveries.page_id) AS incident_{column}"
        )
    };
    let sql = format!(
        "UPDATE deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN (\
           SELECT d.id FROM deliveries d WHERE d.state = 'pending' AND d.due_at <= $3 \
           AND (d.lease_until IS NULL OR d.lease_until < $3) ORDER BY d.due_at LIMIT $4{lock}) \
         RETURNING id, page_id, kind, address, secret, attempts, {}, {}, {}, {}",
        incident("id"),
        incident("title"),
        incident("severity"),
        incident("status"),
    );
    let rows = sqlx::query(&sql)
        .bind(owner)
        .bind(ms(lease_until))
        .bind(ms(now))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DeliveryJob {
                id: row.try_get("id")?,
                page_id: row.try_get("page_id")?,
                incident_id: row.try_get("incident_id")?,
                title: row.try_get("incident_title")?,
                severity: parsed(row, "incident_severity")?,
                status: parsed(row, "incident_status")?,
                kind: row.try_get("kind")?,
                address: row.try_get("address")?,
                secret: row.try_get("secret")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect()
}
