//! Coordinating the response: the changes made to production during it.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{patch, post};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::app::{ChangeEdit, ChangeFields};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath};
use crate::store::ResponseChangeRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/incidents/{id}/changes",
            post(record_change).get(list_changes),
        )
        .route("/incidents/{id}/changes/{cid}", patch(edit_change))
}

#[derive(OpenApi)]
#[openapi(paths(record_change, list_changes, edit_change))]
pub struct CoordinationDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeBody {
    pub id: i64,
    pub incident_id: i64,
    pub system: String,
    pub description: String,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub hypothesis_id: Option<i64>,
    pub rollback: Option<String>,
    /// `applied` or `rolled_back`.
    pub state: String,
    pub author: Option<String>,
    pub created_at: String,
    pub rolled_back_at: Option<String>,
}

impl From<ResponseChangeRecord> for ChangeBody {
    fn from(c: ResponseChangeRecord) -> Self {
        Self {
            id: c.id,
            incident_id: c.incident_id,
            system: c.system,
            description: c.description,
            reference: c.reference,
            reason: c.reason,
            hypothesis_id: c.hypothesis_id,
            rollback: c.rollback,
            state: c.state.to_string(),
            author: c.author,
            created_at: c.created_at.to_string(),
            rolled_back_at: c.rolled_back_at.map(|t| t.to_string()),
        }
    }
}

/// Record a change made to production. While no hypothesis is supported it needs a `reason`
/// (422 naming `reason` without one), which the timeline records as acting without a finding.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/changes", params(("id" = i64, Path)), request_body = ChangeFields,
    responses((status = 201, body = ChangeBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_change(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<ChangeFields>,
) -> Result<impl IntoResponse, ApiError> {
    let change = app.record_change(&actor, id, body.value).await?;
    Ok((StatusCode::CREATED, Json(ChangeBody::from(change))))
}

/// The changes made during the incident, newest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/changes", params(("id" = i64, Path)),
    responses((status = 200, body = [ChangeBody]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_changes(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ChangeBody>>, ApiError> {
    let changes = app.response_changes(&actor, id).await?;
    Ok(Json(changes.into_iter().map(Into::into).collect()))
}

/// Mark a change rolled back: `{"state": "rolled_back"}`.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}/changes/{cid}", params(("id" = i64, Path), ("cid" = i64, Path)),
    request_body = ChangeEdit,
    responses((status = 200, body = ChangeBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn edit_change(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, cid)): ApiPath<(i64, i64)>,
    body: ApiJson<ChangeEdit>,
) -> Result<Json<ChangeBody>, ApiError> {
    Ok(Json(
        app.edit_change(&actor, id, cid, body.value).await?.into(),
    ))
}
