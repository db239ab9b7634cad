//! Action items: written in their incident's `InvestigationTx` (under its row lock, with
//! their timeline entries and what the tracker is to be told, in one commit), read across
//! incidents for the overview, reminded of by the engine, and sent to the external tracker.

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::db::{Arg, Conditions, Conn, args};
use super::investigation::InvestigationTx;
use super::paging::PagingTx;
use super::{Attempt, Result, Store, StoreError, ms, outbox};
use crate::domain::access::Actor;
use crate::domain::action_items::{ActionState, Priority, is_overdue};
use crate::domain::escalation::PagePurpose;
use crate::domain::incident::Origin;
use crate::domain::review::Practice;

/// An action item as stored, with the names of the people, team and incident it refers to.
/// It is also what the tracker is sent, as it stood after each change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ActionItemRecord {
    pub id: i64,
    pub incident_id: i64,
    pub incident_title: String,
    pub title: String,
    pub owner: Option<String>,
    #[serde(skip)]
    pub owner_id: Option<i64>,
    pub team: Option<String>,
    #[serde(skip)]
    pub team_id: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    pub priority: Priority,
    pub state: ActionState,
    /// The review section it answers to.
    pub section: Option<Practice>,
    /// The playbook it would change (by id), if it would change one.
    pub playbook: Option<i64>,
    /// Why it will not be done (`wont_do` only).
    pub reason: Option<String>,
    pub created_by: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<Timestamp>,
    /// When its owner is next reminded of it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub remind_at: Option<Timestamp>,
    #[serde(skip)]
    pub private: bool,
    /// Decided in a drill's review (its tracker event says so too).
    pub drill: bool,
}

impl ActionItemRecord {
    pub fn overdue(&self, now: Timestamp) -> bool {
        is_overdue(self.state, self.due_at, now)
    }
}

/// What an action item holds, as written on creation and on each change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionItemValues {
    pub title: String,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    pub due_at: Option<Timestamp>,
    pub priority: Priority,
    pub state: ActionState,
    pub section: Option<Practice>,
    pub playbook: Option<i64>,
    pub reason: Option<String>,
    pub remind_at: Option<Timestamp>,
    pub done_at: Option<Timestamp>,
}

impl From<&ActionItemRecord> for ActionItemValues {
    fn from(r: &ActionItemRecord) -> Self {
        Self {
            title: r.title.clone(),
            owner_id: r.owner_id,
            team_id: r.team_id,
            due_at: r.due_at,
            priority: r.priority,
            state: r.state,
            section: r.section,
            playbook: r.playbook,
            reason: r.reason.clone(),
            remind_at: r.remind_at,
            done_at: r.done_at,
        }
    }
}

/// Which action items a list shows; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct ActionItemFilter {
    pub incident_id: Option<i64>,
    /// Only these states (none: every state).
    pub states: Vec<ActionState>,
    pub owner: Option<String>,
    pub team: Option<String>,
}

const ITEMS: &str = "SELECT a.id, a.incident_id, i.title AS incident_title, i.private, i.origin, a.title, \
     a.owner_id, o.username AS owner, a.team_id, t.name AS team, a.due_at, a.priority, a.state, \
     a.section, a.playbook_id, a.reason, c.username AS created_by, a.created_at, a.updated_at, a.done_at, a.remind_at \
     FROM action_items a JOIN incidents i ON i.id = a.incident_id \
     LEFT JOIN users o ON o.id = a.owner_id LEFT JOIN teams t ON t.id = a.team_id \
     LEFT JOIN users c ON c.id = a.created_by";

impl Store {
    /// The action items `viewer` may see that `filter` lets through: an incident's in the
    /// order they were made, otherwise by due time (none last), then id.
    pub async fn action_items(
        &self,
        viewer: &Actor,
        filter: &ActionItemFilter,
    ) -> Result<Vec<ActionItemRecord>> {
        let mut c = Conditions::default();
        if let Some(id) = filter.incident_id {
            let p = c.bind(id);
            c.push(format!("a.incident_id = {p}"));
        }
        if !filter.states.is_empty() {
            let ps: Vec<String> = filter.states.iter().map(|s| c.bind(s.as_str())).collect();
            c.push(format!("a.state IN ({})", ps.join(", ")));
        }
        if let Some(owner) = &filter.owner {
            let p = c.bind(owner);
            c.push(format!("o.username = {p}"));
        }
        if let Some(team) = &filter.team {
            let p = c.bind(team);
            c.push(format!("t.name = {p}"));
        }
        c.visible_to(Some(viewer));
        let where_clause = c.where_clause();
        let order = if filter.incident_id.is_some() {
            "a.id"
        } else {
            "CASE WHEN a.due_at IS NULL THEN 1 ELSE 0 END, a.due_at, a.id"
        };
        let mut conn = self.read().await?;
        load(
            &mut conn,
            &format!("{ITEMS}{where_clause} ORDER BY {order}"),
            &c.values,
        )
        .await
    }

    /// The incident an action item belongs to.
    pub async fn action_item_incident(&self, id: i64) -> Result<Option<i64>> {
        let row = self
            .fetch_optional(
                "SELECT incident_id FROM action_items WHERE id = $1",
                args![id],
            )
            .await?;
        row.map(|r| r.get("incident_id")).transpose()
    }

    /// The team that owns the first of an incident's services that has one: where its action
    /// items go unless told otherwise.
    pub async fn incident_team(&self, incident_id: i64) -> Result<Option<i64>> {
        let row = self
            .fetch_optional(
                "SELECT s.team_id FROM incident_services x JOIN services s ON s.id = x.service_id \
                 WHERE x.incident_id = $1 AND s.team_id IS NOT NULL ORDER BY x.service_id LIMIT 1",
                args![incident_id],
            )
            .await?;
        row.map(|r| r.get("team_id")).transpose()
    }

    /// A team's id by its name.
    pub async fn team_id(&self, name: &str) -> Result<Option<i64>> {
        let row = self
            .fetch_optional("SELECT id FROM teams WHERE name = $1", args![name])
            .await?;
        row.map(|r| r.get("id")).transpose()
    }

    /// Leases up to `limit` due tracker events to `owner` until `lease_until`.
    pub async fn claim_tracker_events(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<TrackerJob>> {
        let mut tx = self.begin_write().await?;
        let rows = outbox::claim(
            &mut tx,
            self.backend,
            "tracker_events",
            "id, action_item_id, event, body, attempts",
            (owner, now, lease_until, limit),
        )
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(TrackerJob {
                    id: r.get("id")?,
                    action_item_id: r.get("action_item_id")?,
                    event: r.get("event")?,
                    body: r.get("body")?,
                    attempts: r.get("attempts")?,
                })
            })
            .collect()
    }

    /// Records one attempt of a tracker event this owner holds, and releases the lease.
    pub async fn finish_tracker_event(
        &self,
        id: i64,
        owner: &str,
        attempt: &Attempt,
    ) -> Result<()> {
        outbox::finish(self, "tracker_events", id, owner, attempt).await
    }
}

/// A tracker event leased for sending: the item as it stood (`body`, JSON) after `event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerJob {
    pub id: i64,
    pub action_item_id: i64,
    /// `action_item.created` or `action_item.updated`.
    pub event: String,
    pub body: String,
    pub attempts: i64,
}

impl InvestigationTx {
    pub async fn add_action_item(
        &mut self,
        fields: &ActionItemValues,
        author_id: i64,
        now: Timestamp,
    ) -> Result<ActionItemRecord> {
        let id: i64 = self
            .tx
            .fetch_one(
                "INSERT INTO action_items (incident_id, title, owner_id, team_id, due_at, priority, state, \
                 section, reason, remind_at, done_at, created_by, created_at, updated_at, playbook_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14) RETURNING id",
                args![
                    self.incident.id,
                    &fields.title,
                    fields.owner_id,
                    fields.team_id,
                    fields.due_at.map(ms),
                    fields.priority.as_str(),
                    fields.state.as_str(),
                    fields.section.map(Practice::as_str),
                    fields.reason.as_deref(),
                    fields.remind_at.map(ms),
                    fields.done_at.map(ms),
                    author_id,
                    ms(now),
                    fields.playbook,
                ],
            )
            .await?
            .get("id")?;
        self.action_item(id).await
    }

    /// Writes an item's fields; a reminder still queued for it is cancelled when its owner,
    /// due time or state changed (the next one follows the new fields).
    pub async fn update_action_item(
        &mut self,
        id: i64,
        fields: &ActionItemValues,
        now: Timestamp,
    ) -> Result<ActionItemRecord> {
        self.tx
            .execute(
                "UPDATE action_items SET title = $1, owner_id = $2, team_id = $3, due_at = $4, priority = $5, \
                 state = $6, section = $7, reason = $8, remind_at = $9, done_at = $10, updated_at = $11, \
                 playbook_id = $14 WHERE id = $12 AND incident_id = $13",
                args![
                    &fields.title,
                    fields.owner_id,
                    fields.team_id,
                    fields.due_at.map(ms),
                    fields.priority.as_str(),
                    fields.state.as_str(),
                    fields.section.map(Practice::as_str),
                    fields.reason.as_deref(),
                    fields.remind_at.map(ms),
                    fields.done_at.map(ms),
                    ms(now),
                    id,
                    self.incident.id,
                    fields.playbook,
                ],
            )
            .await?;
        self.tx
            .execute(
                "UPDATE deliveries SET state = 'cancelled', stopped_at = $1, stopped_by = 'action_item_changed' \
                 WHERE state = 'pending' AND page_id IN (SELECT id FROM pages WHERE action_item_id = $2)",
                args![ms(now), id],
            )
            .await?;
        self.action_item(id).await
    }

    /// One of this incident's action items.
    pub async fn action_item(&mut self, id: i64) -> Result<ActionItemRecord> {
        let sql = format!("{ITEMS} WHERE a.id = $1 AND a.incident_id = $2");
        load(&mut self.tx, &sql, args![id, self.incident.id])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// Queues `event` about `item` for the external tracker, the item as it now stands.
    pub async fn tell_tracker(
        &mut self,
        event: &str,
        item: &ActionItemRecord,
        now: Timestamp,
    ) -> Result<()> {
        let body = serde_json::to_string(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.tx
            .execute(
                "INSERT INTO tracker_events (action_item_id, event, body, state, due_at, attempts, created_at) \
                 VALUES ($1, $2, $3, 'pending', $4, 0, $4)",
                args![item.id, event, body.as_str(), ms(now)],
            )
            .await?;
        Ok(())
    }
}

/// An action item whose owner is to be reminded now, locked for this transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueActionItem {
    pub id: i64,
    pub incident_id: i64,
    pub title: String,
    pub owner_id: Option<i64>,
    pub due_at: Option<Timestamp>,
    pub state: ActionState,
    pub remind_at: Timestamp,
}

impl PagingTx {
    /// Up to `limit` action items whose reminder is due by now, locked like due steps.
    pub async fn due_action_items(
        &mut self,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<DueActionItem>> {
        let lock = self.backend.claim_lock("action_items");
        let sql = format!(
            "SELECT id, incident_id, title, owner_id, due_at, state, remind_at FROM action_items \
             WHERE remind_at <= $1 ORDER BY remind_at, id LIMIT $2{lock}"
        );
        let rows = self.tx.fetch_all(&sql, args![ms(now), limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(DueActionItem {
                    id: r.get("id")?,
                    incident_id: r.get("incident_id")?,
                    title: r.get("title")?,
                    owner_id: r.get("owner_id")?,
                    due_at: r.opt_ts("due_at")?,
                    state: r.parsed("state")?,
                    remind_at: r.ts("remind_at")?,
                })
            })
            .collect()
    }

    /// A reminder of an action item to its owner, as a page about it; `None` when the
    /// reminder for this moment exists already.
    pub async fn action_item_reminder_page(
        &mut self,
        due: &DueActionItem,
        user_id: i64,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let step_key = format!("action-item:{}:{}", due.id, ms(due.remind_at));
        let row = self
            .tx
            .fetch_optional(
                "INSERT INTO pages (incident_id, action_item_id, purpose, step_key, user_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (incident_id, step_key, user_id) DO NOTHING RETURNING id",
                args![
                    due.incident_id,
                    due.id,
                    PagePurpose::ActionItem.as_str(),
                    step_key.as_str(),
                    user_id,
                    ms(now)
                ],
            )
            .await?;
        row.map(|r| r.get::<i64>("id")).transpose()
    }

    /// When an action item's owner is next reminded; `None` stops the reminders.
    pub async fn remind_of_action_item(&mut self, id: i64, at: Option<Timestamp>) -> Result<()> {
        self.tx
            .execute(
                "UPDATE action_items SET remind_at = $1 WHERE id = $2",
                args![at.map(ms), id],
            )
            .await?;
        Ok(())
    }
}

async fn load(conn: &mut Conn, sql: &str, values: &[Arg]) -> Result<Vec<ActionItemRecord>> {
    let rows = conn.fetch_all(sql, values).await?;
    rows.iter()
        .map(|r| {
            Ok(ActionItemRecord {
                id: r.get("id")?,
                incident_id: r.get("incident_id")?,
                incident_title: r.get("incident_title")?,
                private: r.get::<i64>("private")? != 0,
                drill: r.parsed::<Origin>("origin")? == Origin::Drill,
                title: r.get("title")?,
                owner_id: r.get("owner_id")?,
                owner: r.get("owner")?,
                team_id: r.get("team_id")?,
                team: r.get("team")?,
                due_at: r.opt_ts("due_at")?,
                priority: r.parsed("priority")?,
                state: r.parsed("state")?,
                section: r.opt_parsed("section")?,
                playbook: r.get("playbook_id")?,
                reason: r.get("reason")?,
                created_by: r.get("created_by")?,
                created_at: r.ts("created_at")?,
                updated_at: r.ts("updated_at")?,
                done_at: r.opt_ts("done_at")?,
                remind_at: r.opt_ts("remind_at")?,
            })
        })
        .collect()
}
