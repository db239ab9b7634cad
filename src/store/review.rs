//! Post-incident reviews: the team's text with its edit history, and publishing, which marks
//! the incident reviewed in the same transaction as the review.

use jiff::Timestamp;

use super::db::{Conn, Row, args};
use super::incidents::{TimelineEntry, TimelineWindow, load_incident, save_incident};
use super::{Result, Store, StoreError, WriteTx, ms};
use crate::domain::incident::Incident;
use crate::domain::investigation::EvidenceKind;
use crate::domain::timeline::EntryData;

/// A review as stored: what the team wrote, not the figures (read from the timeline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRecord {
    pub incident_id: i64,
    pub text: String,
    /// The detection time, where the review moved it from the declaration.
    pub detected_at: Option<Timestamp>,
    pub published_at: Option<Timestamp>,
    /// Bumped by every save; a save names the version it was made from.
    pub version: i64,
    pub updated_by: Option<String>,
    pub updated_at: Timestamp,
}

/// One saved text of a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewEdit {
    pub version: i64,
    pub author: Option<String>,
    pub at: Timestamp,
    pub text: String,
}

const REVIEWS: &str = "SELECT r.incident_id, r.text, r.detected_at, r.published_at, r.version, \
     u.username AS updated_by, r.updated_at FROM reviews r LEFT JOIN users u ON u.id = r.updated_by";

/// Entries read at a time when the whole timeline is wanted.
const TIMELINE_PAGE: u32 = 1000;

impl Store {
    pub async fn review(&self, incident_id: i64) -> Result<Option<ReviewRecord>> {
        load_review(&mut self.read().await?, incident_id).await
    }

    /// Every saved text of a review, oldest first.
    pub async fn review_edits(&self, incident_id: i64) -> Result<Vec<ReviewEdit>> {
        let rows = self
            .fetch_all(
                "SELECT e.version, u.username AS author, e.at, e.text FROM review_edits e \
                 LEFT JOIN users u ON u.id = e.author_id WHERE e.incident_id = $1 ORDER BY e.version",
                args![incident_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ReviewEdit {
                    version: r.get("version")?,
                    author: r.get("author")?,
                    at: r.ts("at")?,
                    text: r.get("text")?,
                })
            })
            .collect()
    }

    /// When an incident's first signs were observed: its first alert's firing, and the
    /// earliest observed time of its evidence of impact.
    pub async fn first_signs(&self, incident_id: i64) -> Result<Vec<Timestamp>> {
        let [a, b, c, d, e] = EvidenceKind::OF_IMPACT.map(|k| k.as_str());
        let rows = self
            .fetch_all(
                "SELECT MIN(first_at) AS at FROM alerts WHERE incident_id = $1 \
                 UNION ALL SELECT MIN(observed_at) AS at FROM evidence \
                 WHERE incident_id = $1 AND kind IN ($2, $3, $4, $5, $6)",
                args![incident_id, a, b, c, d, e],
            )
            .await?;
        let mut signs = Vec::new();
        for r in &rows {
            signs.extend(r.opt_ts("at")?);
        }
        Ok(signs)
    }

    /// An incident's whole timeline, oldest first (a review reads all of it).
    pub async fn whole_timeline(&self, incident_id: i64) -> Result<Vec<TimelineEntry>> {
        let mut entries = Vec::new();
        loop {
            let after = entries.last().map_or(0, |e: &TimelineEntry| e.id);
            let window = TimelineWindow::After {
                id: after,
                limit: TIMELINE_PAGE,
            };
            let page = self.timeline(incident_id, window).await?;
            entries.extend(page.entries);
            if !page.more {
                return Ok(entries);
            }
        }
    }

    /// Opens a write transaction on an incident's review, holding the incident's row lock:
    /// `incident` and `review` are as committed, for the caller's checks.
    pub async fn begin_review(&self, incident_id: i64) -> Result<ReviewTx> {
        let mut tx = self.begin_write().await?;
        let incident = load_incident(&mut tx, incident_id, &self.row_lock("i"))
            .await?
            .ok_or(StoreError::NotFound)?;
        let review = load_review(&mut tx, incident_id).await?;
        Ok(ReviewTx {
            tx,
            incident,
            review,
        })
    }
}

/// One change to an incident's review (see `Store::begin_review`).
pub struct ReviewTx {
    tx: WriteTx,
    pub incident: Incident,
    pub review: Option<ReviewRecord>,
}

impl ReviewTx {
    /// Writes `review` as the next version (its `version` is the one saved before it, 0 for
    /// the first), with its text kept in the edit history, the incident as `incident` now is,
    /// and the entries recording the change; commits.
    pub async fn save(
        mut self,
        review: &ReviewRecord,
        incident: &Incident,
        actor_id: i64,
        now: Timestamp,
        entries: &[EntryData],
    ) -> Result<i64> {
        let version = review.version + 1;
        let values = args![
            review.incident_id,
            &review.text,
            review.detected_at.map(ms),
            review.published_at.map(ms),
            version,
            actor_id,
            ms(now)
        ];
        let written = if review.version == 0 {
            self.tx
                .execute(
                    "INSERT INTO reviews (incident_id, text, detected_at, published_at, version, \
                     updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    values,
                )
                .await?
        } else {
            self.tx
                .execute(
                    "UPDATE reviews SET text = $2, detected_at = $3, published_at = $4, version = $5, \
                     updated_by = $6, updated_at = $7 WHERE incident_id = $1 AND version = $5 - 1",
                    values,
                )
                .await?
        };
        if written != 1 {
            return Err(StoreError::Conflict("the review changed meanwhile".into()));
        }
        // Publishing an unchanged text is not an edit.
        let unchanged = self.review.as_ref().is_some_and(|r| r.text == review.text);
        if !unchanged {
            self.tx
                .execute(
                    "INSERT INTO review_edits (incident_id, version, author_id, at, text) \
                 VALUES ($1, $2, $3, $4, $5)",
                    args![review.incident_id, version, actor_id, ms(now), &review.text],
                )
                .await?;
        }
        let before = self.incident.clone();
        save_incident(
            &mut self.tx,
            &before,
            incident,
            Some(actor_id),
            now,
            entries,
        )
        .await?;
        self.tx.commit().await?;
        Ok(version)
    }
}

async fn load_review(conn: &mut Conn, incident_id: i64) -> Result<Option<ReviewRecord>> {
    let row = conn
        .fetch_optional(
            &format!("{REVIEWS} WHERE r.incident_id = $1"),
            args![incident_id],
        )
        .await?;
    row.as_ref().map(review_from_row).transpose()
}

fn review_from_row(r: &Row) -> Result<ReviewRecord> {
    Ok(ReviewRecord {
        incident_id: r.get("incident_id")?,
        text: r.get("text")?,
        detected_at: r.opt_ts("detected_at")?,
        published_at: r.opt_ts("published_at")?,
        version: r.get("version")?,
        updated_by: r.get("updated_by")?,
        updated_at: r.ts("updated_at")?,
    })
}
