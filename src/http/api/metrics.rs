//! Response metrics over a period: `GET /api/v1/metrics/response`.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::app::MetricsQuery;
use crate::domain::metrics::{self, Distribution, ResponseMetrics, Share};
use crate::domain::review::DURATIONS;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiQuery};

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics/response", get(response))
}

#[derive(OpenApi)]
#[openapi(paths(response))]
pub struct MetricsDoc;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResponseQuery {
    /// Start of the period (RFC 3339); by default 90 days before `until`.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// End of the period (RFC 3339, not included); by default now. At most 366 days.
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Only incidents of this service.
    pub service: Option<String>,
    /// Only incidents of the services this team owns.
    pub team: Option<String>,
}

/// A duration's spread, in seconds, over the incidents that reached both its moments.
#[derive(Debug, Serialize, ToSchema)]
pub struct DistributionBody {
    pub count: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

impl From<Distribution> for DistributionBody {
    fn from(d: Distribution) -> Self {
        Self {
            count: d.count,
            median_seconds: d.median,
            p90_seconds: d.p90,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShareBody {
    pub counted: u32,
    pub of: u32,
    /// `counted / of`, 0 to 1; absent of nothing.
    pub share: Option<f64>,
}

impl From<Share> for ShareBody {
    fn from(s: Share) -> Self {
        Self {
            counted: s.counted,
            of: s.of,
            share: s.ratio(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WeekBody {
    pub starts: String,
    pub incidents: u32,
    pub median_time_to_resolve_seconds: Option<i64>,
}

/// A period's response metrics.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResponseMetricsBody {
    pub since: String,
    pub until: String,
    pub incidents: u32,
    /// By duration: `time_to_detect`, `time_to_acknowledge`, `time_to_assemble`,
    /// `time_to_first_update`, `time_to_finding`, `time_to_mitigate`, `time_to_resolve`.
    #[schema(value_type = Object)]
    pub durations: BTreeMap<&'static str, DistributionBody>,
    /// What each figure measures: the durations and the other figures, by their names.
    #[schema(value_type = Object)]
    pub definitions: BTreeMap<&'static str, &'static str>,
    #[schema(value_type = Object)]
    pub by_severity: BTreeMap<String, u32>,
    #[schema(value_type = Object)]
    pub by_service: BTreeMap<String, u32>,
    #[schema(value_type = Object)]
    pub by_type: BTreeMap<String, u32>,
    pub mitigations_on_finding: ShareBody,
    pub cadence_kept: ShareBody,
    pub action_items_done: ShareBody,
    /// The period week by week from `since`.
    pub weeks: Vec<WeekBody>,
}

impl From<ResponseMetrics> for ResponseMetricsBody {
    fn from(m: ResponseMetrics) -> Self {
        Self {
            since: m.since.to_string(),
            until: m.until.to_string(),
            incidents: m.incidents,
            durations: m
                .durations
                .into_iter()
                .map(|(name, d)| (name, d.into()))
                .collect(),
            definitions: DURATIONS.into_iter().chain(metrics::DEFINITIONS).collect(),
            by_severity: m.by_severity,
            by_service: m.by_service,
            by_type: m.by_type,
            mitigations_on_finding: m.mitigations_on_finding.into(),
            cadence_kept: m.cadence_kept.into(),
            action_items_done: m.action_items_done.into(),
            weeks: m
                .weeks
                .into_iter()
                .map(|w| WeekBody {
                    starts: w.starts.to_string(),
                    incidents: w.incidents,
                    median_time_to_resolve_seconds: w.median_time_to_resolve,
                })
                .collect(),
        }
    }
}

/// Response metrics over a period: each key duration's median and 90th percentile (not
/// means, which one long incident drags), counts by severity, service and type, the share of
/// mitigating actions resting on a finding, cadence adherence, action-item completion, and the
/// period week by week. Only incidents the caller may see are counted; every figure's
/// definition is in `definitions`.
#[utoipa::path(get, path = "/api/v1/metrics/response", tag = "review", params(ResponseQuery),
    responses((status = 200, body = ResponseMetricsBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn response(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(query): ApiQuery<ResponseQuery>,
) -> Result<Json<ResponseMetricsBody>, ApiError> {
    let query = MetricsQuery {
        since: query.since,
        until: query.until,
        service: query.service,
        team: query.team,
    };
    Ok(Json(app.response_metrics(&actor, &query).await?.into()))
}
