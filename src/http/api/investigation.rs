//! An incident's investigation: evidence and the files attached to it, hypotheses with the
//! evidence for and against each, and the tests run on them.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::app::schema::Binary;
use crate::app::{
    EvidenceEdit, EvidenceFields, HypothesisEdit, HypothesisFields, RecentChange, TestFields,
};
use crate::domain::attachment::{AttachmentType, MAX_ATTACHMENT_BYTES};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath, ApiQuery, too_large};
use crate::http::{AppState, percent_encode};
use crate::store::{AttachmentRecord, EvidenceRecord, HypothesisRecord, TestRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/incidents/{id}/evidence",
            post(add_evidence).get(list_evidence),
        )
        .route(
            "/incidents/{id}/evidence/{eid}",
            patch(edit_evidence).delete(remove_evidence),
        )
        .route(
            "/incidents/{id}/evidence/{eid}/attachments",
            post(attach).layer(DefaultBodyLimit::max(MAX_ATTACHMENT_BYTES)),
        )
        .route(
            "/incidents/{id}/evidence/{eid}/attachments/{aid}",
            get(attachment).delete(remove_attachment),
        )
        .route(
            "/incidents/{id}/hypotheses",
            post(add_hypothesis).get(list_hypotheses),
        )
        .route("/incidents/{id}/hypotheses/{hid}", patch(edit_hypothesis))
        .route(
            "/incidents/{id}/hypotheses/{hid}/tests",
            post(test_hypothesis),
        )
        .route("/incidents/{id}/recent-changes", get(recent_changes))
}

#[derive(OpenApi)]
#[openapi(paths(
    add_evidence,
    list_evidence,
    edit_evidence,
    remove_evidence,
    attach,
    attachment,
    remove_attachment,
    add_hypothesis,
    list_hypotheses,
    edit_hypothesis,
    test_hypothesis,
    recent_changes
))]
pub struct InvestigationDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceBody {
    pub id: i64,
    pub incident_id: i64,
    pub kind: String,
    pub summary: String,
    pub excerpt: Option<String>,
    pub source_url: Option<String>,
    pub observed_at: Option<String>,
    pub alert_id: Option<i64>,
    pub change_id: Option<i64>,
    pub pinned: bool,
    pub author: Option<String>,
    /// Its files, oldest first; each `url` answers the content.
    pub attachments: Vec<AttachmentBody>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentBody {
    pub id: i64,
    pub evidence_id: i64,
    #[schema(example = "edge-01.log")]
    pub name: String,
    #[schema(example = "text/plain")]
    pub content_type: String,
    /// In bytes.
    pub size: i64,
    pub author: Option<String>,
    pub created_at: String,
    /// Where its content is read (with the same token).
    #[schema(example = "/api/v1/incidents/42/evidence/3/attachments/1")]
    pub url: String,
}

impl From<AttachmentRecord> for AttachmentBody {
    fn from(a: AttachmentRecord) -> Self {
        Self {
            url: format!(
                "/api/v1/incidents/{}/evidence/{}/attachments/{}",
                a.incident_id, a.evidence_id, a.id
            ),
            id: a.id,
            evidence_id: a.evidence_id,
            name: a.name,
            content_type: a.content_type.to_string(),
            size: a.size,
            author: a.author,
            created_at: a.created_at.to_string(),
        }
    }
}

impl From<EvidenceRecord> for EvidenceBody {
    fn from(e: EvidenceRecord) -> Self {
        Self {
            id: e.id,
            incident_id: e.incident_id,
            kind: e.kind.to_string(),
            summary: e.summary,
            excerpt: e.excerpt,
            source_url: e.source_url,
            observed_at: e.observed_at.map(|t| t.to_string()),
            alert_id: e.alert_id,
            change_id: e.change_id,
            pinned: e.pinned,
            author: e.author,
            attachments: e.attachments.into_iter().map(Into::into).collect(),
            created_at: e.created_at.to_string(),
            updated_at: e.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestBody {
    pub id: i64,
    pub description: String,
    pub result: String,
    pub author: Option<String>,
    pub at: String,
}

impl From<TestRecord> for TestBody {
    fn from(t: TestRecord) -> Self {
        Self {
            id: t.id,
            description: t.description,
            result: t.result,
            author: t.author,
            at: t.at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HypothesisBody {
    pub id: i64,
    pub incident_id: i64,
    pub statement: String,
    pub state: String,
    /// Whether it is a finding (supported).
    pub finding: bool,
    pub owner: Option<String>,
    pub author: Option<String>,
    pub evidence_for: Vec<i64>,
    pub evidence_against: Vec<i64>,
    pub tests: Vec<TestBody>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<HypothesisRecord> for HypothesisBody {
    fn from(h: HypothesisRecord) -> Self {
        Self {
            id: h.id,
            incident_id: h.incident_id,
            statement: h.statement,
            state: h.state.to_string(),
            finding: h.state.is_finding(),
            owner: h.owner,
            author: h.author,
            evidence_for: h.evidence_for,
            evidence_against: h.evidence_against,
            tests: h.tests.into_iter().map(Into::into).collect(),
            created_at: h.created_at.to_string(),
            updated_at: h.updated_at.to_string(),
        }
    }
}

/// Add a piece of evidence (or link an alert or change event as one).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/evidence", params(("id" = i64, Path)), request_body = EvidenceFields,
    responses((status = 201, body = EvidenceBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn add_evidence(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<EvidenceFields>,
) -> Result<impl IntoResponse, ApiError> {
    let e = app.add_evidence(&actor, id, body.value).await?;
    Ok((StatusCode::CREATED, Json(EvidenceBody::from(e))))
}

/// The incident's evidence, pinned pieces first, then newest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/evidence", params(("id" = i64, Path)),
    responses((status = 200, body = [EvidenceBody]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_evidence(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<EvidenceBody>>, ApiError> {
    let evidence = app.evidence(&actor, id).await?;
    Ok(Json(evidence.into_iter().map(Into::into).collect()))
}

/// Edit or pin a piece of evidence.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}/evidence/{eid}", params(("id" = i64, Path), ("eid" = i64, Path)),
    request_body = EvidenceEdit,
    responses((status = 200, body = EvidenceBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn edit_evidence(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, eid)): ApiPath<(i64, i64)>,
    body: ApiJson<EvidenceEdit>,
) -> Result<Json<EvidenceBody>, ApiError> {
    Ok(Json(
        app.edit_evidence(&actor, id, eid, body.value).await?.into(),
    ))
}

/// Remove a piece of evidence (and its place for or against any hypothesis); the timeline
/// keeps that it was there.
#[utoipa::path(delete, path = "/api/v1/incidents/{id}/evidence/{eid}", params(("id" = i64, Path), ("eid" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_evidence(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, eid)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    app.remove_evidence(&actor, id, eid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttachQuery {
    /// The file's name, shown with it (up to 200 characters, no folders).
    #[param(example = "edge-01.log")]
    pub name: String,
}

/// Attach a file to a piece of evidence: the body is the file itself, up to 2 MiB, sent as
/// `image/png`, `image/jpeg`, `image/gif`, `image/webp`, `text/plain`, `text/csv` or
/// `application/json` (text must be UTF-8). A piece of evidence holds at most 10 files.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/evidence/{eid}/attachments",
    params(("id" = i64, Path), ("eid" = i64, Path), AttachQuery),
    request_body(description = "the file's bytes", content(
        (Binary = "image/png"), (Binary = "image/jpeg"), (Binary = "image/gif"), (Binary = "image/webp"),
        (String = "text/plain"), (String = "text/csv"), (String = "application/json"))),
    responses((status = 201, body = AttachmentBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the evidence holds 10 files already"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "a bad name, or content not of the type it is sent as")))]
async fn attach(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, eid)): ApiPath<(i64, i64)>,
    ApiQuery(query): ApiQuery<AttachQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(AttachmentType::from_media_type)
        .ok_or_else(|| {
            let types: Vec<&str> = AttachmentType::ALL.iter().map(|t| t.as_str()).collect();
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "send the file with its Content-Type, one of {}",
                    types.join(", ")
                ),
            )
        })?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(MAX_ATTACHMENT_BYTES),
        status => ApiError::new(status, "invalid_body", e.body_text()),
    })?;
    let a = app
        .attach(&actor, id, eid, &query.name, content_type, Vec::from(body))
        .await?;
    Ok((StatusCode::CREATED, Json(AttachmentBody::from(a))))
}

/// An attachment's content, with the type it was sent as.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/evidence/{eid}/attachments/{aid}",
    params(("id" = i64, Path), ("eid" = i64, Path), ("aid" = i64, Path)),
    responses((status = 200, description = "the file", content(
                  (Binary = "image/png"), (Binary = "image/jpeg"), (Binary = "image/gif"), (Binary = "image/webp"),
                  (String = "text/plain"), (String = "text/csv"), (String = "application/json"))),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn attachment(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, eid, aid)): ApiPath<(i64, i64, i64)>,
) -> Result<Response, ApiError> {
    let (a, content) = app.attachment(&actor, id, eid, aid).await?;
    Ok(serve_attachment(&a, content))
}

/// An attachment's content as a response. Whatever a file holds, the browser only shows it:
/// it may not guess another type (`nosniff`), and the sandbox runs nothing in it. Text is
/// always read as UTF-8 (it was checked to be), and the name, whatever its characters, is
/// carried percent-encoded (RFC 6266's `filename*`).
pub(crate) fn serve_attachment(a: &AttachmentRecord, content: Vec<u8>) -> Response {
    let content_type = if a.content_type.is_image() {
        a.content_type.as_str().to_string()
    } else {
        format!("{}; charset=utf-8", a.content_type)
    };
    let disposition = format!("inline; filename*=UTF-8''{}", percent_encode(&a.name));
    let mut response = content.into_response();
    let headers = response.headers_mut();
    // Both are ASCII by construction.
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, disposition),
    ] {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; img-src 'self'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// Remove a file from a piece of evidence; the timeline keeps that it was there.
#[utoipa::path(delete, path = "/api/v1/incidents/{id}/evidence/{eid}/attachments/{aid}",
    params(("id" = i64, Path), ("eid" = i64, Path), ("aid" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_attachment(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, eid, aid)): ApiPath<(i64, i64, i64)>,
) -> Result<StatusCode, ApiError> {
    app.remove_attachment(&actor, id, eid, aid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Propose a hypothesis.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/hypotheses", params(("id" = i64, Path)), request_body = HypothesisFields,
    responses((status = 201, body = HypothesisBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_hypothesis(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<HypothesisFields>,
) -> Result<impl IntoResponse, ApiError> {
    let h = app.add_hypothesis(&actor, id, body.value).await?;
    Ok((StatusCode::CREATED, Json(HypothesisBody::from(h))))
}

/// The incident's hypotheses, oldest first, with their evidence and tests.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/hypotheses", params(("id" = i64, Path)),
    responses((status = 200, body = [HypothesisBody]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_hypotheses(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<HypothesisBody>>, ApiError> {
    let hypotheses = app.hypotheses(&actor, id).await?;
    Ok(Json(hypotheses.into_iter().map(Into::into).collect()))
}

/// Change a hypothesis: its state (`{"state": "supported"}`), statement, owner or evidence.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}/hypotheses/{hid}", params(("id" = i64, Path), ("hid" = i64, Path)),
    request_body = HypothesisEdit,
    responses((status = 200, body = HypothesisBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn edit_hypothesis(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, hid)): ApiPath<(i64, i64)>,
    body: ApiJson<HypothesisEdit>,
) -> Result<Json<HypothesisBody>, ApiError> {
    Ok(Json(
        app.edit_hypothesis(&actor, id, hid, body.value)
            .await?
            .into(),
    ))
}

/// Record a test run on a hypothesis; an open hypothesis is then `testing`.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/hypotheses/{hid}/tests", params(("id" = i64, Path), ("hid" = i64, Path)),
    request_body = TestFields,
    responses((status = 201, body = HypothesisBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn test_hypothesis(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, hid)): ApiPath<(i64, i64)>,
    body: ApiJson<TestFields>,
) -> Result<impl IntoResponse, ApiError> {
    let h = app.test_hypothesis(&actor, id, hid, body.value).await?;
    Ok((StatusCode::CREATED, Json(HypothesisBody::from(h))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecentChangesQuery {
    /// How far before the incident began: `90m`, `24h` (the default), `7d`; at most `30d`.
    #[param(schema_with = change_window_schema)]
    pub window: Option<String>,
}

fn change_window_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(crate::domain::investigation::CHANGE_WINDOW_PATTERN))
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecentChangeBody {
    /// The change event's id: `{"kind": "change", "change_id": …}` adds it as evidence.
    pub id: i64,
    /// The service it happened on.
    pub service: String,
    /// The services it came through, from the affected service to `service`.
    pub via: Vec<String>,
    pub summary: String,
    pub source: String,
    pub happened_at: String,
}

impl From<RecentChange> for RecentChangeBody {
    fn from(c: RecentChange) -> Self {
        Self {
            id: c.change.id,
            service: c.change.service,
            via: c.via,
            summary: c.change.summary,
            source: c.change.source,
            happened_at: c.change.happened_at.to_string(),
        }
    }
}

/// The change events of the incident's services and of every service they depend on
/// (transitively), from `window` before the incident began until now, newest first (at most 200).
#[utoipa::path(get, path = "/api/v1/incidents/{id}/recent-changes", params(("id" = i64, Path), RecentChangesQuery),
    responses((status = 200, body = [RecentChangeBody]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn recent_changes(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<RecentChangesQuery>,
) -> Result<Json<Vec<RecentChangeBody>>, ApiError> {
    let changes = app
        .recent_changes(&actor, id, query.window.as_deref())
        .await?;
    Ok(Json(changes.into_iter().map(Into::into).collect()))
}
