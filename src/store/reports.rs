//! User reports by service: waiting in the triage queue, or joined to an incident as a piece
//! of its evidence. A report is written under its service's row lock, so the reports counted
//! toward a burst are counted one report at a time, whichever instance took them.

use jiff::Timestamp;

use super::db::{Row, args, closed_statuses, not_drill};
use super::incidents::load_incident;
use super::ingest::{ServiceInfo, open_service_incident, service_info};
use super::investigation::InvestigationTx;
use super::{Backend, Result, Store, StoreError, WriteTx, ms};
use crate::domain::incident::{Declaration, UserRef};
use crate::domain::reports::{ReportInput, ReportRules};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub id: i64,
    pub service: String,
    pub text: String,
    pub contact: Option<String>,
    /// The support tool's user that sent it; `None` for the public form or endpoint.
    pub reporter: Option<String>,
    pub incident_id: Option<i64>,
    pub created_at: Timestamp,
}

/// How many reports about one service wait in the triage queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingCount {
    pub service: String,
    pub waiting: i64,
    pub latest_at: Timestamp,
}

const REPORTS: &str = "SELECT r.id, s.name AS service, r.text, r.contact, u.username AS reporter, \
     r.incident_id, r.created_at FROM user_reports r JOIN services s ON s.id = r.service_id \
     LEFT JOIN users u ON u.id = r.reporter_id";

impl Store {
    /// The triage queue: the `limit` newest reports that joined no incident, and how many
    /// wait per service (most first).
    pub async fn waiting_reports(
        &self,
        limit: i64,
    ) -> Result<(Vec<ReportRecord>, Vec<WaitingCount>)> {
        let mut conn = self.read().await?;
        let rows = conn
            .fetch_all(
                &format!("{REPORTS} WHERE r.incident_id IS NULL ORDER BY r.id DESC LIMIT $1"),
                args![limit],
            )
            .await?;
        let reports = rows.iter().map(report).collect::<Result<_>>()?;
        let rows = conn
            .fetch_all(
                "SELECT s.name, COUNT(*) AS waiting, MAX(r.created_at) AS latest_at \
                 FROM user_reports r JOIN services s ON s.id = r.service_id \
                 WHERE r.incident_id IS NULL GROUP BY s.name ORDER BY waiting DESC, s.name",
                args![],
            )
            .await?;
        let counts = rows
            .iter()
            .map(|r| {
                Ok(WaitingCount {
                    service: r.get("name")?,
                    waiting: r.get("waiting")?,
                    latest_at: r.ts("latest_at")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((reports, counts))
    }

    /// Opens a write transaction on the reports of the service named `service`, holding its
    /// row lock; `NotFound` when there is no such service.
    pub async fn begin_report(&self, service: &str) -> Result<ReportTx> {
        let mut tx = self.begin_write().await?;
        let id: i64 = tx
            .fetch_optional(
                &format!(
                    "SELECT s.id FROM services s WHERE s.name = $1{}",
                    self.row_lock("s")
                ),
                args![service],
            )
            .await?
            .ok_or(StoreError::NotFound)?
            .get("id")?;
        let service = service_info(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(ReportTx {
            tx,
            service,
            backend: self.backend,
        })
    }
}

/// One report being taken (see `Store::begin_report`).
pub struct ReportTx {
    tx: WriteTx,
    service: ServiceInfo,
    backend: Backend,
}

/// A report waiting in the triage queue.
#[derive(Debug, Clone)]
pub struct WaitingReport {
    pub id: i64,
    pub text: String,
    pub created_at: Timestamp,
}

impl ReportTx {
    pub fn service_id(&self) -> i64 {
        self.service.id
    }

    pub fn service_name(&self) -> &str {
        &self.service.name
    }

    /// How the service treats its user reports.
    pub fn rules(&self) -> &ReportRules {
        &self.service.rules.user_reports
    }

    pub async fn insert(
        &mut self,
        report: &ReportInput,
        reporter_id: Option<i64>,
        now: Timestamp,
    ) -> Result<i64> {
        self.tx
            .fetch_one(
                "INSERT INTO user_reports (service_id, text, contact, reporter_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                args![
                    self.service.id,
                    &report.text,
                    report.contact.as_deref(),
                    reporter_id,
                    ms(now)
                ],
            )
            .await?
            .get("id")
    }

    /// The service's newest incident still open, which a new report joins.
    pub async fn open_incident(&mut self) -> Result<Option<i64>> {
        let row = self
            .tx
            .fetch_optional(
                concat!(
                    "SELECT i.id FROM incidents i JOIN incident_services x ON x.incident_id = i.id \
                     WHERE x.service_id = $1 AND i.status NOT IN ",
                    closed_statuses!(),
                    " AND ",
                    not_drill!(),
                    " ORDER BY i.id DESC LIMIT 1"
                ),
                args![self.service.id],
            )
            .await?;
        row.map(|r| r.get("id")).transpose()
    }

    /// The service's reports waiting since `since`, oldest first.
    pub async fn waiting_since(&mut self, since: Timestamp) -> Result<Vec<WaitingReport>> {
        let rows = self
            .tx
            .fetch_all(
                "SELECT id, text, created_at FROM user_reports \
                 WHERE service_id = $1 AND incident_id IS NULL AND created_at >= $2 ORDER BY id",
                args![self.service.id, ms(since)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WaitingReport {
                    id: r.get("id")?,
                    text: r.get("text")?,
                    created_at: r.ts("created_at")?,
                })
            })
            .collect()
    }

    /// Opens an incident on the service, declared by `by`; its escalation policy starts.
    pub async fn open_incident_for(
        &mut self,
        declaration: Declaration,
        by: UserRef,
        now: Timestamp,
    ) -> Result<i64> {
        open_service_incident(&mut self.tx, &self.service, declaration, by, now).await
    }

    /// Goes on in an incident's investigation, in this transaction, holding its row lock.
    pub async fn investigate(mut self, incident_id: i64) -> Result<InvestigationTx> {
        let incident = load_incident(&mut self.tx, incident_id, &self.backend.row_lock("i"))
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(InvestigationTx {
            tx: self.tx,
            incident,
        })
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }
}

impl InvestigationTx {
    /// A report joins this incident as the piece of evidence `evidence_id`.
    pub async fn attach_report(&mut self, report_id: i64, evidence_id: i64) -> Result<()> {
        self.tx
            .execute(
                "UPDATE user_reports SET incident_id = $1, evidence_id = $2 WHERE id = $3",
                args![self.incident.id, evidence_id, report_id],
            )
            .await?;
        Ok(())
    }
}

fn report(r: &Row) -> Result<ReportRecord> {
    Ok(ReportRecord {
        id: r.get("id")?,
        service: r.get("service")?,
        text: r.get("text")?,
        contact: r.get("contact")?,
        reporter: r.get("reporter")?,
        incident_id: r.get("incident_id")?,
        created_at: r.ts("created_at")?,
    })
}
