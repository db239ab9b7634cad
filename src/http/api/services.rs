//! The service catalog.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson};
use crate::store::ServiceRecord;

pub fn router() -> Router<AppState> {
    Router::new().route("/services", get(list_services).post(create_service))
}

#[derive(OpenApi)]
#[openapi(paths(list_services, create_service))]
pub struct ServicesDoc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceRequest {
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = crate::app::schema::Description)]
    pub description: String,
    #[serde(default)]
    #[schema(value_type = crate::app::schema::BlankName)]
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
