//! Incidents, their roles, participants and affected services, and the timeline.

use jiff::Timestamp;

use super::db::{Arg, Conditions, Conn, Row, args, closed_statuses, not_drill};
use super::paging::stop_paging;
use super::{Result, Store, StoreError, ms};
use crate::domain::access::Actor;
use crate::domain::escalation::PagingStop;
use crate::domain::incident::{
    Incident, Origin, RoleAssignment, ServiceRef, Severity, Status, UserRef,
};
use crate::domain::investigation::HypothesisState;
use crate::domain::timeline::EntryData;

/// A client's `Idempotency-Key` with a fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Created(i64),
    /// The same request was made before with this key; this is the incident it created.
    Replayed(i64),
    /// A concurrent request with the same key committed first: roll back and try again, and
    /// the next try finds its incident.
    Raced,
}

#[derive(Debug, Clone)]
pub struct TimelineEntry {
    pub id: i64,
    pub incident_id: i64,
    pub at: Timestamp,
    pub actor: Option<String>,
    pub data: EntryData,
}

/// Which part of an incident's timeline to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineWindow {
    /// The latest `limit` entries.
    Latest { limit: u32 },
    /// The latest `limit` entries older than entry `id`.
    Before { id: i64, limit: u32 },
    /// The first `limit` entries newer than entry `id`.
    After { id: i64, limit: u32 },
    /// The latest `limit` entries newer than entry `id` (a live update; `more` says it left a
    /// gap after `id`).
    Since { id: i64, limit: u32 },
}

/// Entries of a timeline window, oldest first.
#[derive(Debug, Clone)]
pub struct TimelinePage {
    pub entries: Vec<TimelineEntry>,
    /// More entries lie beyond the window, in the direction it was read.
    pub more: bool,
}

const TIMELINE_BACKWARD: &str = "SELECT e.id, e.incident_id, e.at, u.username AS actor, e.data FROM timeline_entries e \
     LEFT JOIN users u ON u.id = e.actor_id WHERE e.incident_id = $1 AND e.id > $2 AND e.id < $3 ORDER BY e.id DESC LIMIT $4";
const TIMELINE_FORWARD: &str = "SELECT e.id, e.incident_id, e.at, u.username AS actor, e.data FROM timeline_entries e \
     LEFT JOIN users u ON u.id = e.actor_id WHERE e.incident_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3";

/// One row of an incident list.
#[derive(Debug, Clone)]
pub struct IncidentSummary {
    pub id: i64,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub incident_type: String,
    pub private: bool,
    /// A practice run (`Origin::Drill`).
    pub drill: bool,
    pub lead: Option<String>,
    pub declared_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub status: Option<Status>,
    pub severity: Option<Severity>,
    /// Only incidents not yet resolved.
    pub active: bool,
    /// Return incidents with an id below this one (the previous page's `next_cursor`).
    pub before: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct IncidentPage {
    pub items: Vec<IncidentSummary>,
    pub next_cursor: Option<i64>,
}

const INCIDENT_COLUMNS: &str = "i.id, i.title, i.summary, i.severity, i.incident_type, i.status, i.private, \
     i.origin, i.declared_by, d.username AS declared_by_name, i.declared_at, i.updated_at, i.resolved_at, i.version";

impl Store {
    pub async fn incident(&self, id: i64) -> Result<Option<Incident>> {
        let mut conn = self.read().await?;
        load_incident(&mut conn, id, "").await
    }

    /// Changes an incident under a row lock: `change` sees the current state, mutates it and
    /// returns the timeline entries recording what it did; both are committed together.
    pub async fn modify_incident<F>(
        &self,
        id: i64,
        actor_id: Option<i64>,
        now: Timestamp,
        change: F,
    ) -> Result<(Incident, Vec<TimelineEntry>)>
    where
        F: FnOnce(&mut Incident) -> Result<Vec<EntryData>>,
    {
        let mut tx = self.begin_write().await?;
        let mut incident = load_incident(&mut tx, id, &self.row_lock("i"))
            .await?
            .ok_or(StoreError::NotFound)?;
        let before = incident.clone();
        let entries = change(&mut incident)?;
        let written = save_incident(&mut tx, &before, &incident, actor_id, now, &entries).await?;
        tx.commit().await?;
        if !written.is_empty() {
            // save_incident bumped the stored counter under this row lock.
            incident.version = before.version + 1;
        }
        Ok((incident, written))
    }

    /// A window of the timeline, oldest entry first. `more` says whether entries lie beyond
    /// the window in the direction it was read (older for `Latest`/`Before`/`Since`, newer for
    /// `After`).
    pub async fn timeline(&self, incident_id: i64, window: TimelineWindow) -> Result<TimelinePage> {
        // One row past the limit tells whether there is more.
        // Backward windows read down from below `upper`, stopping above `lower`.
        let (backward, lower, upper, limit) = match window {
            TimelineWindow::Latest { limit } => (true, 0, i64::MAX, limit),
            TimelineWindow::Before { id, limit } => (true, 0, id, limit),
            TimelineWindow::Since { id, limit } => (true, id, i64::MAX, limit),
            TimelineWindow::After { id, limit } => (false, id, i64::MAX, limit),
        };
        let over = i64::from(limit) + 1;
        let rows = if backward {
            self.fetch_all(TIMELINE_BACKWARD, args![incident_id, lower, upper, over])
                .await?
        } else {
            self.fetch_all(TIMELINE_FORWARD, args![incident_id, lower, over])
                .await?
        };
        let mut entries = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>>>()?;
        let more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        if backward {
            entries.reverse();
        }
        Ok(TimelinePage { entries, more })
    }

    /// A page of the incidents `viewer` may see, newest first.
    pub async fn list_incidents(
        &self,
        filter: &IncidentFilter,
        viewer: &Actor,
    ) -> Result<IncidentPage> {
        let mut c = Conditions::default();
        if let Some(status) = filter.status {
            let p = c.bind(status.as_str());
            c.push(format!("i.status = {p}"));
        }
        if let Some(severity) = filter.severity {
            let p = c.bind(severity.as_str());
            c.push(format!("i.severity = {p}"));
        }
        if filter.active {
            c.push(concat!("i.status NOT IN ", closed_statuses!()));
        }
        if let Some(before) = filter.before {
            let p = c.bind(before);
            c.push(format!("i.id < {p}"));
        }
        c.visible_to(Some(viewer));
        let limit = filter.limit.clamp(1, 200);
        let where_clause = c.where_clause();
        // One more than the page, to know whether another page follows.
        let p = c.bind(i64::from(limit) + 1);
        let sql = format!(
            "SELECT i.id, i.title, i.severity, i.status, i.incident_type, i.private, i.origin, i.declared_at, i.updated_at, \
             (SELECT u.username FROM incident_roles r JOIN users u ON u.id = r.user_id \
              WHERE r.incident_id = i.id AND r.role = 'incident_lead') AS lead \
             FROM incidents i{where_clause} ORDER BY i.id DESC LIMIT {p}"
        );
        let rows = self.fetch_all(&sql, &c.values).await?;
        let more = rows.len() > limit as usize;
        let items = rows
            .iter()
            .take(limit as usize)
            .map(|row| {
                Ok(IncidentSummary {
                    id: row.get::<i64>("id")?,
                    title: row.get::<String>("title")?,
                    severity: row.parsed("severity")?,
                    status: row.parsed("status")?,
                    incident_type: row.get::<String>("incident_type")?,
                    private: row.get::<i64>("private")? != 0,
                    drill: row.parsed::<Origin>("origin")? == Origin::Drill,
                    lead: row.get::<Option<String>>("lead")?,
                    declared_at: row.ts("declared_at")?,
                    updated_at: row.ts("updated_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = more.then(|| items.last().map(|i| i.id)).flatten();
        Ok(IncidentPage { items, next_cursor })
    }

    /// Counts of unresolved, non-private incidents by severity (drills left out), for
    /// `/metrics`.
    pub async fn open_incident_counts(&self) -> Result<Vec<(Severity, i64)>> {
        let rows = self
            .fetch_all(
                concat!(
                    "SELECT i.severity, COUNT(*) AS n FROM incidents i WHERE i.status NOT IN ",
                    closed_statuses!(),
                    " AND i.private = 0 AND ",
                    not_drill!(),
                    " GROUP BY i.severity ORDER BY i.severity"
                ),
                args![],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.parsed("severity")?, row.get::<i64>("n")?)))
            .collect()
    }
}

/// Stores a declared incident with its first timeline entry in the caller's transaction. With
/// an idempotency key, a repeat of the same request finds the first incident instead.
pub(super) async fn declare_in(
    conn: &mut Conn,
    incident: &Incident,
    entry: &EntryData,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Inserted> {
    if let Some(idem) = idempotency
        && let Some(found) = replayed(conn, incident.declared_by.id, idem).await?
    {
        return Ok(Inserted::Replayed(found));
    }
    let id = insert_incident_in(conn, incident, entry).await?;
    if let Some(idem) = idempotency {
        // A concurrent request holding the same key makes this insert wait for it; once it has
        // committed, nothing is inserted here and the caller retries (and finds its incident).
        let saved = conn
            .fetch_optional(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, incident_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING RETURNING incident_id",
                args![
                    incident.declared_by.id,
                    &idem.key,
                    &idem.fingerprint,
                    id,
                    ms(incident.declared_at)
                ],
            )
            .await?;
        if saved.is_none() {
            return Ok(Inserted::Raced);
        }
    }
    Ok(Inserted::Created(id))
}

/// Writes what a domain change did to an incident (`before` → `incident`) with the entries
/// recording it, in the caller's transaction. A change that ends the incident stops its
/// paging in the same transaction: a resolved incident pages nobody.
pub(super) async fn save_incident(
    conn: &mut Conn,
    before: &Incident,
    incident: &Incident,
    actor_id: Option<i64>,
    now: Timestamp,
    entries: &[EntryData],
) -> Result<Vec<TimelineEntry>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let id = incident.id;
    conn.execute(
        // What the update cadence depends on changed: the engine works it out again.
        "UPDATE incidents SET title = $1, summary = $2, severity = $3, status = $4, \
         updated_at = $5, resolved_at = $6, version = version + 1, \
         update_remind_at = CASE WHEN severity <> $3 OR status <> $4 THEN $5 ELSE update_remind_at END \
         WHERE id = $7",
        args![
            &incident.title,
            &incident.summary,
            incident.severity.as_str(),
            incident.status.as_str(),
            ms(incident.updated_at),
            incident.resolved_at.map(ms),
            id
        ],
    )
    .await?;
    write_people(conn, id, incident, before.roles != incident.roles).await?;
    if before.status.is_active() && !incident.status.is_active() {
        stop_paging(conn, id, now, PagingStop::Resolved).await?;
    }
    insert_entries(conn, id, actor_id, now, entries).await
}

/// Inserts a declared incident, its services, people and first timeline entry, on `conn`
/// (inside the caller's transaction). Returns its id.
pub(super) async fn insert_incident_in(
    conn: &mut Conn,
    incident: &Incident,
    entry: &EntryData,
) -> Result<i64> {
    let id: i64 = conn
        .fetch_one(
            "INSERT INTO incidents (title, summary, severity, incident_type, status, private, \
         declared_by, declared_at, updated_at, resolved_at, origin, update_remind_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $8) RETURNING id",
            args![
                &incident.title,
                &incident.summary,
                incident.severity.as_str(),
                &incident.incident_type,
                incident.status.as_str(),
                i64::from(incident.private),
                incident.declared_by.id,
                ms(incident.declared_at),
                ms(incident.updated_at),
                incident.resolved_at.map(ms),
                incident.origin.as_str()
            ],
        )
        .await?
        .get("id")?;
    for service in &incident.services {
        conn.execute(
            "INSERT INTO incident_services (incident_id, service_id) VALUES ($1, $2)",
            args![id, service.id],
        )
        .await?;
    }
    write_people(conn, id, incident, true).await?;
    insert_entries(
        conn,
        id,
        Some(incident.declared_by.id),
        incident.declared_at,
        std::slice::from_ref(entry),
    )
    .await?;
    Ok(id)
}

async fn replayed(conn: &mut Conn, user_id: i64, idem: &IdempotencyKey) -> Result<Option<i64>> {
    let Some(row) = conn
        .fetch_optional(
            "SELECT fingerprint, incident_id FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            args![user_id, &idem.key],
        )
        .await?
    else {
        return Ok(None);
    };
    let fingerprint: String = row.get("fingerprint")?;
    if fingerprint != idem.fingerprint {
        return Err(StoreError::IdempotencyMismatch);
    }
    Ok(Some(row.get::<i64>("incident_id")?))
}

/// The incident with its roles, participants and services; `lock` is a row-lock suffix for
/// `incidents i` (see `Backend::row_lock`) or empty.
pub(super) async fn load_incident(
    conn: &mut Conn,
    id: i64,
    lock: &str,
) -> Result<Option<Incident>> {
    // Findings are the incident's supported hypotheses ($2).
    let sql = format!(
        "SELECT {INCIDENT_COLUMNS}, \
         (SELECT COUNT(*) FROM hypotheses h WHERE h.incident_id = i.id AND h.state = $2) AS findings, \
         (SELECT v.roles FROM playbook_versions v WHERE v.playbook_id = i.playbook_id \
          AND v.version = i.playbook_version) AS playbook_roles \
         FROM incidents i JOIN users d ON d.id = i.declared_by WHERE i.id = $1{lock}"
    );
    let supported = HypothesisState::Supported.as_str();
    let Some(row) = conn.fetch_optional(&sql, args![id, supported]).await? else {
        return Ok(None);
    };
    let roles = conn
        .fetch_all(
            "SELECT r.role, u.id, u.username FROM incident_roles r JOIN users u ON u.id = r.user_id \
         WHERE r.incident_id = $1 ORDER BY r.role",
            args![id],
        )
        .await?
    .iter()
    .map(|r| {
        Ok(RoleAssignment {
            role: r.parsed("role")?,
            user: user_ref(r)?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    // Stored slugs sort alphabetically; present roles in their domain order.
    let mut roles = roles;
    roles.sort_by_key(|a| a.role);
    let participants = conn
        .fetch_all(
            "SELECT u.id, u.username FROM participants p JOIN users u ON u.id = p.user_id \
         WHERE p.incident_id = $1 ORDER BY u.username",
            args![id],
        )
        .await?
        .iter()
        .map(user_ref)
        .collect::<Result<Vec<_>>>()?;
    let services = conn
        .fetch_all(
            "SELECT s.id, s.name FROM incident_services x JOIN services s ON s.id = x.service_id \
         WHERE x.incident_id = $1 ORDER BY s.name",
            args![id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(ServiceRef {
                id: r.get::<i64>("id")?,
                name: r.get::<String>("name")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Incident {
        id: row.get::<i64>("id")?,
        title: row.get::<String>("title")?,
        summary: row.get("summary")?,
        severity: row.parsed("severity")?,
        incident_type: row.get::<String>("incident_type")?,
        status: row.parsed("status")?,
        private: row.get::<i64>("private")? != 0,
        origin: row.parsed("origin")?,
        declared_by: UserRef {
            id: row.get::<i64>("declared_by")?,
            username: row.get::<String>("declared_by_name")?,
        },
        declared_at: row.ts("declared_at")?,
        updated_at: row.ts("updated_at")?,
        resolved_at: row.opt_ts("resolved_at")?,
        version: row.get("version")?,
        roles,
        participants,
        services,
        findings: {
            let count = row.get::<i64>("findings")?;
            u32::try_from(count)
                .map_err(|_| StoreError::Corrupt(format!("{count} findings on incident {id}")))?
        },
        playbook_roles: match row.get::<Option<String>>("playbook_roles")? {
            Some(json) => super::playbooks::roles_from_json(&json)?,
            None => Vec::new(),
        },
    }))
}

fn user_ref(row: &Row) -> Result<UserRef> {
    Ok(UserRef {
        id: row.get::<i64>("id")?,
        username: row.get::<String>("username")?,
    })
}

/// Writes the participant set (only ever grows) and, when they changed, the role holders.
async fn write_people(
    conn: &mut Conn,
    id: i64,
    incident: &Incident,
    roles_changed: bool,
) -> Result<()> {
    for user in &incident.participants {
        conn.execute(
            "INSERT INTO participants (incident_id, user_id) VALUES ($1, $2) \
             ON CONFLICT (incident_id, user_id) DO NOTHING",
            args![id, user.id],
        )
        .await?;
    }
    if roles_changed {
        conn.execute(
            "DELETE FROM incident_roles WHERE incident_id = $1",
            args![id],
        )
        .await?;
        for assignment in &incident.roles {
            conn.execute(
                "INSERT INTO incident_roles (incident_id, role, user_id) VALUES ($1, $2, $3)",
                args![id, assignment.role.slug(), assignment.user.id],
            )
            .await?;
        }
    }
    Ok(())
}

pub(super) async fn insert_entries(
    conn: &mut Conn,
    incident_id: i64,
    actor_id: Option<i64>,
    at: Timestamp,
    entries: &[EntryData],
) -> Result<Vec<TimelineEntry>> {
    let mut written = Vec::with_capacity(entries.len());
    for data in entries {
        let json = serde_json::to_string(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let id: i64 = conn
            .fetch_one(
                "INSERT INTO timeline_entries (incident_id, at, actor_id, kind, data) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                args![incident_id, ms(at), actor_id, data.kind(), json],
            )
            .await?
            .get("id")?;
        written.push(TimelineEntry {
            id,
            incident_id,
            at,
            actor: None,
            data: data.clone(),
        });
    }
    Ok(written)
}

/// Appends entries to the timelines of several incidents at once, a hundred per statement
/// (the event writer's path: it needs no ids back).
pub(super) async fn insert_entries_across(
    conn: &mut Conn,
    actor_id: Option<i64>,
    at: Timestamp,
    entries: &[(i64, EntryData)],
) -> Result<()> {
    for (sql, args) in entry_inserts(actor_id, at, entries)? {
        conn.execute(&sql, &args).await?;
    }
    Ok(())
}

/// The multi-row inserts (a hundred entries each) that add `entries` to their incidents'
/// timelines, with their arguments.
fn entry_inserts(
    actor_id: Option<i64>,
    at: Timestamp,
    entries: &[(i64, EntryData)],
) -> Result<Vec<(String, Vec<Arg>)>> {
    entries
        .chunks(100)
        .map(|chunk| {
            let mut sql = String::from(
                "INSERT INTO timeline_entries (incident_id, at, actor_id, kind, data) VALUES ",
            );
            let mut args = Vec::with_capacity(2 + chunk.len() * 3);
            args.push(Arg::Int(ms(at)));
            args.push(Arg::from(actor_id));
            for (n, (incident_id, data)) in chunk.iter().enumerate() {
                let p = n * 3;
                if n > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(${}, $1, $2, ${}, ${})", p + 3, p + 4, p + 5));
                let json =
                    serde_json::to_string(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                args.extend([
                    Arg::Int(*incident_id),
                    Arg::from(data.kind()),
                    Arg::Text(json),
                ]);
            }
            Ok((sql, args))
        })
        .collect()
}

fn entry_from_row(row: &Row) -> Result<TimelineEntry> {
    let data: String = row.get("data")?;
    Ok(TimelineEntry {
        id: row.get::<i64>("id")?,
        incident_id: row.get::<i64>("incident_id")?,
        at: row.ts("at")?,
        actor: row.get::<Option<String>>("actor")?,
        data: serde_json::from_str(&data)
            .map_err(|e| StoreError::Corrupt(format!("timeline entry: {e}")))?,
    })
}
