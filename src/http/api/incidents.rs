//! Incidents: declaring, listing, reading and changing them, roles, participants, the
//! timeline and its live stream.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::app::{DeclareInput, IncidentView, PatchInput, SeenVersion};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath, ApiQuery, IdempotencyHeader};
use crate::http::live;
use crate::store::{IncidentFilter, IncidentSummary, TimelineEntry, TimelinePage, TimelineWindow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents", post(declare).get(list_incidents))
        .route("/incidents/{id}", get(show_incident).patch(update_incident))
        .route("/incidents/{id}/roles/{role}", put(assign_role))
        .route("/incidents/{id}/participants", post(add_participant))
        .route("/incidents/{id}/timeline", get(timeline).post(add_note))
        .route("/incidents/{id}/events", get(incident_events))
}

#[derive(OpenApi)]
#[openapi(paths(
    declare,
    list_incidents,
    show_incident,
    update_incident,
    assign_role,
    add_participant,
    timeline,
    add_note,
    incident_events
))]
pub struct IncidentsDoc;

/// Declare an incident.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    #[schema(example = "Checkout returns 502 for some users")]
    #[schema(value_type = crate::app::schema::IncidentTitle)]
    pub title: String,
    #[schema(value_type = Option<crate::app::schema::SummaryText>)]
    pub summary: Option<String>,
    /// `SEV1` (most severe) to `SEV4`.
    #[schema(example = "SEV2", value_type = crate::app::schema::SeverityName)]
    pub severity: String,
    /// One of the configured incident types; defaults to the last one (`other`).
    #[serde(rename = "type")]
    #[schema(example = "outage")]
    pub incident_type: Option<String>,
    /// Visible only to participants and admins.
    #[serde(default)]
    pub private: bool,
    /// Names of affected services from the catalog.
    #[serde(default)]
    pub services: Vec<String>,
}

/// Fields to change; omitted fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    #[schema(value_type = Option<crate::app::schema::IncidentTitle>)]
    pub title: Option<String>,
    #[schema(value_type = Option<crate::app::schema::SummaryText>)]
    pub summary: Option<String>,
    #[schema(value_type = Option<crate::app::schema::SeverityName>)]
    pub severity: Option<String>,
    #[schema(value_type = Option<crate::app::schema::IncidentStatusName>)]
    pub status: Option<String>,
    /// Why the status changes; required to reopen a resolved incident.
    #[schema(value_type = Option<crate::app::schema::BlankNote>)]
    pub reason: Option<String>,
    /// The `version` this change was made from; if the incident has changed since, nothing
    /// is changed and the answer is 409 with code `stale`. (`If-Match` does the same as a
    /// precondition, answering 412.)
    pub version: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    /// A username.
    pub user: String,
}

/// Who takes a role, and what is handed over with it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// A username.
    pub user: String,
    /// A hand-off note for the timeline: what is in flight, what to watch.
    #[schema(example = "Rollback is half done; watch the EU error rate")]
    #[schema(value_type = Option<crate::app::schema::NoteText>)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    #[schema(value_type = crate::app::schema::NoteText)]
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleBody {
    pub role: String,
    pub user: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentBody {
    pub id: i64,
    pub title: String,
    pub summary: String,
    pub severity: String,
    #[serde(rename = "type")]
    pub incident_type: String,
    pub status: String,
    pub private: bool,
    /// A practice run (`/api/v1/drills`): kept off the status page and out of the metrics.
    pub drill: bool,
    pub declared_by: String,
    pub declared_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    /// Bumped by every change; send it back (`If-Match` or the `version` field of a PATCH) so
    /// a change made from a stale view is refused.
    pub version: i64,
    pub roles: Vec<RoleBody>,
    /// Roles the severity requires that nobody holds.
    pub unfilled_roles: Vec<String>,
    pub participants: Vec<String>,
    pub services: Vec<String>,
}

impl From<IncidentView> for IncidentBody {
    fn from(view: IncidentView) -> Self {
        let i = view.incident;
        Self {
            id: i.id,
            title: i.title,
            summary: i.summary,
            severity: i.severity.to_string(),
            incident_type: i.incident_type,
            status: i.status.to_string(),
            private: i.private,
            drill: i.origin == crate::domain::incident::Origin::Drill,
            declared_by: i.declared_by.username,
            declared_at: i.declared_at.to_string(),
            updated_at: i.updated_at.to_string(),
            resolved_at: i.resolved_at.map(|t| t.to_string()),
            version: i.version,
            roles: i
                .roles
                .into_iter()
                .map(|a| RoleBody {
                    role: a.role.slug().to_string(),
                    user: a.user.username,
                })
                .collect(),
            unfilled_roles: view
                .unfilled_roles
                .iter()
                .map(|r| r.slug().to_string())
                .collect(),
            participants: i.participants.into_iter().map(|p| p.username).collect(),
            services: i.services.into_iter().map(|s| s.name).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentListItem {
    pub id: i64,
    pub title: String,
    pub severity: String,
    #[serde(rename = "type")]
    pub incident_type: String,
    pub status: String,
    pub private: bool,
    /// A practice run.
    pub drill: bool,
    pub incident_lead: Option<String>,
    pub declared_at: String,
    pub updated_at: String,
}

impl From<IncidentSummary> for IncidentListItem {
    fn from(s: IncidentSummary) -> Self {
        Self {
            id: s.id,
            title: s.title,
            severity: s.severity.to_string(),
            incident_type: s.incident_type,
            status: s.status.to_string(),
            private: s.private,
            drill: s.drill,
            incident_lead: s.lead,
            declared_at: s.declared_at.to_string(),
            updated_at: s.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub items: Vec<IncidentListItem>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only incidents in this status.
    #[param(value_type = Option<crate::app::schema::IncidentStatusFilter>, inline)]
    pub status: Option<String>,
    /// Only incidents of this severity.
    #[param(value_type = Option<crate::app::schema::SeverityFilter>, inline)]
    pub severity: Option<String>,
    /// `true`: only incidents not yet resolved.
    pub active: Option<bool>,
    /// Cursor from the previous page.
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl ListQuery {
    pub fn filter(&self) -> Result<IncidentFilter, ApiError> {
        fn parse_opt<T: std::str::FromStr<Err = crate::domain::FieldError>>(
            raw: &Option<String>,
        ) -> Result<Option<T>, ApiError> {
            raw.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(str::parse)
                .transpose()
                .map_err(|e| crate::app::AppError::from(e).into())
        }
        let limit = self.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be between 1 and 200"));
        }
        Ok(IncidentFilter {
            status: parse_opt(&self.status)?,
            severity: parse_opt(&self.severity)?,
            active: self.active.unwrap_or(false),
            before: self.before,
            limit,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntryBody {
    pub id: i64,
    pub at: String,
    /// Who did it; absent for entries aplomb wrote itself.
    pub actor: Option<String>,
    /// e.g. `declared`, `status_changed`, `role_assigned`, `note`.
    pub kind: String,
    /// One readable sentence.
    pub text: String,
    /// The typed entry, with the references it carries.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<TimelineEntry> for TimelineEntryBody {
    fn from(e: TimelineEntry) -> Self {
        Self {
            id: e.id,
            at: e.at.to_string(),
            actor: e.actor,
            kind: e.data.kind().to_string(),
            text: e.data.describe(),
            data: serde_json::to_value(&e.data).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// The first `limit` entries with a larger id (reading forward, e.g. to follow along).
    pub after: Option<i64>,
    /// The latest `limit` entries with a smaller id (reading back: pass the first entry's id
    /// of the page before).
    pub before: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl TimelineQuery {
    /// The window asked for: without a cursor, the latest entries.
    pub fn window(&self) -> Result<TimelineWindow, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
        }
        match (self.after, self.before) {
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "before",
                "give either after or before, not both",
            )),
            (Some(id), None) => Ok(TimelineWindow::After { id, limit }),
            (None, Some(id)) => Ok(TimelineWindow::Before { id, limit }),
            (None, None) => Ok(TimelineWindow::Latest { limit }),
        }
    }
}

/// Declare an incident. With an `Idempotency-Key` header, a retry returns the first result.
#[utoipa::path(post, path = "/api/v1/incidents", request_body = DeclareRequest,
    responses((status = 201, body = IncidentBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn declare(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    idempotency: IdempotencyHeader,
    body: ApiJson<DeclareRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let key = idempotency.with_body(&body.digest);
    let req = body.value;
    let input = DeclareInput {
        title: req.title,
        summary: req.summary,
        severity: req.severity,
        incident_type: req.incident_type,
        private: req.private,
        services: req.services,
    };
    let (view, _replayed) = app.declare(&actor, input, key).await?;
    Ok((StatusCode::CREATED, Json(IncidentBody::from(view))))
}

/// List the incidents you may see, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", params(ListQuery),
    responses((status = 200, body = IncidentList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_incidents(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let page = app.list(&actor, &query.filter()?).await?;
    Ok(Json(IncidentList {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// An incident with its version as the `ETag`, for a later `If-Match`.
fn with_etag(view: IncidentView) -> impl IntoResponse {
    let etag = format!("\"{}\"", view.incident.version);
    ([(header::ETAG, etag)], Json(IncidentBody::from(view)))
}

/// The version named by an `If-Match` header: one strong entity tag as given in `ETag`, or
/// `*` (any version, so no check).
fn if_match(headers: &HeaderMap) -> Result<Option<SeenVersion>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let refused = || {
        ApiError::invalid(
            "If-Match",
            "If-Match: must be one entity tag from this incident's ETag, e.g. \"3\", or *",
        )
    };
    let value = value.to_str().map_err(|_| refused())?.trim();
    if value == "*" {
        return Ok(None);
    }
    let version = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(refused)?;
    Ok(Some(SeenVersion::Precondition(version)))
}

/// One incident; its `ETag` is its version.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = IncidentBody,
               headers(("ETag" = String, description = "The incident's version, quoted; send it as If-Match with a PATCH"))),
              (status = 404, body = ErrorBody)))]
async fn show_incident(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(with_etag(app.incident(&actor, id).await?))
}

/// Change title, summary, severity or status (with a reason; required to reopen). With
/// `If-Match` (the `ETag` of a GET) or a `version` field, a change made from a stale view is
/// refused rather than undoing someone else's.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}",
    params(("id" = i64, Path),
           ("If-Match" = Option<String>, Header, pattern = r#"^(\*|"-?[0-9]{1,18}")$"#, description = "The ETag the change was made from, e.g. \"3\", or * for any version; 412 when the incident has changed since")),
    request_body = PatchRequest,
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 200, body = IncidentBody, headers(("ETag" = String, description = "The incident's new version, quoted"))),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the change contradicts the incident's state (code `conflict`), or `version` is stale (code `stale`, field `version`)"),
              (status = 412, body = ErrorBody, description = "If-Match names an older version (code `stale`, field `If-Match`); nothing was changed"),
              (status = 422, body = ErrorBody)))]
async fn update_incident(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
    body: ApiJson<PatchRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let req = body.value;
    let seen = if_match(&headers)?.or(req.version.map(SeenVersion::Field));
    let input = PatchInput {
        title: req.title,
        summary: req.summary,
        severity: req.severity,
        status: req.status,
        reason: req.reason,
        seen,
    };
    Ok(with_etag(app.update(&actor, id, input).await?))
}

/// Give a response role to a user: `incident_lead`, `communications_lead` or `scribe`.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/roles/{role}",
    params(("id" = i64, Path), ("role" = inline(crate::app::schema::RoleName), Path)), request_body = RoleRequest,
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 200, body = IncidentBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn assign_role(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, role)): ApiPath<(i64, String)>,
    body: ApiJson<RoleRequest>,
) -> Result<Json<IncidentBody>, ApiError> {
    let body = body.value;
    Ok(Json(
        app.assign_role(&actor, id, &role, &body.user, body.note.as_deref())
            .await?
            .into(),
    ))
}

/// Add a participant (how a private incident is shared).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/participants", params(("id" = i64, Path)),
    request_body = UserRequest,
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 200, body = IncidentBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add_participant(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<UserRequest>,
) -> Result<Json<IncidentBody>, ApiError> {
    Ok(Json(
        app.add_participant(&actor, id, &body.value.user)
            .await?
            .into(),
    ))
}

/// A page of the incident's timeline, oldest entry first: by default the latest 100. When more
/// lie beyond the page, a `Link` header names the next page in the direction read
/// (`rel="prev"` for earlier entries, `rel="next"` for later ones).
#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", params(("id" = i64, Path), TimelineQuery),
    responses((status = 200, body = Vec<TimelineEntryBody>,
               headers(("Link" = String, description = "The next page in the direction read, when there is one"))),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn timeline(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let window = query.window()?;
    let page = app.timeline(&actor, id, window).await?;
    let link = next_timeline_page(id, window, &page);
    let body: Vec<TimelineEntryBody> = page.entries.into_iter().map(Into::into).collect();
    let mut response = Json(body).into_response();
    if let Some(link) = link.and_then(|l| header::HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// The `Link` to the page beyond `page`, read in the same direction, if there is more.
fn next_timeline_page(id: i64, window: TimelineWindow, page: &TimelinePage) -> Option<String> {
    if !page.more {
        return None;
    }
    let path = format!("/api/v1/incidents/{id}/timeline");
    match window {
        TimelineWindow::Latest { limit }
        | TimelineWindow::Before { limit, .. }
        | TimelineWindow::Since { limit, .. } => {
            let first = page.entries.first()?.id;
            Some(format!(
                "<{path}?before={first}&limit={limit}>; rel=\"prev\""
            ))
        }
        TimelineWindow::After { limit, .. } => {
            let last = page.entries.last()?.id;
            Some(format!("<{path}?after={last}&limit={limit}>; rel=\"next\""))
        }
    }
}

/// Post a note to the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/timeline", params(("id" = i64, Path)), request_body = NoteRequest,
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 201, body = TimelineEntryBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_note(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<NoteRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let note = app.add_note(&actor, id, &body.value.text).await?;
    Ok((StatusCode::CREATED, Json(TimelineEntryBody::from(note))))
}

/// Server-sent events: a `changed` event each time the incident changes.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/events", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 404, body = ErrorBody)))]
async fn incident_events(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(live::stream(app, actor, Some(id)).await?)
}
