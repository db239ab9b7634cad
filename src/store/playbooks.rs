//! Playbooks and their versions, the version an incident ran and its checklist. A playbook's
//! change writes its next version under the playbook's row lock, only over the version it
//! was read at; applying one at a declaration happens in the declaration's transaction.

use jiff::Timestamp;

use super::db::{Conn, Row, args};
use super::incidents::insert_entries;
use super::investigation::InvestigationTx;
use super::paging::PagingTx;
use super::{Result, Store, StoreError, ms};
use crate::domain::incident::{Incident, RoleKind};
use crate::domain::playbooks::{self, PlaybookContent};
use crate::domain::timeline::EntryData;

/// A playbook at its current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookRecord {
    pub id: i64,
    pub incident_type: String,
    pub service: Option<String>,
    pub service_id: Option<i64>,
    pub current: PlaybookVersion,
}

/// One version of a playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookVersion {
    pub version: i64,
    pub content: PlaybookContent,
    pub reason: String,
    pub action_item_id: Option<i64>,
    pub author: Option<String>,
    pub created_at: Timestamp,
}

/// A step of an incident's checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecklistStep {
    pub step: i64,
    pub text: String,
    pub checked_by: Option<String>,
    pub checked_at: Option<Timestamp>,
}

/// The playbook an incident ran: which, at which version, and its checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentPlaybook {
    pub playbook_id: i64,
    pub version: i64,
    pub roles: Vec<RoleKind>,
    pub guidance: String,
    pub steps: Vec<ChecklistStep>,
}

impl ChecklistStep {
    pub fn is_checked(&self) -> bool {
        self.checked_at.is_some()
    }
}

impl IncidentPlaybook {
    /// How many of its checklist's steps are checked.
    pub fn checked(&self) -> usize {
        self.steps.iter().filter(|s| s.is_checked()).count()
    }

    /// The steps never checked, in order.
    pub fn unchecked(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| !s.is_checked())
            .map(|s| s.text.clone())
            .collect()
    }
}

const PLAYBOOKS: &str = "SELECT p.id, p.incident_type, p.service_id, s.name AS service, p.version \
     FROM playbooks p LEFT JOIN services s ON s.id = p.service_id";

const VERSIONS: &str = "SELECT v.version, v.steps, v.roles, v.guidance, v.reason, v.action_item_id, \
     u.username AS author, v.created_at FROM playbook_versions v LEFT JOIN users u ON u.id = v.author_id";

impl Store {
    /// Every playbook at its current version, by type then service.
    pub async fn playbooks(&self) -> Result<Vec<PlaybookRecord>> {
        let mut conn = self.read().await?;
        let sql = format!("{PLAYBOOKS} ORDER BY p.incident_type, p.service_key");
        let rows = conn.fetch_all(&sql, &[]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(with_current(&mut conn, r).await?);
        }
        Ok(out)
    }

    pub async fn playbook(&self, id: i64) -> Result<Option<PlaybookRecord>> {
        let mut conn = self.read().await?;
        load_playbook(&mut conn, id, "").await
    }

    /// Every version of a playbook, oldest first.
    pub async fn playbook_versions(&self, id: i64) -> Result<Vec<PlaybookVersion>> {
        let sql = format!("{VERSIONS} WHERE v.playbook_id = $1 ORDER BY v.version");
        let rows = self.fetch_all(&sql, args![id]).await?;
        rows.iter().map(version).collect()
    }

    /// The playbook an incident of `incident_type` on `services` runs (`playbooks::pick`).
    pub async fn playbook_for(
        &self,
        incident_type: &str,
        services: &[i64],
    ) -> Result<Option<PlaybookRecord>> {
        playbook_for(&mut self.read().await?, incident_type, services).await
    }

    /// A new playbook at version 1; a second for the same type and service is a conflict.
    pub async fn create_playbook(
        &self,
        incident_type: &str,
        service_id: Option<i64>,
        content: &PlaybookContent,
        author_id: i64,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let inserted = tx
            .fetch_one(
                "INSERT INTO playbooks (incident_type, service_id, service_key, version, created_at) \
                 VALUES ($1, $2, $3, 1, $4) RETURNING id",
                args![incident_type, service_id, service_id.unwrap_or(0), ms(now)],
            )
            .await;
        let id: i64 = match inserted {
            Ok(row) => row.get("id")?,
            Err(e) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(
                    "a playbook for this incident type and service exists; change it instead"
                        .into(),
                ));
            }
            Err(e) => return Err(e),
        };
        let first = VersionFields {
            content,
            reason: "first version",
            action_item_id: None,
        };
        insert_version(&mut tx, id, 1, &first, author_id, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The next version of a playbook, written only over `from` (the version read).
    pub async fn change_playbook(
        &self,
        id: i64,
        from: i64,
        fields: &VersionFields<'_>,
        author_id: i64,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let lock = self.row_lock("p");
        let current = load_playbook(&mut tx, id, &lock)
            .await?
            .ok_or(StoreError::NotFound)?
            .current
            .version;
        if current != from {
            return Err(StoreError::Conflict(format!(
                "the playbook changed since version {from} (now version {current}); read it again and redo the change"
            )));
        }
        let next = current + 1;
        insert_version(&mut tx, id, next, fields, author_id, now).await?;
        tx.execute(
            "UPDATE playbooks SET version = $1 WHERE id = $2",
            args![next, id],
        )
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// The playbook an incident ran, with its checklist; `None` if none applied.
    pub async fn incident_playbook(&self, incident_id: i64) -> Result<Option<IncidentPlaybook>> {
        let mut conn = self.read().await?;
        load_incident_playbook(&mut conn, incident_id).await
    }
}

/// What a version holds beyond its content.
#[derive(Debug, Clone)]
pub struct VersionFields<'a> {
    pub content: &'a PlaybookContent,
    pub reason: &'a str,
    pub action_item_id: Option<i64>,
}

impl PagingTx {
    /// Applies `playbook` to a just-declared incident, in the declaration's transaction.
    pub async fn apply_playbook(
        &mut self,
        incident_id: i64,
        playbook: &PlaybookRecord,
        now: Timestamp,
    ) -> Result<()> {
        apply_playbook(&mut self.tx, incident_id, playbook, now).await
    }
}

/// The playbook an incident of `incident_type` on `services` runs: a service's own for the
/// type, else the type's (`playbooks::pick`). Only the one picked has its version read.
async fn playbook_for(
    conn: &mut Conn,
    incident_type: &str,
    services: &[i64],
) -> Result<Option<PlaybookRecord>> {
    let sql = format!("{PLAYBOOKS} WHERE p.incident_type = $1");
    let rows = conn.fetch_all(&sql, args![incident_type]).await?;
    let candidates: Vec<(Option<i64>, &Row)> = rows
        .iter()
        .map(|r| Ok((r.get::<Option<i64>>("service_id")?, r)))
        .collect::<Result<_>>()?;
    match playbooks::pick(&candidates, services) {
        Some(row) => Ok(Some(with_current(conn, row).await?)),
        None => Ok(None),
    }
}

/// Applies the playbook an incident opened by alerts or reports on `service_id` runs (the
/// service's for its type, else the type's), in the transaction that opens it.
pub(super) async fn apply_service_playbook(
    conn: &mut Conn,
    incident: &Incident,
    service_id: i64,
    now: Timestamp,
) -> Result<()> {
    if let Some(p) = playbook_for(conn, &incident.incident_type, &[service_id]).await? {
        apply_playbook(conn, incident.id, &p, now).await?;
    }
    Ok(())
}

/// Records `playbook`'s current version on the incident, writes its checklist, and says so on
/// the timeline.
async fn apply_playbook(
    conn: &mut Conn,
    incident_id: i64,
    playbook: &PlaybookRecord,
    now: Timestamp,
) -> Result<()> {
    conn.execute(
        "UPDATE incidents SET playbook_id = $1, playbook_version = $2 WHERE id = $3",
        args![playbook.id, playbook.current.version, incident_id],
    )
    .await?;
    let steps = &playbook.current.content.steps;
    for (i, text) in steps.iter().enumerate() {
        let step = i64::try_from(i + 1).unwrap_or(i64::MAX);
        conn.execute(
            "INSERT INTO checklist_steps (incident_id, step, text) VALUES ($1, $2, $3)",
            args![incident_id, step, text.as_str()],
        )
        .await?;
    }
    let applied = EntryData::PlaybookApplied {
        playbook_id: playbook.id,
        version: playbook.current.version,
        steps: steps.len(),
    };
    insert_entries(conn, incident_id, None, now, &[applied]).await?;
    Ok(())
}

impl InvestigationTx {
    /// Checks a step of this incident's checklist, or unchecks it; `None` when it has no such
    /// step.
    pub async fn check_step(
        &mut self,
        step: i64,
        by: Option<i64>,
        now: Timestamp,
    ) -> Result<Option<ChecklistStep>> {
        let at = by.map(|_| ms(now));
        self.tx
            .execute(
                "UPDATE checklist_steps SET checked_by = $1, checked_at = $2 WHERE incident_id = $3 AND step = $4",
                args![by, at, self.incident.id, step],
            )
            .await?;
        let id = self.incident.id;
        Ok(load_incident_playbook(&mut self.tx, id)
            .await?
            .and_then(|p| p.steps.into_iter().find(|s| s.step == step)))
    }
}

async fn load_playbook(conn: &mut Conn, id: i64, lock: &str) -> Result<Option<PlaybookRecord>> {
    let sql = format!("{PLAYBOOKS} WHERE p.id = $1{lock}");
    match conn.fetch_optional(&sql, args![id]).await? {
        Some(r) => Ok(Some(with_current(conn, &r).await?)),
        None => Ok(None),
    }
}

async fn with_current(conn: &mut Conn, r: &Row) -> Result<PlaybookRecord> {
    let id: i64 = r.get("id")?;
    let number: i64 = r.get("version")?;
    let sql = format!("{VERSIONS} WHERE v.playbook_id = $1 AND v.version = $2");
    let current = version(&conn.fetch_one(&sql, args![id, number]).await?)?;
    Ok(PlaybookRecord {
        id,
        incident_type: r.get("incident_type")?,
        service: r.get("service")?,
        service_id: r.get("service_id")?,
        current,
    })
}

/// A version's roles, stored as a JSON list of their slugs.
pub(super) fn roles_from_json(raw: &str) -> Result<Vec<RoleKind>> {
    let slugs: Vec<String> =
        serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("roles: {e}")))?;
    slugs
        .iter()
        .map(|s| s.parse())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e: crate::domain::FieldError| StoreError::Corrupt(e.to_string()))
}

fn version(r: &Row) -> Result<PlaybookVersion> {
    let json = |column: &str| -> Result<Vec<String>> {
        let raw: String = r.get(column)?;
        serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    };
    let roles = roles_from_json(&r.get::<String>("roles")?)?;
    Ok(PlaybookVersion {
        version: r.get("version")?,
        content: PlaybookContent {
            steps: json("steps")?,
            roles,
            guidance: r.get("guidance")?,
        },
        reason: r.get("reason")?,
        action_item_id: r.get("action_item_id")?,
        author: r.get("author")?,
        created_at: r.ts("created_at")?,
    })
}

async fn insert_version(
    conn: &mut Conn,
    id: i64,
    number: i64,
    fields: &VersionFields<'_>,
    author_id: i64,
    now: Timestamp,
) -> Result<()> {
    let roles: Vec<&str> = fields.content.roles.iter().map(|r| r.slug()).collect();
    let encode =
        |list: &[&str]| serde_json::to_string(list).map_err(|e| StoreError::Corrupt(e.to_string()));
    let steps: Vec<&str> = fields.content.steps.iter().map(String::as_str).collect();
    conn.execute(
        "INSERT INTO playbook_versions (playbook_id, version, steps, roles, guidance, reason, action_item_id, \
         author_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        args![
            id,
            number,
            encode(&steps)?,
            encode(&roles)?,
            fields.content.guidance.as_str(),
            fields.reason,
            fields.action_item_id,
            author_id,
            ms(now)
        ],
    )
    .await?;
    Ok(())
}

async fn load_incident_playbook(
    conn: &mut Conn,
    incident_id: i64,
) -> Result<Option<IncidentPlaybook>> {
    let Some(row) = conn
        .fetch_optional(
            "SELECT i.playbook_id, i.playbook_version, v.roles, v.guidance FROM incidents i \
             JOIN playbook_versions v ON v.playbook_id = i.playbook_id AND v.version = i.playbook_version \
             WHERE i.id = $1",
            args![incident_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let roles = roles_from_json(&row.get::<String>("roles")?)?;
    let steps = conn
        .fetch_all(
            "SELECT c.step, c.text, u.username AS checked_by, c.checked_at FROM checklist_steps c \
             LEFT JOIN users u ON u.id = c.checked_by WHERE c.incident_id = $1 ORDER BY c.step",
            args![incident_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(ChecklistStep {
                step: r.get("step")?,
                text: r.get("text")?,
                checked_by: r.get("checked_by")?,
                checked_at: r.opt_ts("checked_at")?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Some(IncidentPlaybook {
        playbook_id: row.get("playbook_id")?,
        version: row.get("playbook_version")?,
        roles,
        guidance: row.get("guidance")?,
        steps,
    }))
}
