//! Status updates: drafted, published and corrected in the incident's `InvestigationTx`, under
//! its row lock, with the timeline entries that record them.

use jiff::Timestamp;

use super::db::{Conn, Row, args};
use super::investigation::InvestigationTx;
use super::paging::cancel_deliveries;
use super::status::update_components;
use super::{Result, Store, StoreError, ms};
use crate::domain::communication::{
    Audience, Phase, Told, UpdateInput, UpdateState, tells_outside,
};
use crate::domain::escalation::{PagePurpose, PagingStop};
use crate::domain::status::ComponentStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdateRecord {
    pub id: i64,
    pub incident_id: i64,
    pub text: String,
    pub phase: Phase,
    pub audiences: Vec<Audience>,
    pub state: UpdateState,
    pub next_update_by: Option<Timestamp>,
    pub author: Option<String>,
    pub created_at: Timestamp,
    pub published_at: Option<Timestamp>,
    pub corrected_at: Option<Timestamp>,
    /// The component statuses it sets on the status page (a public update's), by name.
    pub components: Vec<(String, ComponentStatus)>,
}

const UPDATES: &str = "SELECT s.id, s.incident_id, s.text, s.phase, s.audiences, s.state, s.next_update_by, \
     u.username AS author, s.created_at, s.published_at, s.corrected_at \
     FROM status_updates s LEFT JOIN users u ON u.id = s.author_id";

impl Store {
    /// An incident's updates, newest first (drafts by when they were written).
    pub async fn status_updates(&self, incident_id: i64) -> Result<Vec<StatusUpdateRecord>> {
        let mut conn = self.read().await?;
        load_updates(&mut conn, incident_id, None).await
    }

    /// Until when the incident's overdue-update reminder is snoozed.
    pub async fn update_snoozed_until(&self, incident_id: i64) -> Result<Option<Timestamp>> {
        let row = self
            .fetch_optional(
                "SELECT update_snoozed_until FROM incidents WHERE id = $1",
                args![incident_id],
            )
            .await?;
        Ok(row
            .map(|r| r.opt_ts("update_snoozed_until"))
            .transpose()?
            .flatten())
    }
}

/// The last published update that counted toward the cadence (see
/// `communication::tells_outside`).
pub fn last_told(updates: &[StatusUpdateRecord]) -> Option<Told> {
    updates
        .iter()
        .filter(|u| u.state == UpdateState::Published && tells_outside(&u.audiences))
        .filter_map(|u| {
            u.published_at.map(|at| Told {
                at,
                next_update_by: u.next_update_by,
            })
        })
        .max_by_key(|t| t.at)
}

impl InvestigationTx {
    /// The last published update of this incident that counted toward its cadence.
    pub async fn last_told(&mut self) -> Result<Option<Told>> {
        let updates = load_updates(&mut self.tx, self.incident.id, None).await?;
        Ok(last_told(&updates))
    }

    /// An update counting toward the cadence went out: the reminders that one was due are
    /// answered, and the engine works out the next due time now.
    pub async fn told(&mut self, now: Timestamp) -> Result<()> {
        let id = self.incident.id;
        cancel_deliveries(
            &mut self.tx,
            id,
            Some(PagePurpose::UpdateDue),
            PagingStop::UpdatePosted,
            now,
        )
        .await?;
        self.tx
            .execute(
                "UPDATE incidents SET update_remind_at = $1 WHERE id = $2",
                args![ms(now), id],
            )
            .await?;
        Ok(())
    }

    /// Puts the overdue-update reminder off until `until`; the engine looks again now.
    pub async fn snooze_update_reminder(&mut self, until: Timestamp, now: Timestamp) -> Result<()> {
        self.tx
            .execute(
                "UPDATE incidents SET update_snoozed_until = $1, update_remind_at = $2 WHERE id = $3",
                args![ms(until), ms(now), self.incident.id],
            )
            .await?;
        Ok(())
    }
}

impl InvestigationTx {
    /// Stores a new update, a draft or published at `now`.
    pub async fn add_update(
        &mut self,
        input: &UpdateInput,
        state: UpdateState,
        author_id: i64,
        now: Timestamp,
    ) -> Result<StatusUpdateRecord> {
        let published_at = (state == UpdateState::Published).then_some(ms(now));
        let id: i64 = self
            .tx
            .fetch_one(
                "INSERT INTO status_updates (incident_id, text, phase, audiences, state, next_update_by, author_id, \
                 created_at, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                args![
                    self.incident.id,
                    &input.text,
                    input.phase.as_str(),
                    audience_list(&input.audiences),
                    state.as_str(),
                    input.next_update_by.map(ms),
                    author_id,
                    ms(now),
                    published_at,
                ],
            )
            .await?
            .get("id")?;
        self.status_update(id).await
    }

    /// One of this incident's updates.
    pub async fn status_update(&mut self, update_id: i64) -> Result<StatusUpdateRecord> {
        load_updates(&mut self.tx, self.incident.id, Some(update_id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// Stores an update as `u` has it.
    pub async fn save_update(&mut self, u: &StatusUpdateRecord) -> Result<()> {
        self.tx
            .execute(
                "UPDATE status_updates SET text = $1, phase = $2, audiences = $3, state = $4, next_update_by = $5, \
                 published_at = $6, corrected_at = $7 WHERE id = $8",
                args![
                    &u.text,
                    u.phase.as_str(),
                    audience_list(&u.audiences),
                    u.state.as_str(),
                    u.next_update_by.map(ms),
                    u.published_at.map(ms),
                    u.corrected_at.map(ms),
                    u.id,
                ],
            )
            .await?;
        Ok(())
    }
}

fn audience_list(audiences: &[Audience]) -> String {
    audiences
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) async fn load_updates(
    conn: &mut Conn,
    incident_id: i64,
    only: Option<i64>,
) -> Result<Vec<StatusUpdateRecord>> {
    let (filter, id) = match only {
        Some(id) => ("s.id = $2", id),
        None => ("s.id > $2", 0),
    };
    let rows = conn
        .fetch_all(
            &format!("{UPDATES} WHERE s.incident_id = $1 AND {filter} ORDER BY s.id DESC"),
            args![incident_id, id],
        )
        .await?;
    let mut components = update_components(conn, incident_id).await?;
    rows.iter()
        .map(|r| {
            let mut u = update_record(r)?;
            u.components = components.remove(&u.id).unwrap_or_default();
            Ok(u)
        })
        .collect()
}

fn update_record(r: &Row) -> Result<StatusUpdateRecord> {
    let audiences: String = r.get("audiences")?;
    Ok(StatusUpdateRecord {
        id: r.get("id")?,
        incident_id: r.get("incident_id")?,
        text: r.get("text")?,
        phase: r.parsed("phase")?,
        audiences: audiences
            .split(',')
            .map(|a| {
                a.parse()
                    .map_err(|_| StoreError::Corrupt(format!("audience {a:?}")))
            })
            .collect::<Result<_>>()?,
        state: r.parsed("state")?,
        next_update_by: r.opt_ts("next_update_by")?,
        author: r.get("author")?,
        created_at: r.ts("created_at")?,
        published_at: r.opt_ts("published_at")?,
        corrected_at: r.opt_ts("corrected_at")?,
        components: Vec::new(),
    })
}
