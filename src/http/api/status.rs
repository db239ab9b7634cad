//! The status page's administration: its components (what the public page lists, in groups,
//! each backed by services), its subscribers and its branding. Readers' surfaces are in `http::public`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::app::{BrandFields, ComponentEdit, ComponentFields, SubscriberFields};
use crate::config::StatusPageBrand;
use crate::domain::status::{ComponentStatus, SubscriberKind};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath};
use crate::store::{ComponentRecord, SubscriberRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/status/components",
            get(list_components).post(add_component),
        )
        .route("/status/components/{id}", patch(edit_component))
        .route(
            "/status/subscribers",
            get(list_subscribers).post(add_subscriber),
        )
        .route("/status/subscribers/{id}", delete(remove_subscriber))
        .route("/status/branding", get(branding).put(set_branding))
}

#[derive(OpenApi)]
#[openapi(paths(
    list_components,
    add_component,
    edit_component,
    list_subscribers,
    add_subscriber,
    remove_subscriber,
    branding,
    set_branding
))]
pub struct StatusDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentBody {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    /// Its place on the page.
    pub position: i64,
    /// The services behind it, by name.
    pub services: Vec<String>,
    /// As the public page shows it now: `operational`, `degraded_performance`,
    /// `partial_outage`, `major_outage` or `under_maintenance`.
    #[schema(example = "operational")]
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    /// Its status badge on the public page.
    pub badge_url: String,
}

impl ComponentBody {
    async fn new(state: &AppState, c: ComponentRecord) -> Self {
        let status = state
            .status_cache
            .status_of(c.id)
            .await
            // Not on the page yet (it is being redrawn): no update names it yet.
            .unwrap_or(ComponentStatus::Operational)
            .to_string();
        Self {
            badge_url: format!("/status/components/{}/badge.svg", c.id),
            status,
            id: c.id,
            name: c.name,
            description: c.description,
            group: c.group,
            position: c.position,
            services: c.services,
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

/// How the public status page presents itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandingBody {
    pub name: String,
    pub logo_url: Option<String>,
    /// The header's colour, `#rrggbb`.
    #[schema(example = "#1f4e79")]
    pub accent: String,
    /// Where readers find the page.
    pub url: String,
}

impl From<StatusPageBrand> for BrandingBody {
    fn from(b: StatusPageBrand) -> Self {
        Self {
            name: b.name,
            logo_url: b.logo_url,
            accent: b.accent,
            url: b.url,
        }
    }
}

/// The status page's branding: as an admin set it, else the config file's `[status_page]`.
#[utoipa::path(get, path = "/api/v1/status/branding",
    responses((status = 200, body = BrandingBody), (status = 401, body = ErrorBody)))]
async fn branding(
    State(state): State<AppState>,
    ApiActor(_actor): ApiActor,
) -> Result<Json<BrandingBody>, ApiError> {
    Ok(Json(state.status_brand().await?.into()))
}

/// Set the status page's name, logo and colour (admins only); the page shows them within a
/// second.
#[utoipa::path(put, path = "/api/v1/status/branding", request_body = BrandFields,
    responses((status = 200, body = BrandingBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn set_branding(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<BrandFields>,
) -> Result<Json<BrandingBody>, ApiError> {
    Ok(Json(
        state.set_status_brand(&actor, &body.value).await?.into(),
    ))
}

/// The status page's components, in page order.
#[utoipa::path(get, path = "/api/v1/status/components",
    responses((status = 200, body = [ComponentBody]), (status = 401, body = ErrorBody)))]
async fn list_components(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<ComponentBody>>, ApiError> {
    let mut out = Vec::new();
    for c in state.components(&actor).await? {
        out.push(ComponentBody::new(&state, c).await);
    }
    Ok(Json(out))
}

/// Add a component at the end of the page (admins only).
#[utoipa::path(post, path = "/api/v1/status/components", request_body = ComponentFields,
    responses((status = 201, body = ComponentBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_component(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<ComponentFields>,
) -> Result<impl IntoResponse, ApiError> {
    let added = state.add_component(&actor, &body.value).await?;
    Ok((
        StatusCode::CREATED,
        Json(ComponentBody::new(&state, added).await),
    ))
}

/// Change a component's name, description, group or services (admins only); fields left
/// out stay.
#[utoipa::path(patch, path = "/api/v1/status/components/{id}", params(("id" = i64, Path)),
    request_body = ComponentEdit,
    responses((status = 200, body = ComponentBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_component(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<ComponentEdit>,
) -> Result<Json<ComponentBody>, ApiError> {
    let edited = state.edit_component(&actor, id, &body.value).await?;
    Ok(Json(ComponentBody::new(&state, edited).await))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberBody {
    pub id: i64,
    /// `email` or `webhook`.
    pub kind: String,
    pub address: String,
    /// The components it hears of, by name; every one when empty.
    pub components: Vec<String>,
    /// An email subscriber hears nothing but its confirmation until it confirms.
    pub confirmed: bool,
    pub created_at: String,
    /// A webhook's signing secret, answered only when it is added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl SubscriberBody {
    fn new(s: SubscriberRecord, with_secret: bool) -> Self {
        Self {
            signing_secret: (with_secret && s.kind == SubscriberKind::Webhook)
                .then(|| s.secret.clone()),
            id: s.id,
            kind: s.kind.to_string(),
            address: s.address,
            components: s.components.into_iter().map(|(_, name)| name).collect(),
            confirmed: s.confirmed_at.is_some(),
            created_at: s.created_at.to_string(),
        }
    }
}

/// The status page's subscribers (admins only).
#[utoipa::path(get, path = "/api/v1/status/subscribers",
    responses((status = 200, body = [SubscriberBody]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_subscribers(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<SubscriberBody>>, ApiError> {
    let list = state.status_subscribers(&actor).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SubscriberBody::new(s, false))
            .collect(),
    ))
}

/// Add a subscriber (admins only): a webhook hears every public update and maintenance of
/// its components from now on, signed with the secret answered here; an email address is
/// sent a confirmation first. Readers sign up themselves with the form on `/status`.
#[utoipa::path(post, path = "/api/v1/status/subscribers", request_body = SubscriberFields,
    responses((status = 201, body = SubscriberBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_subscriber(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<SubscriberFields>,
) -> Result<impl IntoResponse, ApiError> {
    let added = state.add_status_subscriber(&actor, &body.value).await?;
    Ok((StatusCode::CREATED, Json(SubscriberBody::new(added, true))))
}

/// Unsubscribe a subscriber (admins only); what it was not sent yet is dropped.
#[utoipa::path(delete, path = "/api/v1/status/subscribers/{id}", params(("id" = i64, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_subscriber(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.remove_status_subscriber(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
