//! Drills: a practice incident's scenario and its script's events, each waiting for its time
//! and then played into the incident in the transaction that records what it left.

use std::collections::HashMap;

use jiff::Timestamp;

use super::db::{Row, args, closed_statuses};
use super::{InvestigationTx, PagingTx, Result, Store, StoreError, ms};
use crate::domain::drills::{DrillEventKind, DrillPaging, Scenario};

/// A drill as stored: the scenario as given, with its script's events and where they stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillRecord {
    pub incident_id: i64,
    pub scenario: String,
    pub paging: DrillPaging,
    /// (duration name, at most this many seconds).
    pub targets: Vec<(String, i64)>,
    pub started_by: Option<String>,
    pub started_at: Timestamp,
    pub events: Vec<DrillEventRecord>,
}

/// One event of a drill's script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillEventRecord {
    pub id: i64,
    pub due_at: Timestamp,
    pub kind: DrillEventKind,
    pub text: String,
    pub played_at: Option<Timestamp>,
}

const DRILLS: &str = "SELECT d.incident_id, d.scenario, d.paging, d.targets, u.username AS started_by, \
     d.started_at FROM drills d LEFT JOIN users u ON u.id = d.started_by";

const EVENTS: &str =
    "SELECT e.id, e.incident_id, e.due_at, e.kind, e.text, e.played_at FROM drill_events e";

/// The most drills a list shows, newest first.
const LISTED: i64 = 100;

impl Store {
    /// A drill by its incident's id, with its script.
    pub async fn drill(&self, incident_id: i64) -> Result<Option<DrillRecord>> {
        let mut conn = self.read().await?;
        let sql = format!("{DRILLS} WHERE d.incident_id = $1");
        let Some(row) = conn.fetch_optional(&sql, args![incident_id]).await? else {
            return Ok(None);
        };
        let sql = format!("{EVENTS} WHERE e.incident_id = $1 ORDER BY e.due_at, e.id");
        let events = conn.fetch_all(&sql, args![incident_id]).await?;
        let events = events.iter().map(event_record).collect::<Result<_>>()?;
        Ok(Some(drill_record(&row, events)?))
    }

    /// The newest drills, each with its events.
    pub async fn drills(&self) -> Result<Vec<DrillRecord>> {
        let mut conn = self.read().await?;
        let sql = format!("{DRILLS} ORDER BY d.incident_id DESC LIMIT $1");
        let rows = conn.fetch_all(&sql, args![LISTED]).await?;
        let Some(oldest) = rows
            .last()
            .map(|r| r.get::<i64>("incident_id"))
            .transpose()?
        else {
            return Ok(Vec::new());
        };
        let sql = format!("{EVENTS} WHERE e.incident_id >= $1 ORDER BY e.due_at, e.id");
        let mut events: HashMap<i64, Vec<DrillEventRecord>> = HashMap::new();
        for e in conn.fetch_all(&sql, args![oldest]).await? {
            events
                .entry(e.get("incident_id")?)
                .or_default()
                .push(event_record(&e)?);
        }
        rows.iter()
            .map(|row| {
                let mine = events.remove(&row.get("incident_id")?).unwrap_or_default();
                drill_record(row, mine)
            })
            .collect()
    }

    /// The drills, still under way, with an event due at `now`.
    pub async fn drills_due(&self, now: Timestamp) -> Result<Vec<i64>> {
        let rows = self
            .fetch_all(
                concat!(
                    "SELECT DISTINCT e.incident_id FROM drill_events e JOIN incidents i ON i.id = e.incident_id \
                     WHERE e.played_at IS NULL AND e.due_at <= $1 AND i.status NOT IN ",
                    closed_statuses!(),
                    " ORDER BY e.incident_id"
                ),
                args![ms(now)],
            )
            .await?;
        rows.iter().map(|r| r.get("incident_id")).collect()
    }
}

impl PagingTx {
    /// Records a just-declared incident as a drill of `scenario` (given as `text`) and queues
    /// its script from `now`, in the declaration's transaction.
    pub async fn start_drill(
        &mut self,
        incident_id: i64,
        text: &str,
        scenario: &Scenario,
        by: i64,
        now: Timestamp,
    ) -> Result<()> {
        // (name, seconds) pairs, in the order a review lists them.
        let targets = serde_json::to_string(&scenario.targets)
            .map_err(|e| StoreError::Corrupt(format!("targets: {e}")))?;
        self.tx
            .execute(
                "INSERT INTO drills (incident_id, scenario, paging, targets, started_by, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    incident_id,
                    text,
                    scenario.paging.as_str(),
                    targets,
                    by,
                    ms(now)
                ],
            )
            .await?;
        for e in &scenario.events {
            self.tx
                .execute(
                    "INSERT INTO drill_events (incident_id, due_at, kind, text) VALUES ($1, $2, $3, $4)",
                    args![incident_id, ms(now + e.after), e.kind.as_str(), e.text.as_str()],
                )
                .await?;
        }
        Ok(())
    }
}

impl InvestigationTx {
    /// This drill's events due at `now` and not yet played, in order, with who started it
    /// (their author); under the incident's lock, so each plays once.
    pub async fn due_drill_events(
        &mut self,
        now: Timestamp,
    ) -> Result<(Option<i64>, Vec<DrillEventRecord>)> {
        let id = self.incident.id;
        let by = self
            .tx
            .fetch_optional(
                "SELECT started_by FROM drills WHERE incident_id = $1",
                args![id],
            )
            .await?
            .map(|r| r.get("started_by"))
            .transpose()?;
        let sql = format!(
            "{EVENTS} WHERE e.incident_id = $1 AND e.played_at IS NULL AND e.due_at <= $2 \
             ORDER BY e.due_at, e.id"
        );
        let rows = self.tx.fetch_all(&sql, args![id, ms(now)]).await?;
        let events = rows.iter().map(event_record).collect::<Result<_>>()?;
        Ok((by, events))
    }

    /// Marks an event played (in the transaction that records what it left).
    pub async fn drill_event_played(&mut self, event_id: i64, now: Timestamp) -> Result<()> {
        self.tx
            .execute(
                "UPDATE drill_events SET played_at = $1 WHERE id = $2",
                args![ms(now), event_id],
            )
            .await?;
        Ok(())
    }
}

fn drill_record(row: &Row, events: Vec<DrillEventRecord>) -> Result<DrillRecord> {
    let targets: String = row.get("targets")?;
    Ok(DrillRecord {
        incident_id: row.get("incident_id")?,
        scenario: row.get("scenario")?,
        paging: row.parsed("paging")?,
        targets: serde_json::from_str(&targets)
            .map_err(|e| StoreError::Corrupt(format!("targets: {e}")))?,
        started_by: row.get("started_by")?,
        started_at: row.ts("started_at")?,
        events,
    })
}

fn event_record(row: &Row) -> Result<DrillEventRecord> {
    Ok(DrillEventRecord {
        id: row.get("id")?,
        due_at: row.ts("due_at")?,
        kind: row.parsed("kind")?,
        text: row.get("text")?,
        played_at: row.opt_ts("played_at")?,
    })
}
