//! The public status page's storage: components with their services, the component statuses
//! a public update sets, what the page may tell of public incidents, and each component's
//! status history.

use std::collections::HashMap;

use jiff::Timestamp;

use super::db::{Conn, Row, args, closed_statuses, not_drill};
use super::investigation::InvestigationTx;
use super::{Result, Store, StoreError, ms};
use crate::domain::communication::{Audience, UpdateState};
use crate::domain::incident::Status;
use crate::domain::status::{Brand, ComponentInput, ComponentStatus, PublicIncident, PublicUpdate};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    /// Its place on the page, in the order components were added.
    pub position: i64,
    /// The services behind it, by name.
    pub services: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Store {
    /// The status page's brand as an admin last set it, if one did.
    pub async fn status_brand(&self) -> Result<Option<Brand>> {
        let Some(r) = self
            .fetch_optional(
                "SELECT name, logo_url, accent FROM status_brand WHERE id = 1",
                &[],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Brand {
            name: r.get("name")?,
            logo_url: r.get("logo_url")?,
            accent: r.get("accent")?,
        }))
    }

    /// Sets the status page's brand, replacing the one set before.
    pub async fn set_status_brand(
        &self,
        brand: &Brand,
        user_id: i64,
        now: Timestamp,
    ) -> Result<()> {
        self.write_one(
            "INSERT INTO status_brand (id, name, logo_url, accent, updated_by, updated_at) \
             VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             logo_url = excluded.logo_url, accent = excluded.accent, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            args![
                &brand.name,
                brand.logo_url.as_deref(),
                &brand.accent,
                user_id,
                ms(now)
            ],
        )
        .await?;
        Ok(())
    }

    /// Every component, in page order.
    pub async fn components(&self) -> Result<Vec<ComponentRecord>> {
        let mut conn = self.read().await?;
        load_components(&mut conn, None).await
    }

    /// One component, if it exists.
    pub async fn component(&self, id: i64) -> Result<Option<ComponentRecord>> {
        let mut conn = self.read().await?;
        Ok(load_components(&mut conn, Some(id)).await?.pop())
    }

    /// Adds a component at the end of the page; `services` are the ids of its services.
    pub async fn add_component(
        &self,
        input: &ComponentInput,
        services: &[i64],
        now: Timestamp,
    ) -> Result<ComponentRecord> {
        let mut tx = self.begin_write().await?;
        let id: i64 = tx
            .fetch_one(
                "INSERT INTO status_components (name, description, group_name, position, created_at, updated_at) \
                 VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM status_components), $4, $4) \
                 RETURNING id",
                args![&input.name, &input.description, input.group.as_deref(), ms(now)],
            )
            .await
            .map_err(|e| taken(e, &input.name))?
            .get("id")?;
        link_services(&mut tx, id, services).await?;
        let added = load_components(&mut tx, Some(id)).await?.pop();
        tx.commit().await?;
        added.ok_or(StoreError::NotFound)
    }

    /// Replaces a component's name, description, group and services.
    pub async fn edit_component(
        &self,
        id: i64,
        input: &ComponentInput,
        services: &[i64],
        now: Timestamp,
    ) -> Result<ComponentRecord> {
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                "UPDATE status_components SET name = $1, description = $2, group_name = $3, updated_at = $4 \
                 WHERE id = $5",
                args![
                    &input.name,
                    &input.description,
                    input.group.as_deref(),
                    ms(now),
                    id
                ],
            )
            .await
            .map_err(|e| taken(e, &input.name))?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        tx.execute(
            "DELETE FROM status_component_services WHERE component_id = $1",
            args![id],
        )
        .await?;
        link_services(&mut tx, id, services).await?;
        let edited = load_components(&mut tx, Some(id)).await?.pop();
        tx.commit().await?;
        edited.ok_or(StoreError::NotFound)
    }

    /// What the status page may tell: the public incidents with a published public update
    /// that are still open or were declared since `since`, each with its public updates,
    /// newest first.
    pub async fn public_incidents(&self, since: Timestamp) -> Result<Vec<PublicIncident>> {
        let scope = concat!(
            "i.private = $1 AND ",
            not_drill!(),
            " AND (i.status NOT IN ",
            closed_statuses!(),
            " OR i.declared_at >= $2)"
        );
        load_public(&mut self.read().await?, scope, ms(since)).await
    }

    /// One incident as the status page told it, if it told it at all (a private incident, a
    /// drill, or one without a public update: `None`).
    pub async fn public_incident(&self, id: i64) -> Result<Option<PublicIncident>> {
        let scope = concat!("i.private = $1 AND ", not_drill!(), " AND i.id = $2");
        Ok(load_public(&mut self.read().await?, scope, id).await?.pop())
    }

    /// Each component's status changes since `since`, oldest first, with the last change
    /// before it (the status the window starts in).
    pub async fn component_history(
        &self,
        since: Timestamp,
    ) -> Result<HashMap<i64, Vec<(Timestamp, ComponentStatus)>>> {
        let rows = self
            .fetch_all(
                "SELECT l.component_id, l.status, l.at FROM component_status_log l \
                 WHERE l.at >= $1 OR l.id = (SELECT MAX(p.id) FROM component_status_log p \
                 WHERE p.component_id = l.component_id AND p.at < $1) ORDER BY l.at, l.id",
                args![ms(since)],
            )
            .await?;
        let mut history: HashMap<i64, Vec<(Timestamp, ComponentStatus)>> = HashMap::new();
        for r in &rows {
            history
                .entry(r.get("component_id")?)
                .or_default()
                .push((r.ts("at")?, r.parsed("status")?));
        }
        Ok(history)
    }

    /// Records components whose status changed at `at`.
    pub async fn log_component_statuses(
        &self,
        changes: &[(i64, ComponentStatus)],
        at: Timestamp,
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (id, status) in changes {
            tx.execute(
                "INSERT INTO component_status_log (component_id, status, at) VALUES ($1, $2, $3)",
                args![*id, status.as_str(), ms(at)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl InvestigationTx {
    /// The component statuses an update sets, replacing any it had.
    pub async fn set_update_components(
        &mut self,
        update_id: i64,
        components: &[(i64, ComponentStatus)],
    ) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM update_components WHERE update_id = $1",
                args![update_id],
            )
            .await?;
        for (id, status) in components {
            self.tx
                .execute(
                    "INSERT INTO update_components (update_id, component_id, status) VALUES ($1, $2, $3)",
                    args![update_id, *id, status.as_str()],
                )
                .await?;
        }
        Ok(())
    }
}

/// The component statuses each of an incident's updates sets, by update id, with the
/// component's name.
pub(super) async fn update_components(
    conn: &mut Conn,
    incident_id: i64,
) -> Result<HashMap<i64, Vec<(String, ComponentStatus)>>> {
    let rows = conn
        .fetch_all(
            "SELECT uc.update_id, c.name, uc.status FROM update_components uc \
             JOIN status_components c ON c.id = uc.component_id \
             JOIN status_updates s ON s.id = uc.update_id WHERE s.incident_id = $1 ORDER BY c.position",
            args![incident_id],
        )
        .await?;
    let mut by_update: HashMap<i64, Vec<(String, ComponentStatus)>> = HashMap::new();
    for r in &rows {
        by_update
            .entry(r.get("update_id")?)
            .or_default()
            .push((r.get("name")?, r.parsed("status")?));
    }
    Ok(by_update)
}

async fn link_services(conn: &mut Conn, component_id: i64, services: &[i64]) -> Result<()> {
    for service in services {
        conn.execute(
            "INSERT INTO status_component_services (component_id, service_id) VALUES ($1, $2)",
            args![component_id, *service],
        )
        .await?;
    }
    Ok(())
}

fn taken(e: StoreError, name: &str) -> StoreError {
    if e.is_unique_violation() {
        StoreError::Conflict(format!("a component named {name:?} exists"))
    } else {
        e
    }
}

async fn load_components(conn: &mut Conn, only: Option<i64>) -> Result<Vec<ComponentRecord>> {
    let rows = conn
        .fetch_all(
            "SELECT id, name, description, group_name, position, created_at, updated_at \
             FROM status_components WHERE ($1 = 0 OR id = $1) ORDER BY position, id",
            args![only.unwrap_or(0)],
        )
        .await?;
    let links = conn
        .fetch_all(
            "SELECT cs.component_id, s.name FROM status_component_services cs \
             JOIN services s ON s.id = cs.service_id WHERE ($1 = 0 OR cs.component_id = $1) ORDER BY s.name",
            args![only.unwrap_or(0)],
        )
        .await?;
    rows.iter().map(|r| component_record(r, &links)).collect()
}

fn component_record(r: &Row, links: &[Row]) -> Result<ComponentRecord> {
    let id: i64 = r.get("id")?;
    let mut services = Vec::new();
    for l in links {
        if l.get::<i64>("component_id")? == id {
            services.push(l.get("name")?);
        }
    }
    Ok(ComponentRecord {
        id,
        name: r.get("name")?,
        description: r.get("description")?,
        group: r.get("group_name")?,
        position: r.get("position")?,
        services,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

/// The public incidents in `scope` (an SQL condition on `incidents i` taking `$1`, false for
/// `private`, and `$2`, `bound`) that have a published public update, each with those updates,
/// newest first.
async fn load_public(conn: &mut Conn, scope: &str, bound: i64) -> Result<Vec<PublicIncident>> {
    let rows = conn
        .fetch_all(
            &format!(
                "SELECT i.id, i.title, i.severity, i.status, i.declared_at, i.resolved_at \
                 FROM incidents i WHERE {scope} ORDER BY i.declared_at DESC, i.id DESC"
            ),
            args![false, bound],
        )
        .await?;
    let mut incidents = Vec::with_capacity(rows.len());
    for r in &rows {
        incidents.push(PublicIncident {
            id: r.get("id")?,
            title: r.get("title")?,
            severity: r.parsed("severity")?,
            active: r.parsed::<Status>("status")?.is_active(),
            declared_at: r.ts("declared_at")?,
            resolved_at: r.opt_ts("resolved_at")?,
            updates: Vec::new(),
        });
    }
    let updates = conn
        .fetch_all(
            &format!(
                "SELECT s.id, s.incident_id, s.phase, s.text, s.audiences, s.published_at, s.corrected_at \
                 FROM status_updates s JOIN incidents i ON i.id = s.incident_id \
                 WHERE {scope} AND s.state = $3 ORDER BY s.published_at DESC, s.id DESC"
            ),
            args![false, bound, UpdateState::Published.as_str()],
        )
        .await?;
    let components = conn
        .fetch_all(
            &format!(
                "SELECT uc.update_id, uc.component_id, uc.status FROM update_components uc \
                 JOIN status_updates s ON s.id = uc.update_id JOIN incidents i ON i.id = s.incident_id \
                 WHERE {scope} ORDER BY uc.component_id"
            ),
            args![false, bound],
        )
        .await?;
    let mut set: HashMap<i64, Vec<(i64, ComponentStatus)>> = HashMap::new();
    for c in &components {
        set.entry(c.get("update_id")?)
            .or_default()
            .push((c.get("component_id")?, c.parsed("status")?));
    }
    for u in &updates {
        // Only what was published to the public: never a stakeholders' or responders' word.
        let audiences: String = u.get("audiences")?;
        if !audiences.split(',').any(|a| a == Audience::Public.as_str()) {
            continue;
        }
        let incident_id: i64 = u.get("incident_id")?;
        let Some(incident) = incidents.iter_mut().find(|i| i.id == incident_id) else {
            continue;
        };
        let id: i64 = u.get("id")?;
        incident.updates.push(PublicUpdate {
            id,
            phase: u.parsed("phase")?,
            text: u.get("text")?,
            published_at: u.ts("published_at")?,
            corrected_at: u.opt_ts("corrected_at")?,
            components: set.remove(&id).unwrap_or_default(),
        });
    }
    incidents.retain(|i| !i.updates.is_empty());
    Ok(incidents)
}
