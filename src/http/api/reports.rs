//! User reports: the public endpoint (no sign-in; a support tool may send its token) and the
//! triage queue.

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::app::{Filed, ReportFields, Reporter};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiQuery, ClientAddr};
use crate::store::{ReportRecord, WaitingCount};

pub fn router() -> Router<AppState> {
    Router::new().route("/reports", post(file_report).get(triage))
}

#[derive(OpenApi)]
#[openapi(paths(file_report, triage))]
pub struct ReportsDoc;

/// The caller of the public endpoint: a support tool when it sends a token (which must be
/// valid), anyone otherwise.
struct MaybeActor(Option<ApiActor>);

impl FromRequestParts<AppState> for MaybeActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        Ok(Self(Some(
            ApiActor::from_request_parts(parts, state).await?,
        )))
    }
}

/// What the public is told: that the report arrived, nothing about incidents.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedBody {
    pub received: bool,
}

/// What a support tool is told about its report.
#[derive(Debug, Serialize, ToSchema)]
pub struct FiledBody {
    pub id: i64,
    /// `waiting` (in the triage queue), `joined` (the service's open incident, as evidence)
    /// or `opened` (a burst of reports opened an incident).
    pub status: &'static str,
    /// The incident it joined or opened; none for a private incident the tool's user is
    /// outside of.
    pub incident_id: Option<i64>,
}

/// Report a problem with a service. Public: no sign-in, limited per client address (429 with
/// `Retry-After`), answered 202 `{"received": true}` alone. A support tool sending its API
/// token is not limited and is answered 201 with the report's id and what became of it. A
/// report joins its service's open incident as evidence, or waits in the triage queue; a burst
/// of waiting reports opens an incident when the service's `user_reports` rules say so.
#[utoipa::path(post, path = "/api/v1/reports", request_body = ReportFields, security((), ("bearer" = [])),
    responses((status = 201, body = FiledBody, description = "filed by a support tool"),
        (status = 202, body = ReceivedBody, description = "received from the public"),
        (status = 400, body = ErrorBody, description = "malformed JSON (invalid UTF-8 included)"),
        (status = 401, body = ErrorBody, description = "a token was sent and is not valid"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a field is missing or bad; an unknown service is `service`'s error"),
        (status = 429, body = ErrorBody)))]
async fn file_report(
    State(app): State<AppState>,
    MaybeActor(actor): MaybeActor,
    ClientAddr(client): ClientAddr,
    body: ApiJson<ReportFields>,
) -> Result<Response, ApiError> {
    let from = match &actor {
        Some(ApiActor(actor)) => Reporter::Tool(actor),
        None => Reporter::Public(client),
    };
    let filed = app.file_report(from, body.value).await?;
    let (id, status, incident_id) = match filed {
        _ if actor.is_none() => return Ok(received()),
        Filed::Dropped => return Ok(received()),
        Filed::Waiting { id } => (id, "waiting", None),
        Filed::Joined { id, incident_id } => (id, "joined", incident_id),
        Filed::Opened { id, incident_id } => (id, "opened", Some(incident_id)),
    };
    let body = FiledBody {
        id,
        status,
        incident_id,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn received() -> Response {
    (StatusCode::ACCEPTED, Json(ReceivedBody { received: true })).into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TriageQuery {
    /// How many of the newest waiting reports, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportBody {
    pub id: i64,
    pub service: String,
    pub text: String,
    pub contact: Option<String>,
    /// The support tool's user that sent it; none for the public.
    pub reporter: Option<String>,
    pub created_at: String,
}

impl From<ReportRecord> for ReportBody {
    fn from(r: ReportRecord) -> Self {
        Self {
            id: r.id,
            service: r.service,
            text: r.text,
            contact: r.contact,
            reporter: r.reporter,
            created_at: r.created_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingCountBody {
    pub service: String,
    pub waiting: i64,
    pub latest_at: String,
}

impl From<WaitingCount> for WaitingCountBody {
    fn from(c: WaitingCount) -> Self {
        Self {
            service: c.service,
            waiting: c.waiting,
            latest_at: c.latest_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriageBody {
    /// The newest reports that joined no incident.
    pub waiting: Vec<ReportBody>,
    /// How many wait per service, most first.
    pub by_service: Vec<WaitingCountBody>,
}

/// The triage queue: reports waiting for someone to look at them, and the counts per service
/// (responders and admins).
#[utoipa::path(get, path = "/api/v1/reports", params(TriageQuery),
    responses((status = 200, body = TriageBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn triage(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(query): ApiQuery<TriageQuery>,
) -> Result<Json<TriageBody>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 500"));
    }
    let (waiting, counts) = app.triage(&actor, limit).await?;
    Ok(Json(TriageBody {
        waiting: waiting.into_iter().map(Into::into).collect(),
        by_service: counts.into_iter().map(Into::into).collect(),
    }))
}
