//! Post-incident reviews: the team's text with its edit history, publishing (which marks the
//! incident reviewed in the same transaction as the review), comments, and the review meeting
//! with the outbox of its invitations.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::db::{Conn, Row, args};
use super::incidents::{TimelineEntry, TimelineWindow, load_incident, save_incident};
use super::{Attempt, Result, Store, StoreError, WriteTx, ms, outbox};
use crate::domain::incident::Incident;
use crate::domain::investigation::EvidenceKind;
use crate::domain::meeting::{InviteState, MeetingInput};
use crate::domain::review::Practice;
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

/// A comment on a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewComment {
    pub id: i64,
    /// The section it is about; `None`: the whole review.
    pub section: Option<Practice>,
    pub text: String,
    pub author: Option<String>,
    pub at: Timestamp,
}

const COMMENTS: &str = "SELECT c.id, c.section, c.text, u.username AS author, c.at \
     FROM review_comments c LEFT JOIN users u ON u.id = c.author_id";

/// Someone a review meeting asks, with the address their invitation goes to (none: they have
/// no email contact method, and are asked without one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub username: String,
    pub name: String,
    pub email: Option<String>,
}

/// A review's meeting as stored, with its invitations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRecord {
    pub incident_id: i64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub location: Option<String>,
    pub attendees: Vec<Attendee>,
    /// 0 when first scheduled, one more for each change.
    pub sequence: i64,
    pub organizer: Option<String>,
    pub updated_at: Timestamp,
    /// Every invitation sent or owed, oldest first.
    pub invites: Vec<InviteRecord>,
}

/// One invitation email and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub username: String,
    pub address: String,
    pub sequence: i64,
    pub state: InviteState,
    pub detail: Option<String>,
}

/// An invitation leased for sending, with the meeting and incident it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteJob {
    pub id: i64,
    pub attempts: i64,
    pub username: String,
    pub address: String,
    pub sequence: i64,
    pub title: String,
    /// The incident is a drill: the invitation says so first.
    pub drill: bool,
    pub meeting: MeetingRecord,
}

const MEETINGS: &str = "SELECT m.incident_id, m.starts_at, m.ends_at, m.location, m.attendees, m.sequence, \
     u.username AS organizer, m.updated_at FROM review_meetings m LEFT JOIN users u ON u.id = m.organizer_id";

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

    /// A review's meeting, with its invitations.
    pub async fn review_meeting(&self, incident_id: i64) -> Result<Option<MeetingRecord>> {
        load_meeting(&mut self.read().await?, incident_id).await
    }

    /// Schedules the review's meeting, or moves it: the meeting's next sequence, what was still
    /// owed of the last invitations cancelled, and an invitation queued for each attendee with
    /// an address, all in one transaction under the incident's lock.
    pub async fn schedule_review_meeting(
        &self,
        incident_id: i64,
        meeting: &MeetingInput,
        attendees: &[Attendee],
        organizer_id: i64,
        now: Timestamp,
    ) -> Result<MeetingRecord> {
        let mut tx = self.begin_write().await?;
        load_incident(&mut tx, incident_id, &self.row_lock("i"))
            .await?
            .ok_or(StoreError::NotFound)?;
        let before = load_meeting(&mut tx, incident_id).await?;
        let people =
            serde_json::to_string(attendees).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let values = args![
            incident_id,
            ms(meeting.starts_at),
            ms(meeting.ends_at),
            meeting.location.as_deref(),
            people.as_str(),
            before.as_ref().map_or(0, |m| m.sequence + 1),
            organizer_id,
            ms(now)
        ];
        let sql = if before.is_some() {
            "UPDATE review_meetings SET starts_at = $2, ends_at = $3, location = $4, attendees = $5, \
             sequence = $6, organizer_id = $7, updated_at = $8 WHERE incident_id = $1"
        } else {
            "INSERT INTO review_meetings (incident_id, starts_at, ends_at, location, attendees, sequence, \
             organizer_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        };
        tx.execute(sql, values).await?;
        let sequence = before.as_ref().map_or(0, |m| m.sequence + 1);
        tx.execute(
            "UPDATE meeting_invites SET state = 'cancelled' WHERE incident_id = $1 AND state = 'pending'",
            args![incident_id],
        )
        .await?;
        for a in attendees {
            let Some(email) = &a.email else { continue };
            tx.execute(
                "INSERT INTO meeting_invites (incident_id, sequence, username, address, state, due_at, \
                 attempts, created_at) VALUES ($1, $2, $3, $4, 'pending', $5, 0, $5)",
                args![incident_id, sequence, a.username.as_str(), email.as_str(), ms(now)],
            )
            .await?;
        }
        let saved = load_meeting(&mut tx, incident_id).await?;
        tx.commit().await?;
        saved.ok_or(StoreError::NotFound)
    }

    /// Leases due meeting invitations, each with its meeting and incident title.
    pub async fn claim_meeting_invites(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<InviteJob>> {
        let mut tx = self.begin_write().await?;
        let rows = outbox::claim(
            &mut tx,
            self.backend,
            "meeting_invites",
            "id, incident_id, sequence, username, address, attempts",
            (owner, now, lease_until, limit),
        )
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        // A meeting's invitations are claimed together: its meeting and incident read once.
        let mut read: HashMap<i64, Option<(MeetingRecord, Incident)>> = HashMap::new();
        for r in &rows {
            let incident_id: i64 = r.get("incident_id")?;
            if let Entry::Vacant(place) = read.entry(incident_id) {
                let meeting = load_meeting(&mut tx, incident_id).await?;
                let incident = load_incident(&mut tx, incident_id, "").await?;
                place.insert(meeting.zip(incident));
            }
            let Some(Some((meeting, incident))) = read.get(&incident_id) else {
                continue;
            };
            let (meeting, incident) = (meeting.clone(), incident);
            jobs.push(InviteJob {
                id: r.get("id")?,
                attempts: r.get("attempts")?,
                username: r.get("username")?,
                address: r.get("address")?,
                sequence: r.get("sequence")?,
                drill: incident.is_drill(),
                title: incident.title.clone(),
                meeting,
            });
        }
        tx.commit().await?;
        Ok(jobs)
    }

    pub async fn finish_meeting_invite(
        &self,
        id: i64,
        owner: &str,
        attempt: &Attempt,
    ) -> Result<()> {
        outbox::finish(self, "meeting_invites", id, owner, attempt).await
    }

    /// A review's comments, oldest first.
    pub async fn review_comments(&self, incident_id: i64) -> Result<Vec<ReviewComment>> {
        let sql = format!("{COMMENTS} WHERE c.incident_id = $1 ORDER BY c.id");
        let rows = self.fetch_all(&sql, args![incident_id]).await?;
        rows.iter().map(comment_from_row).collect()
    }

    pub async fn add_review_comment(
        &self,
        incident_id: i64,
        section: Option<Practice>,
        text: &str,
        author_id: i64,
        now: Timestamp,
    ) -> Result<ReviewComment> {
        let mut tx = self.begin_write().await?;
        let id: i64 = tx
            .fetch_one(
                "INSERT INTO review_comments (incident_id, section, text, author_id, at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                args![
                    incident_id,
                    section.map(Practice::as_str),
                    text,
                    author_id,
                    ms(now)
                ],
            )
            .await?
            .get("id")?;
        let sql = format!("{COMMENTS} WHERE c.id = $1");
        let row = tx.fetch_one(&sql, args![id]).await?;
        tx.commit().await?;
        comment_from_row(&row)
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

async fn load_meeting(conn: &mut Conn, incident_id: i64) -> Result<Option<MeetingRecord>> {
    let sql = format!("{MEETINGS} WHERE m.incident_id = $1");
    let Some(r) = conn.fetch_optional(&sql, args![incident_id]).await? else {
        return Ok(None);
    };
    let invites = conn
        .fetch_all(
            "SELECT username, address, sequence, state, detail FROM meeting_invites \
             WHERE incident_id = $1 ORDER BY id",
            args![incident_id],
        )
        .await?
        .iter()
        .map(|i| {
            Ok(InviteRecord {
                username: i.get("username")?,
                address: i.get("address")?,
                sequence: i.get("sequence")?,
                state: i.parsed("state")?,
                detail: i.get("detail")?,
            })
        })
        .collect::<Result<_>>()?;
    let attendees: String = r.get("attendees")?;
    Ok(Some(MeetingRecord {
        incident_id,
        starts_at: r.ts("starts_at")?,
        ends_at: r.ts("ends_at")?,
        location: r.get("location")?,
        attendees: serde_json::from_str(&attendees)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        sequence: r.get("sequence")?,
        organizer: r.get("organizer")?,
        updated_at: r.ts("updated_at")?,
        invites,
    }))
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

fn comment_from_row(r: &Row) -> Result<ReviewComment> {
    let section: Option<String> = r.get("section")?;
    Ok(ReviewComment {
        id: r.get("id")?,
        section: section.as_deref().map(str::parse).transpose()?,
        text: r.get("text")?,
        author: r.get("author")?,
        at: r.ts("at")?,
    })
}
