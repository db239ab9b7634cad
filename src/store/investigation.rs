//! An incident's investigation: evidence, hypotheses, the evidence for and against each, and
//! their tests (and, in `store/coordination.rs`, the changes made during the response). Every change runs in an `InvestigationTx`, under the incident's row lock (so
//! the count of findings an incident's status change reads is the committed one), and is
//! committed with the timeline entries that record it.

use jiff::Timestamp;

use super::db::{Arg, Conn, Row, args};
use super::incidents::{TimelineEntry, insert_entries, load_incident};
use super::{Result, Store, StoreError, WriteTx, ms};
use crate::domain::attachment::{AttachmentInput, AttachmentType};
use crate::domain::incident::Incident;
use crate::domain::investigation::{EvidenceInput, EvidenceKind, HypothesisState, Stance};
use crate::domain::timeline::EntryData;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    pub id: i64,
    pub incident_id: i64,
    pub kind: EvidenceKind,
    pub summary: String,
    pub excerpt: Option<String>,
    pub source_url: Option<String>,
    pub observed_at: Option<Timestamp>,
    pub alert_id: Option<i64>,
    pub change_id: Option<i64>,
    pub pinned: bool,
    pub author: Option<String>,
    /// Its files, oldest first (their content is read one at a time, on demand).
    pub attachments: Vec<AttachmentRecord>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A file attached to a piece of evidence, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub id: i64,
    pub incident_id: i64,
    pub evidence_id: i64,
    pub name: String,
    pub content_type: AttachmentType,
    pub size: i64,
    pub author: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    pub id: i64,
    pub description: String,
    pub result: String,
    pub author: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HypothesisRecord {
    pub id: i64,
    pub incident_id: i64,
    pub statement: String,
    pub state: HypothesisState,
    pub owner: Option<String>,
    pub owner_id: Option<i64>,
    pub author: Option<String>,
    /// Evidence ids, in id order.
    pub evidence_for: Vec<i64>,
    pub evidence_against: Vec<i64>,
    pub tests: Vec<TestRecord>,
    /// The latest test when it was last judged (supported or refuted), 0 if never.
    pub judged_after_test: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl HypothesisRecord {
    /// Whether a test was recorded since it was last judged (or ever, if it never was).
    pub fn tested_since_judged(&self) -> bool {
        self.tests.iter().any(|t| t.id > self.judged_after_test)
    }
}

/// What linking an alert or a change event as evidence takes from it.
#[derive(Debug, Clone)]
pub struct LinkedSource {
    pub summary: String,
    pub at: Timestamp,
}

const EVIDENCE: &str = "SELECT e.id, e.incident_id, e.kind, e.summary, e.excerpt, e.source_url, e.observed_at, \
     e.alert_id, e.change_id, e.pinned, u.username AS author, e.created_at, e.updated_at \
     FROM evidence e LEFT JOIN users u ON u.id = e.author_id";

/// An attachment's columns without its content, and where they come from: a list of files
/// reads `SELECT {ATTACHMENT_COLUMNS} {ATTACHMENTS_FROM}`, one file adds `a.content`.
const ATTACHMENT_COLUMNS: &str = "a.id, a.incident_id, a.evidence_id, a.name, a.content_type, a.size, u.username AS author, a.created_at";
const ATTACHMENTS_FROM: &str = "FROM attachments a LEFT JOIN users u ON u.id = a.author_id";

const HYPOTHESES: &str = "SELECT h.id, h.incident_id, h.statement, h.state, h.judged_after_test, h.owner_id, o.username AS owner, \
     a.username AS author, h.created_at, h.updated_at FROM hypotheses h \
     LEFT JOIN users o ON o.id = h.owner_id LEFT JOIN users a ON a.id = h.author_id";

impl Store {
    /// An incident's evidence, pinned pieces first, then newest first.
    pub async fn evidence(&self, incident_id: i64) -> Result<Vec<EvidenceRecord>> {
        let mut conn = self.read().await?;
        load_evidence(&mut conn, incident_id, None).await
    }

    /// An attachment of a piece of an incident's evidence, with its content.
    pub async fn attachment(
        &self,
        incident_id: i64,
        evidence_id: i64,
        attachment_id: i64,
    ) -> Result<(AttachmentRecord, Vec<u8>)> {
        let row = self
            .fetch_optional(
                &format!(
                    "SELECT a.content, {ATTACHMENT_COLUMNS} {ATTACHMENTS_FROM} \
                     WHERE a.id = $1 AND a.evidence_id = $2 AND a.incident_id = $3"
                ),
                args![attachment_id, evidence_id, incident_id],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((attachment_record(&row)?, row.get("content")?))
    }

    /// An incident's hypotheses, oldest first, with their evidence and tests.
    pub async fn hypotheses(&self, incident_id: i64) -> Result<Vec<HypothesisRecord>> {
        let mut conn = self.read().await?;
        load_hypotheses(&mut conn, incident_id, None).await
    }

    /// Opens a write transaction on an incident's investigation, holding the incident's row
    /// lock; `incident` is as committed, for the caller's access check.
    pub async fn begin_investigation(&self, incident_id: i64) -> Result<InvestigationTx> {
        let mut tx = self.begin_write().await?;
        let incident = load_incident(&mut tx, incident_id, &self.row_lock("i"))
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(InvestigationTx { tx, incident })
    }
}

/// One change to an incident's investigation (see `Store::begin_investigation`).
pub struct InvestigationTx {
    pub(super) tx: WriteTx,
    pub incident: Incident,
}

impl InvestigationTx {
    /// The alert a piece of evidence links to, with whether the incident it joined (if any) is
    /// private and whether `viewer` takes part in it: an alert is as private as its incident.
    pub async fn alert_source(
        &mut self,
        alert_id: i64,
        viewer: i64,
    ) -> Result<Option<(LinkedSource, bool, bool)>> {
        let row = self
            .tx
            .fetch_optional(
                "SELECT a.summary, a.first_at AS at, COALESCE(i.private, 0) AS private, \
                 (SELECT COUNT(*) FROM participants p WHERE p.incident_id = a.incident_id AND p.user_id = $2) AS joined \
                 FROM alerts a LEFT JOIN incidents i ON i.id = a.incident_id WHERE a.id = $1",
                args![alert_id, viewer],
            )
            .await?;
        row.map(|r| {
            let private = r.get::<i64>("private")? != 0;
            let joined = r.get::<i64>("joined")? > 0;
            Ok((linked_source(&r)?, private, joined))
        })
        .transpose()
    }

    /// The change event a piece of evidence links to.
    pub async fn change_source(&mut self, change_id: i64) -> Result<Option<LinkedSource>> {
        let row = self
            .tx
            .fetch_optional(
                "SELECT summary, happened_at AS at FROM change_events WHERE id = $1",
                args![change_id],
            )
            .await?;
        row.map(|r| linked_source(&r)).transpose()
    }

    /// This incident's evidence that already links the alert or change event, if any.
    pub async fn evidence_linking(
        &mut self,
        alert_id: Option<i64>,
        change_id: Option<i64>,
    ) -> Result<Option<i64>> {
        let row = self
            .tx
            .fetch_optional(
                "SELECT id FROM evidence WHERE incident_id = $1 AND (alert_id = $2 OR change_id = $3) \
                 ORDER BY id LIMIT 1",
                args![self.incident.id, alert_id, change_id],
            )
            .await?;
        row.map(|r| r.get("id")).transpose()
    }

    pub async fn add_evidence(
        &mut self,
        input: &EvidenceInput,
        summary: &str,
        observed_at: Option<Timestamp>,
        author_id: i64,
        now: Timestamp,
    ) -> Result<EvidenceRecord> {
        let id: i64 = self
            .tx
            .fetch_one(
                "INSERT INTO evidence (incident_id, kind, summary, excerpt, source_url, observed_at, alert_id, \
                 change_id, pinned, author_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
                args![
                    self.incident.id,
                    input.kind.as_str(),
                    summary,
                    input.excerpt.as_deref(),
                    input.source_url.as_deref(),
                    observed_at.map(ms),
                    input.alert_id,
                    input.change_id,
                    input.pinned,
                    author_id,
                    ms(now),
                ],
            )
            .await?
            .get("id")?;
        self.evidence(id).await
    }

    /// A piece of this incident's evidence.
    pub async fn evidence(&mut self, evidence_id: i64) -> Result<EvidenceRecord> {
        load_evidence(&mut self.tx, self.incident.id, Some(evidence_id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// Stores a piece of evidence's editable fields as `e` has them.
    pub async fn update_evidence(&mut self, e: &EvidenceRecord, now: Timestamp) -> Result<()> {
        self.tx
            .execute(
                "UPDATE evidence SET summary = $1, excerpt = $2, source_url = $3, observed_at = $4, pinned = $5, \
                 updated_at = $6 WHERE id = $7",
                args![
                    &e.summary,
                    e.excerpt.as_deref(),
                    e.source_url.as_deref(),
                    e.observed_at.map(ms),
                    e.pinned,
                    ms(now),
                    e.id,
                ],
            )
            .await?;
        Ok(())
    }

    /// Attaches a file to a piece of this incident's evidence.
    pub async fn add_attachment(
        &mut self,
        evidence_id: i64,
        input: AttachmentInput,
        author_id: i64,
        now: Timestamp,
    ) -> Result<AttachmentRecord> {
        let size = i64::try_from(input.content.len())
            .map_err(|_| StoreError::Corrupt("an attachment beyond i64 bytes".into()))?;
        let id: i64 = self
            .tx
            .fetch_one(
                "INSERT INTO attachments (incident_id, evidence_id, name, content_type, size, content, author_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                args![
                    self.incident.id,
                    evidence_id,
                    &input.name,
                    input.content_type.as_str(),
                    size,
                    Arg::Bytes(input.content),
                    author_id,
                    ms(now),
                ],
            )
            .await?
            .get("id")?;
        let row = self
            .tx
            .fetch_one(
                &format!("SELECT {ATTACHMENT_COLUMNS} {ATTACHMENTS_FROM} WHERE a.id = $1"),
                args![id],
            )
            .await?;
        attachment_record(&row)
    }

    /// Removes one of a piece of this incident's evidence's files; `NotFound` when it has no
    /// such file.
    pub async fn remove_attachment(&mut self, evidence_id: i64, attachment_id: i64) -> Result<()> {
        let removed = self
            .tx
            .execute(
                "DELETE FROM attachments WHERE id = $1 AND evidence_id = $2 AND incident_id = $3",
                args![attachment_id, evidence_id, self.incident.id],
            )
            .await?;
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes a piece of evidence, its attachments and its place for or against any
    /// hypothesis.
    pub async fn remove_evidence(&mut self, evidence_id: i64) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM hypothesis_evidence WHERE evidence_id = $1",
                args![evidence_id],
            )
            .await?;
        self.tx
            .execute(
                "DELETE FROM attachments WHERE evidence_id = $1",
                args![evidence_id],
            )
            .await?;
        // A user report stays joined to the incident when the evidence made of it goes.
        self.tx
            .execute(
                "UPDATE user_reports SET evidence_id = NULL WHERE evidence_id = $1",
                args![evidence_id],
            )
            .await?;
        self.tx
            .execute("DELETE FROM evidence WHERE id = $1", args![evidence_id])
            .await?;
        Ok(())
    }

    pub async fn add_hypothesis(
        &mut self,
        statement: &str,
        owner_id: Option<i64>,
        author_id: i64,
        now: Timestamp,
    ) -> Result<i64> {
        self.tx
            .fetch_one(
                "INSERT INTO hypotheses (incident_id, statement, state, owner_id, author_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                args![
                    self.incident.id,
                    statement,
                    HypothesisState::Open.as_str(),
                    owner_id,
                    author_id,
                    ms(now),
                ],
            )
            .await?
            .get("id")
    }

    /// A hypothesis of this incident.
    pub async fn hypothesis(&mut self, hypothesis_id: i64) -> Result<HypothesisRecord> {
        load_hypotheses(&mut self.tx, self.incident.id, Some(hypothesis_id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// Stores a hypothesis's statement, state, owner and evidence as `h` has them.
    pub async fn update_hypothesis(&mut self, h: &HypothesisRecord, now: Timestamp) -> Result<()> {
        self.tx
            .execute(
                "UPDATE hypotheses SET statement = $1, state = $2, owner_id = $3, judged_after_test = $4, \
                 updated_at = $5 WHERE id = $6",
                args![&h.statement, h.state.as_str(), h.owner_id, h.judged_after_test, ms(now), h.id],
            )
            .await?;
        self.tx
            .execute(
                "DELETE FROM hypothesis_evidence WHERE hypothesis_id = $1",
                args![h.id],
            )
            .await?;
        let links = h
            .evidence_for
            .iter()
            .map(|e| (e, Stance::For))
            .chain(h.evidence_against.iter().map(|e| (e, Stance::Against)));
        for (evidence_id, stance) in links {
            self.tx
                .execute(
                    "INSERT INTO hypothesis_evidence (hypothesis_id, evidence_id, stance) VALUES ($1, $2, $3)",
                    args![h.id, evidence_id, stance.as_str()],
                )
                .await?;
        }
        Ok(())
    }

    pub async fn add_test(
        &mut self,
        hypothesis_id: i64,
        description: &str,
        result: &str,
        author_id: i64,
        now: Timestamp,
    ) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO hypothesis_tests (hypothesis_id, description, result, author_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                args![hypothesis_id, description, result, author_id, ms(now)],
            )
            .await?;
        Ok(())
    }

    /// Records `entries` on the incident's timeline and commits.
    pub async fn commit(
        mut self,
        actor_id: i64,
        now: Timestamp,
        entries: &[EntryData],
    ) -> Result<Vec<TimelineEntry>> {
        let written =
            insert_entries(&mut self.tx, self.incident.id, Some(actor_id), now, entries).await?;
        self.tx.commit().await?;
        Ok(written)
    }
}

fn linked_source(row: &Row) -> Result<LinkedSource> {
    Ok(LinkedSource {
        summary: row.get("summary")?,
        at: row.ts("at")?,
    })
}

async fn load_evidence(
    conn: &mut Conn,
    incident_id: i64,
    only: Option<i64>,
) -> Result<Vec<EvidenceRecord>> {
    let rows = match only {
        Some(id) => {
            conn.fetch_all(
                &format!("{EVIDENCE} WHERE e.incident_id = $1 AND e.id = $2"),
                args![incident_id, id],
            )
            .await?
        }
        None => {
            conn.fetch_all(
                &format!("{EVIDENCE} WHERE e.incident_id = $1 ORDER BY e.pinned DESC, e.id DESC"),
                args![incident_id],
            )
            .await?
        }
    };
    let (filter, id) = match only {
        Some(id) => ("a.evidence_id = $2", id),
        None => ("a.id > $2", 0),
    };
    let attachments = conn
        .fetch_all(
            &format!(
                "SELECT {ATTACHMENT_COLUMNS} {ATTACHMENTS_FROM} \
                 WHERE a.incident_id = $1 AND {filter} ORDER BY a.id"
            ),
            args![incident_id, id],
        )
        .await?
        .iter()
        .map(attachment_record)
        .collect::<Result<Vec<_>>>()?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.get("id")?;
            Ok(EvidenceRecord {
                attachments: attachments
                    .iter()
                    .filter(|a| a.evidence_id == id)
                    .cloned()
                    .collect(),
                id,
                incident_id: r.get("incident_id")?,
                kind: r.parsed("kind")?,
                summary: r.get("summary")?,
                excerpt: r.get("excerpt")?,
                source_url: r.get("source_url")?,
                observed_at: r.opt_ts("observed_at")?,
                alert_id: r.get("alert_id")?,
                change_id: r.get("change_id")?,
                pinned: r.get::<i64>("pinned")? != 0,
                author: r.get("author")?,
                created_at: r.ts("created_at")?,
                updated_at: r.ts("updated_at")?,
            })
        })
        .collect()
}

fn attachment_record(row: &Row) -> Result<AttachmentRecord> {
    Ok(AttachmentRecord {
        id: row.get("id")?,
        incident_id: row.get("incident_id")?,
        evidence_id: row.get("evidence_id")?,
        name: row.get("name")?,
        content_type: row.parsed("content_type")?,
        size: row.get("size")?,
        author: row.get("author")?,
        created_at: row.ts("created_at")?,
    })
}

async fn load_hypotheses(
    conn: &mut Conn,
    incident_id: i64,
    only: Option<i64>,
) -> Result<Vec<HypothesisRecord>> {
    let (filter, id) = match only {
        Some(id) => ("AND h.id = $2", id),
        None => ("AND h.id > $2", 0),
    };
    let rows = conn
        .fetch_all(
            &format!("{HYPOTHESES} WHERE h.incident_id = $1 {filter} ORDER BY h.id"),
            args![incident_id, id],
        )
        .await?;
    let mut hypotheses = rows
        .iter()
        .map(|r| {
            Ok(HypothesisRecord {
                id: r.get("id")?,
                incident_id: r.get("incident_id")?,
                statement: r.get("statement")?,
                state: r.parsed("state")?,
                owner: r.get("owner")?,
                owner_id: r.get("owner_id")?,
                author: r.get("author")?,
                evidence_for: Vec::new(),
                evidence_against: Vec::new(),
                tests: Vec::new(),
                judged_after_test: r.get("judged_after_test")?,
                created_at: r.ts("created_at")?,
                updated_at: r.ts("updated_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if hypotheses.is_empty() {
        return Ok(hypotheses);
    }
    let links = conn
        .fetch_all(
            &format!(
                "SELECT x.hypothesis_id, x.evidence_id, x.stance FROM hypothesis_evidence x \
                 JOIN hypotheses h ON h.id = x.hypothesis_id WHERE h.incident_id = $1 {filter} ORDER BY x.evidence_id"
            ),
            args![incident_id, id],
        )
        .await?;
    let tests = conn
        .fetch_all(
            &format!(
                "SELECT t.id, t.hypothesis_id, t.description, t.result, u.username AS author, t.created_at \
                 FROM hypothesis_tests t JOIN hypotheses h ON h.id = t.hypothesis_id \
                 LEFT JOIN users u ON u.id = t.author_id WHERE h.incident_id = $1 {filter} ORDER BY t.id"
            ),
            args![incident_id, id],
        )
        .await?;
    for link in &links {
        let Some(h) = find(&mut hypotheses, link.get("hypothesis_id")?) else {
            continue;
        };
        let evidence_id = link.get("evidence_id")?;
        match link.parsed::<Stance>("stance")? {
            Stance::For => h.evidence_for.push(evidence_id),
            Stance::Against => h.evidence_against.push(evidence_id),
        }
    }
    for test in &tests {
        let Some(h) = find(&mut hypotheses, test.get("hypothesis_id")?) else {
            continue;
        };
        h.tests.push(TestRecord {
            id: test.get("id")?,
            description: test.get("description")?,
            result: test.get("result")?,
            author: test.get("author")?,
            at: test.ts("created_at")?,
        });
    }
    Ok(hypotheses)
}

fn find(hypotheses: &mut [HypothesisRecord], id: i64) -> Option<&mut HypothesisRecord> {
    hypotheses.iter_mut().find(|h| h.id == id)
}
