//! Scheduled maintenance: planned, replanned, cancelled or completed early here; shown on the
//! public status page and moved on at its set times by the engine.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::app::{MaintenanceEdit, MaintenanceFields};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath};
use crate::store::MaintenanceRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/maintenances",
            get(list_maintenances).post(schedule_maintenance),
        )
        .route(
            "/maintenances/{id}",
            get(get_maintenance).patch(change_maintenance),
        )
}

#[derive(OpenApi)]
#[openapi(paths(
    list_maintenances,
    schedule_maintenance,
    get_maintenance,
    change_maintenance
))]
pub struct MaintenanceDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceBody {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// `scheduled`, `in_progress`, `completed` or `cancelled`.
    #[schema(example = "scheduled")]
    pub status: String,
    pub scheduled_for: String,
    pub scheduled_until: String,
    /// When it started and ended: by its schedule, or by hand when completed early or
    /// cancelled.
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// Its status page components, by name.
    pub components: Vec<String>,
    /// The services whose alerts page nobody during its window.
    pub silenced_services: Vec<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<MaintenanceRecord> for MaintenanceBody {
    fn from(m: MaintenanceRecord) -> Self {
        Self {
            id: m.id,
            title: m.title,
            description: m.description,
            status: m.status.to_string(),
            scheduled_for: m.scheduled_for.to_string(),
            scheduled_until: m.scheduled_until.to_string(),
            started_at: m.started_at.map(|t| t.to_string()),
            ended_at: m.ended_at.map(|t| t.to_string()),
            components: m.components.into_iter().map(|(_, name)| name).collect(),
            silenced_services: m.services,
            created_by: m.created_by,
            created_at: m.created_at.to_string(),
            updated_at: m.updated_at.to_string(),
        }
    }
}

/// Maintenances not over, and those that ended in the last 90 days, latest window first.
#[utoipa::path(get, path = "/api/v1/maintenances",
    responses((status = 200, body = [MaintenanceBody]), (status = 401, body = ErrorBody)))]
async fn list_maintenances(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<MaintenanceBody>>, ApiError> {
    let list = state.maintenances(&actor).await?;
    Ok(Json(list.into_iter().map(MaintenanceBody::from).collect()))
}

/// Announce a maintenance on the status page; over its window its components show under
/// maintenance and the alerts of their services page nobody (viewers cannot).
#[utoipa::path(post, path = "/api/v1/maintenances", request_body = MaintenanceFields,
    responses((status = 201, body = MaintenanceBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn schedule_maintenance(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<MaintenanceFields>,
) -> Result<impl IntoResponse, ApiError> {
    let scheduled = state.schedule_maintenance(&actor, &body.value).await?;
    Ok((StatusCode::CREATED, Json(MaintenanceBody::from(scheduled))))
}

#[utoipa::path(get, path = "/api/v1/maintenances/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = MaintenanceBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn get_maintenance(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MaintenanceBody>, ApiError> {
    Ok(Json(state.maintenance(&actor, id).await?.into()))
}

/// Replan a maintenance that is not over (fields left out stay; once it started, its start
/// stays), or, with `status` alone, cancel it before it starts or complete it early. 409
/// when it is over or cannot move that way.
#[utoipa::path(patch, path = "/api/v1/maintenances/{id}", params(("id" = i64, Path)),
    request_body = MaintenanceEdit,
    responses((status = 200, body = MaintenanceBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_maintenance(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<MaintenanceEdit>,
) -> Result<Json<MaintenanceBody>, ApiError> {
    Ok(Json(
        state
            .change_maintenance(&actor, id, &body.value)
            .await?
            .into(),
    ))
}
