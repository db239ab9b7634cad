//! The REST API under `/api/v1`. Handlers extract, call `Aplomb`, and shape the answer; the
//! OpenAPI document is generated from the annotations here.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiActor, ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyHeader};
use super::live;
use crate::app::{DeclareInput, IncidentView, NewUser, PatchInput, SeenVersion};
use crate::store::{
    IncidentFilter, IncidentSummary, ServiceRecord, TimelineEntry, TimelinePage, TimelineWindow,
    TokenRecord, UserRecord,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents", post(declare).get(list_incidents))
        .route("/incidents/{id}", get(show_incident).patch(update_incident))
        .route("/incidents/{id}/roles/{role}", put(assign_role))
        .route("/incidents/{id}/participants", post(add_participant))
        .route("/incidents/{id}/timeline", get(timeline).post(add_note))
        .route("/incidents/{id}/events", get(incident_events))
        .route("/users", get(list_users).post(create_user))
        .route(
            "/users/{username}/tokens",
            get(list_tokens).post(create_token),
        )
        .route("/users/{username}/tokens/{id}", delete(revoke_token))
        .route("/login", post(login))
        .route("/services", get(list_services).post(create_service))
        .route("/whoami", get(whoami))
        .route("/openapi.json", get(openapi_json))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "aplomb", description = "Incident response: declare, coordinate, communicate, review."),
    paths(
        declare, list_incidents, show_incident, update_incident, assign_role, add_participant,
        timeline, add_note, incident_events, list_users, create_user, create_token, list_tokens, revoke_token, login, list_services,
        create_service, whoami
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi_json() -> impl IntoResponse {
    Json(document())
}

/// The whole OpenAPI document: every API module's paths, and what any operation may answer.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::api_oncall::OncallDoc::openapi());
    doc.merge(super::api_alerts::AlertsDoc::openapi());
    answers_of_every_operation(&mut doc);
    doc
}

/// What any operation may answer besides its own statuses: 500, and 503 while the database
/// is unreachable, both in the error shape. Every POST also takes an `Idempotency-Key`
/// (`http::idempotency`), which may answer 409 (a request with the key is still running) or
/// 422 (the key was used for a different request).
fn answers_of_every_operation(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, Required, ResponseBuilder, Type};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    let idempotency_key = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retried request return the first answer (marked `Idempotent-Replayed: true`) \
             instead of having its effect twice (answers are kept 24 hours); 1 to 255 visible ASCII characters",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    for item in doc.paths.paths.values_mut() {
        if let Some(post) = &mut item.post {
            let parameters = post.parameters.get_or_insert_with(Vec::new);
            if !parameters.iter().any(|p| p.name == "Idempotency-Key") {
                parameters.push(idempotency_key.clone());
            }
            let responses = &mut post.responses.responses;
            responses.entry("409".into()).or_insert_with(|| {
                error("conflict, e.g. a request with this Idempotency-Key is still running").into()
            });
            responses.entry("422".into()).or_insert_with(|| {
                error("invalid input, or the Idempotency-Key was used for a different request")
                    .into()
            });
        }
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut operation.responses.responses;
            responses
                .entry("500".into())
                .or_insert_with(|| error("internal error; the server log has details").into());
            responses
                .entry("503".into())
                .or_insert_with(|| error("the database is unavailable; retry shortly").into());
        }
    }
}

// ----- bodies -----

/// Declare an incident.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    #[schema(example = "Checkout returns 502 for some users")]
    pub title: String,
    pub summary: Option<String>,
    /// `SEV1` (most severe) to `SEV4`.
    #[schema(example = "SEV2")]
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
    pub title: Option<String>,
    pub summary: Option<String>,
    pub severity: Option<String>,
    /// `triage`, `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: Option<String>,
    /// Why the status changes; required to reopen a resolved incident.
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
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
    pub status: Option<String>,
    /// Only incidents of this severity.
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    pub display_name: Option<String>,
    /// For signing in to the web UI; omit for API-only users.
    pub password: Option<String>,
    /// `admin`, `responder` or `viewer`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub created_at: String,
}

impl From<UserRecord> for UserBody {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.to_string(),
            created_at: u.created_at.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, e.g. "laptop CLI".
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    /// For listing and revoking it.
    pub id: i64,
    /// Shown once; aplomb keeps only its hash.
    pub token: String,
}

/// An API token as its holder sees it later: never the secret or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenSummary {
    pub id: i64,
    pub name: String,
    pub created_at: String,
}

impl From<TokenRecord> for TokenSummary {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: t.created_at.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// What the new token is for, e.g. "laptop CLI".
    pub token_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginBody {
    /// The token's id, for revoking it (`aplomb logout`).
    pub id: i64,
    /// Shown once; aplomb keeps only its hash.
    pub token: String,
    pub username: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner_team: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceBody {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub owner_team: String,
}

impl From<ServiceRecord> for ServiceBody {
    fn from(s: ServiceRecord) -> Self {
        Self {
            id: s.id,
            name: s.name,
            description: s.description,
            owner_team: s.owner_team,
        }
    }
}

// ----- handlers -----

/// Declare an incident. With an `Idempotency-Key` header, a retry returns the first result.
#[utoipa::path(post, path = "/api/v1/incidents", request_body = DeclareRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create return the first result")),
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
           ("If-Match" = Option<String>, Header, description = "The ETag the change was made from, e.g. \"3\"; 412 when the incident has changed since")),
    request_body = PatchRequest,
    responses((status = 200, body = IncidentBody, headers(("ETag" = String, description = "The incident's new version, quoted"))),
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
    params(("id" = i64, Path), ("role" = String, Path)), request_body = UserRequest,
    responses((status = 200, body = IncidentBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn assign_role(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, role)): ApiPath<(i64, String)>,
    body: ApiJson<UserRequest>,
) -> Result<Json<IncidentBody>, ApiError> {
    Ok(Json(
        app.assign_role(&actor, id, &role, &body.value.user)
            .await?
            .into(),
    ))
}

/// Add a participant (how a private incident is shared).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/participants", params(("id" = i64, Path)),
    request_body = UserRequest,
    responses((status = 200, body = IncidentBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
    responses((status = 201, body = TimelineEntryBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
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

/// All users (admins only).
#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = Vec<UserBody>), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<UserBody>>, ApiError> {
    Ok(Json(
        app.list_users(&actor)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Create a user (admins only).
#[utoipa::path(post, path = "/api/v1/users", request_body = CreateUserRequest,
    responses((status = 201, body = UserBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_user(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<CreateUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let req = body.value;
    let user = app
        .create_user(
            &actor,
            NewUser {
                username: req.username,
                display_name: req.display_name,
                password: req.password,
                role: req.role,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserBody::from(user))))
}

/// Issue an API token for a user (admins, or the user themself).
#[utoipa::path(post, path = "/api/v1/users/{username}/tokens", params(("username" = String, Path)),
    request_body = TokenRequest,
    responses((status = 201, body = TokenBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_token(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
    body: ApiJson<TokenRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let issued = app
        .create_token(&actor, &username, &body.value.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenBody {
            id: issued.id,
            token: issued.token,
        }),
    ))
}

/// A user's API tokens: id, name and creation time (admins, or the user themself).
#[utoipa::path(get, path = "/api/v1/users/{username}/tokens", params(("username" = String, Path)),
    responses((status = 200, body = Vec<TokenSummary>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_tokens(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<Vec<TokenSummary>>, ApiError> {
    let tokens = app.list_tokens(&actor, &username).await?;
    Ok(Json(tokens.into_iter().map(Into::into).collect()))
}

/// Revoke an API token: it stops working at once (admins, or the user themself).
#[utoipa::path(delete, path = "/api/v1/users/{username}/tokens/{id}",
    params(("username" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((username, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    app.revoke_token(&actor, &username, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign in with a password and get a new API token (for the CLI's `aplomb login`). Failed
/// attempts are limited per account and per address as on the login form: 429 with
/// `Retry-After` beyond.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest, security(()),
    responses((status = 201, body = LoginBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds until a sign-in is accepted again")))))]
async fn login(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let req = body.value;
    let (issued, actor) = app
        .login_for_token(&req.username, &req.password, &req.token_name, client)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(LoginBody {
            id: issued.id,
            token: issued.token,
            username: actor.username,
        }),
    ))
}

/// The service catalog.
#[utoipa::path(get, path = "/api/v1/services", responses((status = 200, body = Vec<ServiceBody>)))]
async fn list_services(
    State(app): State<AppState>,
    ApiActor(_actor): ApiActor,
) -> Result<Json<Vec<ServiceBody>>, ApiError> {
    Ok(Json(
        app.list_services()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Add a service to the catalog (admins only).
#[utoipa::path(post, path = "/api/v1/services", request_body = CreateServiceRequest,
    responses((status = 201, body = ServiceBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_service(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<CreateServiceRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let req = body.value;
    let service = app
        .create_service(&actor, &req.name, &req.description, &req.owner_team)
        .await?;
    Ok((StatusCode::CREATED, Json(ServiceBody::from(service))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    pub username: String,
    pub role: String,
    pub server_time: String,
}

/// The caller, as the token identifies them.
#[utoipa::path(get, path = "/api/v1/whoami", responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
async fn whoami(State(app): State<AppState>, ApiActor(actor): ApiActor) -> Json<WhoAmI> {
    Json(WhoAmI {
        username: actor.username,
        role: actor.role.to_string(),
        server_time: app.now().to_string(),
    })
}

#[cfg(test)]
mod tests {
    /// Every route of the API's modules, method by method, is in the OpenAPI document: read
    /// from their `.route(…)` lines, so a new endpoint cannot be left out of it.
    #[test]
    fn every_api_route_is_in_the_openapi_document() {
        let doc = serde_json::to_value(super::document()).expect("JSON");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut missing = Vec::new();
        let mut routes = 0;
        for file in ["api.rs", "api_oncall.rs", "api_alerts.rs"] {
            let text = std::fs::read_to_string(dir.join(file)).expect("readable");
            // Each `.route(` up to the next one (or the router's end) names a path and its
            // handlers, on one line or several.
            for chunk in text.split(".route(").skip(1) {
                let chunk = chunk.split("\n}").next().unwrap_or(chunk);
                let Some(rest) = chunk.trim_start().strip_prefix('"') else {
                    continue;
                };
                let Some((path, handlers)) = rest.split_once('"') else {
                    continue;
                };
                if path == "/openapi.json" {
                    continue;
                }
                routes += 1;
                let full = format!("/api/v1{path}");
                for method in ["get", "post", "put", "patch", "delete"] {
                    let routed = handlers.contains(&format!(" {method}("))
                        || handlers.contains(&format!("\n{method}("))
                        || handlers.contains(&format!(".{method}("));
                    if routed && doc["paths"][&full][method].is_null() {
                        missing.push(format!("{} {full} ({file})", method.to_uppercase()));
                    }
                }
            }
        }
        assert!(
            routes > 40,
            "only {routes} routes found: is the parsing right?"
        );
        assert!(
            missing.is_empty(),
            "not in the OpenAPI document: {missing:#?}"
        );
    }
}
