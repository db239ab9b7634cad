//! User reports: the public "report a problem" form and endpoint, reports from support tools,
//! and the triage queue. A report joins its service's open incident as evidence, or waits; a
//! burst of waiting reports opens an incident when the service's rules say so.

use std::net::IpAddr;

use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use super::investigation::named;
use super::{Aplomb, AppResult, require_responder};
use crate::domain::access::Actor;
use crate::domain::incident::{Declaration, Origin, ServiceRef, Summary, Title};
use crate::domain::investigation::{EvidenceInput, EvidenceKind};
use crate::domain::reports::{RawReport, ReportInput, is_bot, report_summary};
use crate::domain::timeline::EntryData;
use crate::store::{InvestigationTx, ReportRecord, WaitingCount};

/// Reports one address may send a minute through the public form and endpoint.
pub(super) const PUBLIC_REPORTS_PER_MINUTE: u32 = 10;

/// A report, from the public form, the public endpoint or a support tool.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportFields {
    /// The service's name.
    #[schema(example = "checkout")]
    #[schema(value_type = crate::app::schema::Name)]
    pub service: String,
    #[schema(example = "The payment page spins and never confirms my order")]
    #[schema(value_type = crate::app::schema::Text4000)]
    pub text: String,
    /// How to reach the reporter, if they want to be reached.
    #[schema(value_type = Option<crate::app::schema::BlankTitle>)]
    pub contact: Option<String>,
    /// Leave empty: a field people never see and bots fill in. A report with it is answered
    /// like any other and kept nowhere.
    pub website: Option<String>,
}

/// Who sends a report.
#[derive(Debug, Clone, Copy)]
pub enum Reporter<'a> {
    /// Anyone, through the public form or endpoint, from this address (limited per address).
    Public(Option<IpAddr>),
    /// A support tool, with its API token.
    Tool(&'a Actor),
}

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filed {
    /// It waits in the triage queue.
    Waiting { id: i64 },
    /// It joined the service's open incident as evidence; the incident is named only to a
    /// reporter who may see it.
    Joined { id: i64, incident_id: Option<i64> },
    /// It made a burst, which opened an incident with the waiting reports as evidence.
    Opened { id: i64, incident_id: i64 },
    /// The honeypot was filled in: nothing was kept.
    Dropped,
}

impl Aplomb {
    pub async fn file_report(&self, from: Reporter<'_>, fields: ReportFields) -> AppResult<Filed> {
        let now = self.now();
        if let Reporter::Public(Some(client)) = from {
            self.reports.take(client, now)?;
        }
        if is_bot(fields.website.as_deref()) {
            return Ok(Filed::Dropped);
        }
        let report = ReportInput::parse(RawReport {
            service: &fields.service,
            text: &fields.text,
            contact: fields.contact.as_deref(),
        })?;
        let system = self.store.system_user(now).await?;
        let (author, reporter) = match from {
            Reporter::Public(_) => (system.id, None),
            Reporter::Tool(actor) => (actor.id, Some(actor.id)),
        };
        let mut tx = named(
            self.store.begin_report(&report.service).await,
            "service",
            || format!("no service named {:?}", report.service),
        )?;
        let id = tx.insert(&report, reporter, now).await?;
        if let Some(incident_id) = tx.open_incident().await? {
            let mut tx = tx.investigate(incident_id).await?;
            let incident = &tx.incident;
            let seen = match from {
                Reporter::Tool(actor) => {
                    actor.can_view(incident.private, incident.is_participant(actor.id))
                }
                Reporter::Public(_) => false,
            };
            let entry = attach(&mut tx, id, &report.text, now, author, now).await?;
            tx.commit(author, now, &[entry]).await?;
            self.announce(incident_id).await;
            return Ok(Filed::Joined {
                id,
                incident_id: seen.then_some(incident_id),
            });
        }
        let rules = tx.rules().clone();
        let waiting = tx.waiting_since(rules.window_start(now)).await?;
        if !rules.opens_incident(waiting.len() as u64) {
            tx.commit().await?;
            return Ok(Filed::Waiting { id });
        }
        let service = tx.service_name().to_string();
        let declaration = Declaration {
            title: Title::parse(&format!("Users report problems with {service}"))?,
            summary: Summary::parse(&format!(
                "Opened by {} user reports within {} minutes.",
                waiting.len(),
                rules.burst_window_minutes
            ))?,
            severity: rules.severity,
            incident_type: self.settings.incident_types.automatic(),
            private: false,
            services: vec![ServiceRef {
                id: tx.service_id(),
                name: service,
            }],
            origin: Origin::Reports,
        };
        let incident_id = tx
            .open_incident_for(declaration, system.clone(), now)
            .await?;
        let mut tx = tx.investigate(incident_id).await?;
        let mut entries = Vec::with_capacity(waiting.len());
        for w in &waiting {
            entries.push(attach(&mut tx, w.id, &w.text, w.created_at, system.id, now).await?);
        }
        tx.commit(system.id, now, &entries).await?;
        // The service's escalation policy is due now: the engine pages it on its next pass.
        self.engine.wake();
        self.announce(incident_id).await;
        Ok(Filed::Opened { id, incident_id })
    }

    /// The triage queue: the newest waiting reports and the counts per service.
    pub async fn triage(
        &self,
        actor: &Actor,
        limit: i64,
    ) -> AppResult<(Vec<ReportRecord>, Vec<WaitingCount>)> {
        require_responder(actor)?;
        Ok(self.store.waiting_reports(limit).await?)
    }
}

/// A report joins the incident as a piece of evidence (its text the excerpt).
async fn attach(
    tx: &mut InvestigationTx,
    report_id: i64,
    text: &str,
    observed_at: Timestamp,
    author_id: i64,
    now: Timestamp,
) -> AppResult<EntryData> {
    let summary = report_summary(text);
    let input = EvidenceInput {
        kind: EvidenceKind::UserReport,
        summary: Some(summary.clone()),
        excerpt: Some(text.to_string()),
        source_url: None,
        observed_at: Some(observed_at),
        alert_id: None,
        change_id: None,
        pinned: false,
    };
    let e = tx
        .add_evidence(&input, &summary, Some(observed_at), author_id, now)
        .await?;
    tx.attach_report(report_id, e.id).await?;
    Ok(EntryData::EvidenceAdded {
        evidence_id: e.id,
        evidence_kind: e.kind,
        summary: e.summary,
    })
}
