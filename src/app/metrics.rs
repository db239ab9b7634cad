//! Response metrics: each incident of the period read as its review reads it, then summed up
//! by `domain::metrics`. A reader counts only the incidents they may see; the Prometheus
//! exposition, which has no reader, counts only those anyone may, over the last 30 days, read
//! at most once a minute.

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Mutex;

use super::{Aplomb, AppResult};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::instant;
use crate::domain::metrics::{
    DEFAULT_PERIOD_DAYS, IncidentFigures, MAX_PERIOD_DAYS, ResponseMetrics, summarize,
};
use crate::store::PeriodFilter;

/// A period's metrics as asked for: RFC 3339 bounds (by default the last 90 days up to now),
/// and optionally one service or one team's services.
#[derive(Debug, Clone, Default)]
pub struct MetricsQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub service: Option<String>,
    pub team: Option<String>,
}

/// The period the exposition covers.
const EXPOSED_DAYS: i64 = 30;
/// How long the exposition's figures are served before they are read again.
const EXPOSED_FOR: SignedDuration = SignedDuration::from_mins(1);

/// The exposition's last figures and when they were read.
#[derive(Default)]
pub(super) struct Exposed(Mutex<Option<(Timestamp, ResponseMetrics)>>);

impl Aplomb {
    pub async fn response_metrics(
        &self,
        actor: &Actor,
        query: &MetricsQuery,
    ) -> AppResult<ResponseMetrics> {
        let now = self.now();
        let until = match query.until.as_deref() {
            None => now,
            Some(raw) => instant("until", raw)?,
        };
        let since = match query.since.as_deref() {
            None => until - days(DEFAULT_PERIOD_DAYS),
            Some(raw) => instant("since", raw)?,
        };
        if since >= until {
            return Err(FieldError::new("since", "must be before until").into());
        }
        if until.duration_since(since) > days(MAX_PERIOD_DAYS) {
            return Err(FieldError::new(
                "since",
                format!("the period may be at most {MAX_PERIOD_DAYS} days"),
            )
            .into());
        }
        let name = |raw: &Option<String>| {
            raw.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let filter = PeriodFilter {
            service: name(&query.service),
            team: name(&query.team),
        };
        self.period(Some(actor), since, until, &filter).await
    }

    /// The last 30 days of incidents anyone may see, for the Prometheus exposition.
    pub async fn exposed_response_metrics(&self) -> AppResult<ResponseMetrics> {
        let now = self.now();
        let mut exposed = self.exposed.0.lock().await;
        if let Some((read, metrics)) = exposed.as_ref()
            && now.duration_since(*read) < EXPOSED_FOR
        {
            return Ok(metrics.clone());
        }
        let since = now - days(EXPOSED_DAYS);
        let metrics = self
            .period(None, since, now, &PeriodFilter::default())
            .await?;
        *exposed = Some((now, metrics.clone()));
        Ok(metrics)
    }

    async fn period(
        &self,
        viewer: Option<&Actor>,
        since: Timestamp,
        until: Timestamp,
        filter: &PeriodFilter,
    ) -> AppResult<ResponseMetrics> {
        let ids = self
            .store
            .incidents_declared(viewer, since, until, filter)
            .await?;
        let mut figures = Vec::with_capacity(ids.len());
        let mut items = Vec::new();
        for id in ids {
            // Gone since it was listed: nothing to count.
            let Some(incident) = self.store.incident(id).await? else {
                continue;
            };
            let detected = self.store.review(id).await?.and_then(|r| r.detected_at);
            let (timeline, draft) = self.draft_of(&incident, detected).await?;
            let entries: Vec<_> = timeline.iter().map(|e| (e.at, &e.data)).collect();
            figures.push(IncidentFigures::of(&incident, &entries, &draft));
            items.extend(self.store.action_item_states(id).await?);
        }
        Ok(summarize(since, until, &figures, &items))
    }
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}
