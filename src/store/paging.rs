//! The paging engine's durable work: escalations (each fires its current step once, under a row
//! lock, in the transaction that records its effects), pages (check-in reminders about a task
//! among them), and deliveries (claimed with a lease, sent outside any transaction, then
//! recorded).

use jiff::Timestamp;

use super::communication::{last_told, load_updates};
use super::db::{Arg, Conn, Row, args, closed_statuses};
use super::incidents::{
    IdempotencyKey, Inserted, TimelineEntry, declare_in, insert_entries, save_incident,
};
use super::oncall::{
    NotificationStep, PolicyRecord, ScheduleRecord, notification_steps, policy_from_row, schedule,
    team_member_ids,
};
use super::{Backend, Result, Store, StoreError, WriteTx, check_fault, ms};
use crate::domain::communication::Told;
use crate::domain::coordination::Cadence;
use crate::domain::escalation::{PagePurpose, PagingStop};
use crate::domain::incident::{Incident, Origin, RoleKind};
use crate::domain::maintenance::MaintenanceStatus;
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

/// A task whose check-in reminder is due, locked for this transaction.
#[derive(Debug, Clone)]
pub struct DueCheckIn {
    pub task_id: i64,
    pub incident_id: i64,
    pub title: String,
    pub assignee_id: Option<i64>,
    pub remind_at: Timestamp,
    pub cadence: Cadence,
}

/// An incident whose update cadence the engine is to look at now, locked for this
/// transaction.
#[derive(Debug, Clone)]
pub struct DueUpdate {
    pub incident_id: i64,
    pub severity: crate::domain::incident::Severity,
    pub active: bool,
    pub declared_at: Timestamp,
    pub snoozed_until: Option<Timestamp>,
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
    pub about: PageAbout,
    /// The incident is a drill: every message about it says so first.
    pub drill: bool,
    /// When the alert that opened the incident was stored (None for an incident declared by
    /// hand or from user reports): where the alert-to-page time starts.
    pub alert_at: Option<Timestamp>,
}

/// What the paging engine has yet to do (`Store::paging_backlog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagingBacklog {
    pub escalations_due: i64,
    /// (channel, pending deliveries), in channel order.
    pub deliveries_queued: Vec<(String, i64)>,
}

/// What a delivered page asks of its reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageAbout {
    /// Acknowledge the incident.
    Incident,
    /// Check in on this task (id, title).
    CheckIn(i64, String),
    /// Post the overdue status update.
    UpdateDue,
    /// Read this published status update.
    StatusUpdate {
        update_id: i64,
        phase: crate::domain::communication::Phase,
        text: String,
    },
    /// Do this action item (id, title, due time), reminded of at the page's time.
    ActionItem {
        item_id: i64,
        title: String,
        due_at: Option<Timestamp>,
        reminded_at: Timestamp,
    },
}

/// The paging history of an incident, for its page and API.
#[derive(Debug, Clone)]
pub struct PageRecord {
    pub id: i64,
    pub user: String,
    pub step_key: String,
    pub purpose: PagePurpose,
    /// The task a check-in reminder is about.
    pub task_id: Option<i64>,
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

impl Attempt {
    /// The outcome's name in metrics: `sent`, `retried` or `failed`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Attempt::Sent(_) => "sent",
            Attempt::Retry(..) => "retried",
            Attempt::GiveUp(_) => "failed",
        }
    }
}

/// A transaction of the escalation manager.
pub struct PagingTx {
    pub(super) tx: WriteTx,
    pub(super) backend: Backend,
    faults: std::sync::Arc<crate::faults::FaultPoints>,
}

impl Store {
    pub async fn begin_paging(&self) -> Result<PagingTx> {
        Ok(PagingTx {
            tx: self.begin_write().await?,
            backend: self.backend,
            faults: self.faults.clone(),
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
            tx.execute(
                "INSERT INTO escalations (incident_id, policy_id, round, level, state, due_at, created_at) \
                 VALUES ($1, $2, 0, 0, 'pending', $3, $4)",
                args![*incident_id, *policy_id, ms(*due), ms(now)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// When each page of an incident was created, with the escalation that made it.
    pub async fn page_times(&self, incident_id: i64) -> Result<Vec<(Option<i64>, Timestamp)>> {
        let rows = self
            .fetch_all(
                "SELECT escalation_id, created_at FROM pages WHERE incident_id = $1",
                args![incident_id],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.get::<Option<i64>>("escalation_id")?, r.ts("created_at")?)))
            .collect()
    }

    pub async fn policy(&self, id: i64) -> Result<Option<PolicyRecord>> {
        let row = self
            .fetch_optional(
                "SELECT id, name, repeat_count, levels FROM escalation_policies WHERE id = $1",
                args![id],
            )
            .await?;
        row.as_ref().map(policy_from_row).transpose()
    }

    /// The earliest time any escalation, delivery, reminder, maintenance's start or end, or
    /// drill event is due, so the engine can sleep until then.
    pub async fn next_due(&self) -> Result<Option<Timestamp>> {
        let row = self
            .read()
            .await?
            .fetch_one(
                concat!(
                "SELECT MIN(t) AS t FROM (SELECT MIN(due_at) AS t FROM escalations WHERE state = 'pending' \
                 UNION ALL SELECT MIN(due_at) AS t FROM deliveries WHERE state = 'pending' \
                 UNION ALL SELECT MIN(remind_at) AS t FROM tasks \
                 UNION ALL SELECT MIN(update_remind_at) AS t FROM incidents \
                 UNION ALL SELECT MIN(remind_at) AS t FROM action_items \
                 UNION ALL SELECT MIN(due_at) AS t FROM tracker_events WHERE state = 'pending' \
                 UNION ALL SELECT MIN(CASE WHEN status = $1 THEN scheduled_for ELSE scheduled_until END) AS t \
                 FROM maintenances WHERE status IN ($1, $2) \
                 UNION ALL SELECT MIN(due_at) AS t FROM subscriber_notices WHERE state = 'pending' \
                 UNION ALL SELECT MIN(due_at) AS t FROM meeting_invites WHERE state = 'pending' \
                 UNION ALL SELECT MIN(e.due_at) AS t FROM drill_events e JOIN incidents i ON i.id = e.incident_id \
                 WHERE e.played_at IS NULL AND i.status NOT IN ",
                closed_statuses!(),
                ") AS due"
                ),
                args![
                    MaintenanceStatus::Scheduled.as_str(),
                    MaintenanceStatus::InProgress.as_str()
                ],
            )
            .await?;
        row.opt_ts("t")
    }

    /// The paging engine's backlog at `now`: escalation steps due but not yet fired, and
    /// deliveries waiting to be sent (due or retrying later) by channel: every channel a
    /// contact method uses, so an empty queue reads 0 rather than vanishing.
    pub async fn paging_backlog(&self, now: Timestamp) -> Result<PagingBacklog> {
        let mut conn = self.read().await?;
        let due = conn
            .fetch_one(
                "SELECT COUNT(*) AS n FROM escalations WHERE state = 'pending' AND due_at <= $1",
                args![ms(now)],
            )
            .await?;
        let queued = conn
            .fetch_all(
                "SELECT k.kind, (SELECT COUNT(*) FROM deliveries d \
                 WHERE d.state = 'pending' AND d.kind = k.kind) AS n \
                 FROM (SELECT kind FROM contact_methods \
                 UNION SELECT kind FROM deliveries WHERE state = 'pending') k ORDER BY k.kind",
                args![],
            )
            .await?;
        Ok(PagingBacklog {
            escalations_due: due.get("n")?,
            deliveries_queued: queued
                .iter()
                .map(|row| Ok((row.get("kind")?, row.get("n")?)))
                .collect::<Result<_>>()?,
        })
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
            Attempt::Sent(d) => (1_i64, d, "sent", None),
            Attempt::Retry(d, at) => (0, d, "pending", Some(*at)),
            Attempt::GiveUp(d) => (0, d, "failed", None),
        };
        check_fault(&self.faults, "finish_delivery")?;
        let mut tx = self.begin_write().await?;
        tx.execute(
            "INSERT INTO delivery_attempts (delivery_id, at, ok, detail) VALUES ($1, $2, $3, $4)",
            args![id, ms(now), ok, detail.as_str()],
        )
        .await?;
        // Paging may have stopped while this was on its way. Sent anyway, it is recorded as
        // sent (after the stop, which the timeline says); failed, it stays cancelled.
        let row = tx
            .fetch_optional(
                "UPDATE deliveries SET attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, \
                 state = CASE WHEN state <> 'cancelled' THEN $1 WHEN $5 = 1 THEN 'sent' ELSE state END, \
                 due_at = COALESCE($2, due_at) \
                 WHERE id = $3 AND lease_owner = $4 RETURNING page_id, kind, stopped_by",
                args![state, due.map(ms), id, owner, ok],
            )
            .await?;
        if let Some(row) = row
            && ok == 1
            && let Some(stopped_by) = row.get::<Option<String>>("stopped_by")?
        {
            let stopped_by: PagingStop = stopped_by
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("stopped_by = {stopped_by}")))?;
            let page = tx
                .fetch_one(
                    "SELECT p.incident_id, u.username FROM pages p JOIN users u ON u.id = p.user_id \
                     WHERE p.id = $1",
                    args![row.get::<i64>("page_id")?],
                )
                .await?;
            let entry = EntryData::SentAfterStop {
                user: page.get::<String>("username")?,
                channel: row.get::<String>("kind")?,
                stopped_by,
            };
            insert_entries(
                &mut tx,
                page.get::<i64>("incident_id")?,
                None,
                now,
                &[entry],
            )
            .await?;
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
        let pages = tx
            .execute(
                "UPDATE pages SET acknowledged_at = $1 WHERE incident_id = $2 AND acknowledged_at IS NULL \
                 AND purpose = $3",
                args![ms(now), incident_id, PagePurpose::Page.as_str()],
            )
            .await?;
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
        let row = self
            .read()
            .await?
            .fetch_one(
                "SELECT COUNT(*) AS n FROM timeline_entries WHERE incident_id = $1 AND kind = $2",
                args![incident_id, kind],
            )
            .await?;
        Ok(row.get::<i64>("n")? > 0)
    }

    /// Whether any page of the incident has been acknowledged.
    pub async fn acknowledged(&self, incident_id: i64) -> Result<bool> {
        let row = self
            .read()
            .await?
            .fetch_one(
                "SELECT COUNT(*) AS n FROM pages WHERE incident_id = $1 AND acknowledged_at IS NOT NULL \
                 AND purpose = $2",
                args![incident_id, PagePurpose::Page.as_str()],
            )
            .await?;
        Ok(row.get::<i64>("n")? > 0)
    }

    /// The page a signed acknowledgement link names: (incident id, user id).
    pub async fn page_owner(&self, page_id: i64) -> Result<Option<(i64, i64)>> {
        let row = self
            .fetch_optional(
                "SELECT incident_id, user_id FROM pages WHERE id = $1 AND purpose = $2",
                args![page_id, PagePurpose::Page.as_str()],
            )
            .await?;
        row.map(|r| Ok((r.get::<i64>("incident_id")?, r.get::<i64>("user_id")?)))
            .transpose()
    }

    /// The pages and reminders sent for an incident, with their deliveries; status updates
    /// sent to subscribers are listed with each update instead.
    pub async fn paging_history(&self, incident_id: i64) -> Result<Vec<PageRecord>> {
        let pages = self
            .fetch_all(
                "SELECT p.id, u.username, p.step_key, p.purpose, p.task_id, p.created_at, p.acknowledged_at FROM pages p \
                 JOIN users u ON u.id = p.user_id WHERE p.incident_id = $1 AND p.purpose <> $2 ORDER BY p.id",
                args![incident_id, PagePurpose::StatusUpdate.as_str()],
            )
            .await?;
        let mut out = Vec::with_capacity(pages.len());
        for page in pages {
            let id: i64 = page.get("id")?;
            let deliveries = self
                .fetch_all(
                    "SELECT id, kind, address, state, stopped_at, stopped_by FROM deliveries \
                     WHERE page_id = $1 ORDER BY id",
                    args![id],
                )
                .await?;
            let mut records = Vec::with_capacity(deliveries.len());
            for d in deliveries {
                let delivery_id: i64 = d.get("id")?;
                let attempts = self
                    .fetch_all(
                        "SELECT at, ok, detail FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
                        args![delivery_id],
                    )
                    .await?
                    .iter()
                    .map(|a| {
                        Ok(AttemptRecord {
                            at: a.ts("at")?,
                            ok: a.get::<i64>("ok")? != 0,
                            detail: a.get::<String>("detail")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let stopped = match (
                    d.opt_ts("stopped_at")?,
                    d.get::<Option<String>>("stopped_by")?,
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
                    kind: d.get("kind")?,
                    address: d.get("address")?,
                    state: d.get("state")?,
                    stopped,
                    attempts,
                });
            }
            out.push(PageRecord {
                id,
                user: page.get("username")?,
                step_key: page.get("step_key")?,
                purpose: page.parsed("purpose")?,
                task_id: page.get("task_id")?,
                created_at: page.ts("created_at")?,
                acknowledged_at: page.opt_ts("acknowledged_at")?,
                deliveries: records,
            });
        }
        Ok(out)
    }
}

impl PagingTx {
    /// Fails when a test armed or holds `point` (see `crate::faults`).
    pub fn check_fault(&self, point: &'static str) -> Result<()> {
        check_fault(&self.faults, point)
    }

    /// Marks where `undo_to_savepoint` returns to: work after it may fail without undoing
    /// what came before (one savepoint at a time).
    pub async fn savepoint(&mut self) -> Result<()> {
        self.tx.batch("SAVEPOINT before_step").await
    }

    /// Undoes everything since `savepoint`; the transaction goes on.
    pub async fn undo_to_savepoint(&mut self) -> Result<()> {
        self.tx.batch("ROLLBACK TO SAVEPOINT before_step").await?;
        self.tx.batch("RELEASE SAVEPOINT before_step").await
    }

    pub async fn release_savepoint(&mut self) -> Result<()> {
        self.tx.batch("RELEASE SAVEPOINT before_step").await
    }

    /// The transaction's connection, for store modules writing in it (the ingest batch).
    pub(super) fn conn(&mut self) -> &mut Conn {
        &mut self.tx
    }

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
        self.due_where("", args![ms(now), limit]).await
    }

    /// The due steps of one incident's escalations, most overdue first: those of an incident
    /// opened in this transaction, fired before it commits.
    pub async fn due_escalations_of(
        &mut self,
        incident_id: i64,
        now: Timestamp,
    ) -> Result<Vec<DueEscalation>> {
        // An incident runs an escalation per policy of its services: a handful.
        const AT_MOST: i64 = 100;
        self.due_where(
            " AND e.incident_id = $3",
            args![ms(now), AT_MOST, incident_id],
        )
        .await
    }

    async fn due_where(&mut self, filter: &str, args: &[Arg]) -> Result<Vec<DueEscalation>> {
        let lock = self.backend.claim_lock("e");
        let sql = format!(
            "SELECT e.id AS eid, e.incident_id, e.round, e.level, e.due_at, p.id, p.name, p.repeat_count, p.levels \
             FROM escalations e JOIN escalation_policies p ON p.id = e.policy_id \
             WHERE e.state = 'pending' AND e.due_at <= $1{filter} ORDER BY e.due_at, e.id LIMIT $2{lock}"
        );
        let rows = self.tx.fetch_all(&sql, args).await?;
        rows.iter().map(due_from_row).collect()
    }

    /// Up to `limit` tasks whose check-in reminder is due, locked like due escalation steps.
    pub async fn due_check_ins(&mut self, now: Timestamp, limit: i64) -> Result<Vec<DueCheckIn>> {
        let lock = self.backend.claim_lock("t");
        let sql = format!(
            "SELECT t.id, t.incident_id, t.title, t.assignee_id, t.status, t.check_in_minutes, t.remind_at, \
             i.status AS incident_status FROM tasks t JOIN incidents i ON i.id = t.incident_id \
             WHERE t.remind_at <= $1 ORDER BY t.remind_at, t.id LIMIT $2{lock}"
        );
        let rows = self.tx.fetch_all(&sql, args![ms(now), limit]).await?;
        rows.iter()
            .map(|r| {
                let minutes: Option<i64> = r.get("check_in_minutes")?;
                Ok(DueCheckIn {
                    task_id: r.get("id")?,
                    incident_id: r.get("incident_id")?,
                    title: r.get("title")?,
                    assignee_id: r.get("assignee_id")?,
                    remind_at: r.ts("remind_at")?,
                    cadence: Cadence {
                        status: r.parsed("status")?,
                        assigned: r.get::<Option<i64>>("assignee_id")?.is_some(),
                        check_in_minutes: minutes.and_then(|m| u32::try_from(m).ok()),
                        incident_active: r
                            .parsed::<crate::domain::incident::Status>("incident_status")?
                            .is_active(),
                    },
                })
            })
            .collect()
    }

    /// A check-in reminder to a task's assignee, as a page about the task; `None` when this
    /// overdue period's reminder exists already (`step_key` names the period).
    pub async fn reminder_page(
        &mut self,
        due: &DueCheckIn,
        user_id: i64,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let step_key = format!("check-in:{}:{}", due.task_id, ms(due.remind_at));
        let row = self
            .tx
            .fetch_optional(
                "INSERT INTO pages (incident_id, task_id, purpose, step_key, user_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (incident_id, step_key, user_id) DO NOTHING RETURNING id",
                args![
                    due.incident_id,
                    due.task_id,
                    PagePurpose::CheckIn.as_str(),
                    step_key.as_str(),
                    user_id,
                    ms(now)
                ],
            )
            .await?;
        row.map(|r| r.get::<i64>("id")).transpose()
    }

    /// When a task's assignee is next reminded; `None` stops the reminders.
    pub async fn remind_again(&mut self, task_id: i64, at: Option<Timestamp>) -> Result<()> {
        self.tx
            .execute(
                "UPDATE tasks SET remind_at = $1 WHERE id = $2",
                args![at.map(ms), task_id],
            )
            .await?;
        Ok(())
    }

    /// Up to `limit` incidents whose update cadence is to be looked at by now, locked like
    /// due escalation steps.
    pub async fn due_updates(&mut self, now: Timestamp, limit: i64) -> Result<Vec<DueUpdate>> {
        let lock = self.backend.claim_lock("incidents");
        let sql = format!(
            "SELECT id, severity, status, declared_at, update_snoozed_until FROM incidents \
             WHERE update_remind_at <= $1 ORDER BY update_remind_at, id LIMIT $2{lock}"
        );
        let rows = self.tx.fetch_all(&sql, args![ms(now), limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(DueUpdate {
                    incident_id: r.get("id")?,
                    severity: r.parsed("severity")?,
                    active: r
                        .parsed::<crate::domain::incident::Status>("status")?
                        .is_active(),
                    declared_at: r.ts("declared_at")?,
                    snoozed_until: r.opt_ts("update_snoozed_until")?,
                })
            })
            .collect()
    }

    /// The last published update of an incident that counted toward its cadence.
    pub async fn last_told(&mut self, incident_id: i64) -> Result<Option<Told>> {
        let updates = load_updates(&mut self.tx, incident_id, None).await?;
        Ok(last_told(&updates))
    }

    /// Who an overdue update reminds: the communications lead, else the incident lead.
    pub async fn update_owner(&mut self, incident_id: i64) -> Result<Option<i64>> {
        let rows = self
            .tx
            .fetch_all(
                "SELECT role, user_id FROM incident_roles WHERE incident_id = $1",
                args![incident_id],
            )
            .await?;
        let holder = |role: RoleKind| -> Result<Option<i64>> {
            for r in &rows {
                if r.get::<String>("role")? == role.slug() {
                    return Ok(Some(r.get("user_id")?));
                }
            }
            Ok(None)
        };
        Ok(holder(RoleKind::CommunicationsLead)?.or(holder(RoleKind::IncidentLead)?))
    }

    /// An overdue-update reminder to `user_id`, as a page; `None` when this overdue period's
    /// reminder exists already (`period` names it).
    pub async fn update_reminder_page(
        &mut self,
        incident_id: i64,
        period: &str,
        user_id: i64,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let step_key = format!("update:{period}");
        let row = self
            .tx
            .fetch_optional(
                "INSERT INTO pages (incident_id, purpose, step_key, user_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (incident_id, step_key, user_id) DO NOTHING RETURNING id",
                args![
                    incident_id,
                    PagePurpose::UpdateDue.as_str(),
                    step_key.as_str(),
                    user_id,
                    ms(now)
                ],
            )
            .await?;
        row.map(|r| r.get::<i64>("id")).transpose()
    }

    /// When the engine next looks at an incident's update cadence; `None` while no update
    /// is expected.
    pub async fn look_at_updates_again(
        &mut self,
        incident_id: i64,
        at: Option<Timestamp>,
    ) -> Result<()> {
        self.tx
            .execute(
                "UPDATE incidents SET update_remind_at = $1 WHERE id = $2",
                args![at.map(ms), incident_id],
            )
            .await?;
        Ok(())
    }

    /// Starts running a policy for an incident; its first step is due at `now`.
    pub async fn start_escalation(
        &mut self,
        incident_id: i64,
        policy_id: i64,
        now: Timestamp,
    ) -> Result<i64> {
        self.tx
            .fetch_one(
                "INSERT INTO escalations (incident_id, policy_id, round, level, state, due_at, created_at) \
                 VALUES ($1, $2, 0, 0, 'pending', $3, $3) RETURNING id",
                args![incident_id, policy_id, ms(now)],
            )
            .await?
            .get::<i64>("id")
    }

    pub async fn schedule(&mut self, id: i64) -> Result<Option<ScheduleRecord>> {
        schedule(&mut self.tx, id).await
    }

    pub async fn team_members(&mut self, team_id: i64) -> Result<Vec<i64>> {
        team_member_ids(&mut self.tx, team_id).await
    }

    pub async fn username(&mut self, user_id: i64) -> Result<Option<String>> {
        let row = self
            .tx
            .fetch_optional("SELECT username FROM users WHERE id = $1", args![user_id])
            .await?;
        row.map(|r| r.get::<String>("username")).transpose()
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
        let row = self
            .tx
            .fetch_optional(
                "INSERT INTO pages (incident_id, escalation_id, step_key, user_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (incident_id, step_key, user_id) DO NOTHING RETURNING id",
                args![incident_id, escalation_id, step_key, user_id, ms(now)],
            )
            .await?;
        row.map(|r| r.get::<i64>("id")).transpose()
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
            self.tx
                .execute(
                    "INSERT INTO deliveries (page_id, kind, address, secret, state, due_at, attempts, created_at) \
                     VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6)",
                    args![
                        page_id,
                        &step.method.kind,
                        &step.method.address,
                        &step.method.secret,
                        ms(due),
                        ms(now)
                    ],
                )
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
                self.tx
                    .execute(
                        "UPDATE escalations SET round = $1, level = $2, due_at = $3 WHERE id = $4",
                        args![i64::from(round), i64::from(level), ms(due), escalation_id],
                    )
                    .await?;
            }
            None => {
                self.tx
                    .execute(
                        "UPDATE escalations SET state = 'exhausted' WHERE id = $1",
                        args![escalation_id],
                    )
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
    conn: &mut Conn,
    incident_id: i64,
    now: Timestamp,
    stop: PagingStop,
) -> Result<u64> {
    let ended = conn
        .execute(
            "UPDATE escalations SET state = $1 WHERE incident_id = $2 AND state = 'pending'",
            args![stop.as_str(), incident_id],
        )
        .await?;
    // An acknowledgement answers the pages, not the check-ins and updates reminders ask for.
    let only = (stop == PagingStop::Acknowledged).then_some(PagePurpose::Page);
    cancel_deliveries(conn, incident_id, only, stop, now).await?;
    if stop == PagingStop::Resolved {
        // A resolved incident's tasks expect no check-ins and remind nobody.
        conn.execute(
            "UPDATE tasks SET check_in_due_at = NULL, remind_at = NULL WHERE incident_id = $1",
            args![incident_id],
        )
        .await?;
    }
    Ok(ended)
}

/// Cancels an incident's queued deliveries (only those of pages for `only`, if given),
/// marking what stopped them.
pub(super) async fn cancel_deliveries(
    conn: &mut Conn,
    incident_id: i64,
    only: Option<PagePurpose>,
    stop: PagingStop,
    now: Timestamp,
) -> Result<()> {
    // An update once published is told: its deliveries go out whatever happens next. An
    // action item outlives its incident's response, and so do its reminders.
    conn.execute(
        "UPDATE deliveries SET state = 'cancelled', stopped_at = $1, stopped_by = $2 \
         WHERE state = 'pending' AND page_id IN \
         (SELECT id FROM pages WHERE incident_id = $3 AND (CAST($4 AS TEXT) IS NULL OR purpose = $4) \
         AND purpose NOT IN ($5, $6))",
        args![
            ms(now),
            stop.as_str(),
            incident_id,
            only.map(PagePurpose::as_str),
            PagePurpose::StatusUpdate.as_str(),
            PagePurpose::ActionItem.as_str()
        ],
    )
    .await?;
    Ok(())
}

fn due_from_row(row: &Row) -> Result<DueEscalation> {
    let small = |column: &str| -> Result<u32> {
        let v: i64 = row.get(column)?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{column} = {v}")))
    };
    Ok(DueEscalation {
        id: row.get("eid")?,
        incident_id: row.get("incident_id")?,
        round: small("round")?,
        level: small("level")?,
        due_at: row.ts("due_at")?,
        policy: policy_from_row(row)?,
    })
}

/// Leases up to `limit` due deliveries to `owner` until `lease_until`; with what composing
/// their messages needs, so sending them reads nothing more.
async fn claim_in(
    conn: &mut Conn,
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
         RETURNING id, page_id, kind, address, secret, attempts, {}, {}, {}, {}, {}, \
         (SELECT p.purpose FROM pages p WHERE p.id = deliveries.page_id) AS page_purpose, \
         (SELECT CASE WHEN i.origin = 'alert' THEN i.declared_at END FROM pages p \
          JOIN incidents i ON i.id = p.incident_id WHERE p.id = deliveries.page_id) AS alert_at, \
         (SELECT t.id FROM pages p JOIN tasks t ON t.id = p.task_id WHERE p.id = deliveries.page_id) AS task_id, \
         (SELECT t.title FROM pages p JOIN tasks t ON t.id = p.task_id WHERE p.id = deliveries.page_id) AS task_title, \
         (SELECT s.id FROM pages p JOIN status_updates s ON s.id = p.update_id WHERE p.id = deliveries.page_id) AS update_id, \
         (SELECT s.phase FROM pages p JOIN status_updates s ON s.id = p.update_id WHERE p.id = deliveries.page_id) AS update_phase, \
         (SELECT s.text FROM pages p JOIN status_updates s ON s.id = p.update_id WHERE p.id = deliveries.page_id) AS update_text, \
         (SELECT a.id FROM pages p JOIN action_items a ON a.id = p.action_item_id WHERE p.id = deliveries.page_id) AS item_id, \
         (SELECT a.title FROM pages p JOIN action_items a ON a.id = p.action_item_id WHERE p.id = deliveries.page_id) AS item_title, \
         (SELECT a.due_at FROM pages p JOIN action_items a ON a.id = p.action_item_id WHERE p.id = deliveries.page_id) AS item_due_at, \
         (SELECT p.created_at FROM pages p WHERE p.id = deliveries.page_id) AS page_created_at",
        incident("id"),
        incident("title"),
        incident("severity"),
        incident("status"),
        incident("origin"),
    );
    let rows = conn
        .fetch_all(&sql, args![owner, ms(lease_until), ms(now), limit])
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DeliveryJob {
                id: row.get("id")?,
                page_id: row.get("page_id")?,
                incident_id: row.get("incident_id")?,
                title: row.get("incident_title")?,
                severity: row.parsed("incident_severity")?,
                status: row.parsed("incident_status")?,
                kind: row.get("kind")?,
                address: row.get("address")?,
                secret: row.get("secret")?,
                attempts: row.get("attempts")?,
                about: match row.parsed("page_purpose")? {
                    PagePurpose::Page => PageAbout::Incident,
                    PagePurpose::CheckIn => {
                        PageAbout::CheckIn(row.get("task_id")?, row.get("task_title")?)
                    }
                    PagePurpose::UpdateDue => PageAbout::UpdateDue,
                    PagePurpose::StatusUpdate => PageAbout::StatusUpdate {
                        update_id: row.get("update_id")?,
                        phase: row.parsed("update_phase")?,
                        text: row.get("update_text")?,
                    },
                    PagePurpose::ActionItem => PageAbout::ActionItem {
                        item_id: row.get("item_id")?,
                        title: row.get("item_title")?,
                        due_at: row.opt_ts("item_due_at")?,
                        reminded_at: row.ts("page_created_at")?,
                    },
                },
                alert_at: row.opt_ts("alert_at")?,
                drill: row.parsed::<Origin>("incident_origin")? == Origin::Drill,
            })
        })
        .collect()
}
