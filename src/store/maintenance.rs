//! Scheduled maintenance: the window, its components, and the silences it owns (one per
//! service behind its components, over its window), written together so alerts of those
//! services page nobody while it runs. Status changes are conditional on the status read, so
//! of several instances moving one on, exactly one does.

use jiff::Timestamp;

use super::db::{Conn, Row, args};
use super::ingest::routes_changed;
use super::subscribers::tell_subscribers;
use super::{Result, Store, StoreError, ms};
use crate::domain::alert::SilenceMatch;
use crate::domain::maintenance::{MaintenancePlan, MaintenanceStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceRecord {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub status: MaintenanceStatus,
    pub scheduled_for: Timestamp,
    pub scheduled_until: Timestamp,
    /// When readers were told it started and ended (by its schedule, or by hand).
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// Its components (id, name), in page order.
    pub components: Vec<(i64, String)>,
    /// The services whose alerts it silences, by name.
    pub services: Vec<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl MaintenanceRecord {
    pub fn component_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.components.iter().map(|(id, _)| *id)
    }
}

/// What a scheduled maintenance covers: its components and the services behind them.
pub struct Coverage<'a> {
    pub components: &'a [i64],
    pub services: &'a [i64],
}

const MAINTENANCES: &str = "SELECT m.id, m.title, m.description, m.status, m.scheduled_for, m.scheduled_until, \
     m.started_at, m.ended_at, u.username, m.created_at, m.updated_at \
     FROM maintenances m JOIN users u ON u.id = m.created_by";

impl Store {
    pub async fn schedule_maintenance(
        &self,
        plan: &MaintenancePlan,
        coverage: &Coverage<'_>,
        created_by: i64,
        now: Timestamp,
    ) -> Result<MaintenanceRecord> {
        let mut tx = self.begin_write().await?;
        let id: i64 = tx
            .fetch_one(
                "INSERT INTO maintenances (title, description, status, scheduled_for, scheduled_until, \
                 created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                args![
                    &plan.title,
                    &plan.description,
                    MaintenanceStatus::Scheduled.as_str(),
                    ms(plan.scheduled_for),
                    ms(plan.scheduled_until),
                    created_by,
                    ms(now)
                ],
            )
            .await?
            .get("id")?;
        cover(&mut tx, id, plan, coverage, created_by, now).await?;
        tell(
            &mut tx,
            id,
            MaintenanceStatus::Scheduled,
            coverage.components,
            now,
        )
        .await?;
        let scheduled = load(&mut tx, Some(id), None).await?.pop();
        tx.commit().await?;
        scheduled.ok_or(StoreError::NotFound)
    }

    /// Replaces the plan and coverage of a maintenance still in `expected` (not over): its
    /// silences are written again for the new window and services.
    pub async fn replan_maintenance(
        &self,
        id: i64,
        expected: MaintenanceStatus,
        plan: &MaintenancePlan,
        coverage: &Coverage<'_>,
        by: i64,
        now: Timestamp,
    ) -> Result<MaintenanceRecord> {
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                "UPDATE maintenances SET title = $1, description = $2, scheduled_for = $3, \
                 scheduled_until = $4, updated_at = $5 WHERE id = $6 AND status = $7",
                args![
                    &plan.title,
                    &plan.description,
                    ms(plan.scheduled_for),
                    ms(plan.scheduled_until),
                    ms(now),
                    id,
                    expected.as_str()
                ],
            )
            .await?;
        if changed == 0 {
            return Err(moved_on(expected));
        }
        tx.execute(
            "DELETE FROM maintenance_components WHERE maintenance_id = $1",
            args![id],
        )
        .await?;
        tx.execute("DELETE FROM silences WHERE maintenance_id = $1", args![id])
            .await?;
        cover(&mut tx, id, plan, coverage, by, now).await?;
        let replanned = load(&mut tx, Some(id), None).await?.pop();
        tx.commit().await?;
        replanned.ok_or(StoreError::NotFound)
    }

    /// Moves a maintenance from `from` to `to` at `at`, if no one moved it first; ending it
    /// ends its silences. False when it was no longer in `from`.
    pub async fn move_maintenance(
        &self,
        id: i64,
        from: MaintenanceStatus,
        to: MaintenanceStatus,
        at: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let column = if to == MaintenanceStatus::InProgress {
            "started_at"
        } else {
            "ended_at"
        };
        let moved = tx
            .execute(
                &format!(
                    "UPDATE maintenances SET status = $1, {column} = $2, updated_at = $2 \
                     WHERE id = $3 AND status = $4"
                ),
                args![to.as_str(), ms(at), id, from.as_str()],
            )
            .await?;
        if moved > 0 {
            let covered = tx
                .fetch_all(
                    "SELECT component_id FROM maintenance_components WHERE maintenance_id = $1",
                    args![id],
                )
                .await?
                .iter()
                .map(|r| r.get("component_id"))
                .collect::<Result<Vec<i64>>>()?;
            tell(&mut tx, id, to, &covered, at).await?;
        }
        if moved > 0 && to.is_over() {
            // A silence ended before it started is simply never in force.
            tx.execute(
                "UPDATE silences SET ends_at = $1 WHERE maintenance_id = $2 AND ends_at > $1",
                args![ms(at), id],
            )
            .await?;
            routes_changed(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(moved > 0)
    }

    pub async fn maintenance(&self, id: i64) -> Result<Option<MaintenanceRecord>> {
        let mut conn = self.read().await?;
        Ok(load(&mut conn, Some(id), None).await?.pop())
    }

    /// Maintenances not over, and those that ended since `since`, latest window first.
    pub async fn maintenances(&self, since: Timestamp) -> Result<Vec<MaintenanceRecord>> {
        let mut conn = self.read().await?;
        load(&mut conn, None, Some(since)).await
    }

    /// Maintenances the schedule may move on by `now`: those not over whose window has
    /// started.
    pub async fn maintenances_due(&self, now: Timestamp) -> Result<Vec<MaintenanceRecord>> {
        let rows = self
            .fetch_all(
                &format!(
                    "{MAINTENANCES} WHERE m.status IN ($1, $2) AND m.scheduled_for <= $3 \
                     ORDER BY m.scheduled_for, m.id"
                ),
                args![
                    MaintenanceStatus::Scheduled.as_str(),
                    MaintenanceStatus::InProgress.as_str(),
                    ms(now)
                ],
            )
            .await?;
        rows.iter().map(|r| record(r, &[], &[])).collect()
    }
}

/// Links a maintenance's components and writes its silences, one per service, over its
/// window.
async fn cover(
    conn: &mut Conn,
    id: i64,
    plan: &MaintenancePlan,
    coverage: &Coverage<'_>,
    by: i64,
    now: Timestamp,
) -> Result<()> {
    for component in coverage.components {
        conn.execute(
            "INSERT INTO maintenance_components (maintenance_id, component_id) VALUES ($1, $2)",
            args![id, *component],
        )
        .await?;
    }
    let matchers = serde_json::to_string(&SilenceMatch::default())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let reason = format!("Scheduled maintenance: {}", plan.title);
    for service in coverage.services {
        conn.execute(
            "INSERT INTO silences (service_id, matchers, reason, starts_at, ends_at, created_by, created_at, maintenance_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                *service,
                &matchers,
                &reason,
                ms(plan.scheduled_for),
                ms(plan.scheduled_until),
                by,
                ms(now),
                id
            ],
        )
        .await?;
    }
    routes_changed(conn).await
}

/// Tells the status page's subscribers of the components it covers that it is `status` now.
async fn tell(
    conn: &mut Conn,
    id: i64,
    status: MaintenanceStatus,
    components: &[i64],
    now: Timestamp,
) -> Result<usize> {
    let about = format!("maintenance:{id}:{status}");
    tell_subscribers(conn, &about, (None, Some(id)), components, now).await
}

fn moved_on(expected: MaintenanceStatus) -> StoreError {
    StoreError::Conflict(format!(
        "the maintenance is no longer {expected}: it moved on while you changed it"
    ))
}

/// One maintenance (`only`) or all of them not over or ended since `since`.
async fn load(
    conn: &mut Conn,
    only: Option<i64>,
    since: Option<Timestamp>,
) -> Result<Vec<MaintenanceRecord>> {
    let scope = "($1 = 0 OR m.id = $1) AND (m.status IN ($2, $3) OR m.ended_at >= $4)";
    let window = args![
        only.unwrap_or(0),
        MaintenanceStatus::Scheduled.as_str(),
        MaintenanceStatus::InProgress.as_str(),
        since.map_or(i64::MIN, ms)
    ];
    let rows = conn
        .fetch_all(
            &format!("{MAINTENANCES} WHERE {scope} ORDER BY m.scheduled_for DESC, m.id DESC"),
            window,
        )
        .await?;
    let components = conn
        .fetch_all(
            &format!(
                "SELECT mc.maintenance_id, c.id, c.name FROM maintenance_components mc \
                 JOIN status_components c ON c.id = mc.component_id \
                 JOIN maintenances m ON m.id = mc.maintenance_id WHERE {scope} ORDER BY c.position, c.id"
            ),
            window,
        )
        .await?;
    let services = conn
        .fetch_all(
            &format!(
                "SELECT x.maintenance_id, s.name FROM silences x JOIN services s ON s.id = x.service_id \
                 JOIN maintenances m ON m.id = x.maintenance_id WHERE {scope} ORDER BY s.name"
            ),
            window,
        )
        .await?;
    rows.iter()
        .map(|r| record(r, &components, &services))
        .collect()
}

fn record(r: &Row, components: &[Row], services: &[Row]) -> Result<MaintenanceRecord> {
    let id: i64 = r.get("id")?;
    let mut covered = Vec::new();
    for c in components {
        if c.get::<i64>("maintenance_id")? == id {
            covered.push((c.get("id")?, c.get("name")?));
        }
    }
    let mut silenced = Vec::new();
    for s in services {
        if s.get::<i64>("maintenance_id")? == id {
            silenced.push(s.get("name")?);
        }
    }
    Ok(MaintenanceRecord {
        id,
        title: r.get("title")?,
        description: r.get("description")?,
        status: r.parsed("status")?,
        scheduled_for: r.ts("scheduled_for")?,
        scheduled_until: r.ts("scheduled_until")?,
        started_at: r.opt_ts("started_at")?,
        ended_at: r.opt_ts("ended_at")?,
        components: covered,
        services: silenced,
        created_by: r.get("username")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}
