//! Changes responders make to production during an incident. They are written in the
//! incident's `InvestigationTx`, under its row lock, like the hypotheses they act on.

use jiff::Timestamp;

use super::db::{Conn, args};
use super::investigation::InvestigationTx;
use super::{Result, Store, StoreError, ms};
use crate::domain::coordination::{ChangeInput, ChangeState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseChangeRecord {
    pub id: i64,
    pub incident_id: i64,
    pub system: String,
    pub description: String,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub hypothesis_id: Option<i64>,
    pub rollback: Option<String>,
    pub state: ChangeState,
    pub author: Option<String>,
    pub created_at: Timestamp,
    pub rolled_back_at: Option<Timestamp>,
}

const CHANGES: &str = "SELECT c.id, c.incident_id, c.system, c.description, c.reference, c.reason, c.hypothesis_id, \
     c.rollback, c.state, u.username AS author, c.created_at, c.rolled_back_at \
     FROM response_changes c LEFT JOIN users u ON u.id = c.author_id";

impl Store {
    /// An incident's response changes, newest first.
    pub async fn response_changes(&self, incident_id: i64) -> Result<Vec<ResponseChangeRecord>> {
        let mut conn = self.read().await?;
        load_changes(&mut conn, incident_id, None).await
    }
}

impl InvestigationTx {
    pub async fn add_response_change(
        &mut self,
        change: &ChangeInput,
        author_id: i64,
        now: Timestamp,
    ) -> Result<ResponseChangeRecord> {
        let id: i64 = self
            .tx
            .fetch_one(
                "INSERT INTO response_changes (incident_id, system, description, reference, reason, hypothesis_id, \
                 rollback, state, author_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                args![
                    self.incident.id,
                    &change.system,
                    &change.description,
                    change.reference.as_deref(),
                    change.reason.as_deref(),
                    change.hypothesis_id,
                    change.rollback.as_deref(),
                    ChangeState::Applied.as_str(),
                    author_id,
                    ms(now),
                ],
            )
            .await?
            .get("id")?;
        self.response_change(id).await
    }

    /// A response change of this incident.
    pub async fn response_change(&mut self, change_id: i64) -> Result<ResponseChangeRecord> {
        let id = self.incident.id;
        load_changes(&mut self.tx, id, Some(change_id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    pub async fn roll_back(&mut self, change_id: i64, now: Timestamp) -> Result<()> {
        self.tx
            .execute(
                "UPDATE response_changes SET state = $1, rolled_back_at = $2 WHERE id = $3",
                args![ChangeState::RolledBack.as_str(), ms(now), change_id],
            )
            .await?;
        Ok(())
    }
}

async fn load_changes(
    conn: &mut Conn,
    incident_id: i64,
    only: Option<i64>,
) -> Result<Vec<ResponseChangeRecord>> {
    let (filter, id) = match only {
        Some(id) => ("c.id = $2", id),
        None => ("c.id > $2", 0),
    };
    let sql = format!("{CHANGES} WHERE c.incident_id = $1 AND {filter} ORDER BY c.id DESC");
    let rows = conn.fetch_all(&sql, args![incident_id, id]).await?;
    rows.iter()
        .map(|r| {
            Ok(ResponseChangeRecord {
                id: r.get("id")?,
                incident_id: r.get("incident_id")?,
                system: r.get("system")?,
                description: r.get("description")?,
                reference: r.get("reference")?,
                reason: r.get("reason")?,
                hypothesis_id: r.get("hypothesis_id")?,
                rollback: r.get("rollback")?,
                state: r.parsed("state")?,
                author: r.get("author")?,
                created_at: r.ts("created_at")?,
                rolled_back_at: r.opt_ts("rolled_back_at")?,
            })
        })
        .collect()
}
