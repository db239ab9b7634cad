//! REST API for alert ingestion's configuration and results: integrations (routing keys) per
//! service, per-service alert rules, and the alerts themselves.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::oncall::Created;
use crate::app::IntegrationView;
use crate::app::SilenceInput;
use crate::domain::alert::{AlertRules, AlertStatus, EventAction, SilenceMatch};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath, ApiQuery};
use crate::store::{AlertFilter, AlertRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/services/{name}/integrations",
            get(list_integrations).post(create_integration),
        )
        .route("/services/{name}/alert-rules", put(set_alert_rules))
        .route("/integrations/{id}", delete(revoke_integration))
        .route("/integrations/{id}/rotate", post(rotate_integration))
        .route("/alerts", get(list_alerts))
        .route("/alerts/{id}", get(show_alert))
        .route("/alerts/{id}/acknowledge", post(acknowledge_alert))
        .route("/alerts/{id}/resolve", post(resolve_alert))
        .route("/silences", get(list_silences).post(create_silence))
        .route("/silences/{id}", delete(end_silence))
}

#[derive(OpenApi)]
#[openapi(paths(
    list_integrations,
    create_integration,
    set_alert_rules,
    revoke_integration,
    rotate_integration,
    list_alerts,
    show_alert,
    acknowledge_alert,
    resolve_alert,
    list_silences,
    create_silence,
    end_silence
))]
pub struct AlertsDoc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationRequest {
    /// `events_v2` (PagerDuty Events API v2 and change events), `alertmanager`, `grafana`, or
    /// `forge` (code-forge webhooks recording response changes; it gets a `signing_secret`).
    #[schema(value_type = crate::app::schema::IntegrationKindName)]
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationBody {
    pub id: i64,
    pub service: String,
    #[schema(value_type = crate::app::schema::IntegrationKindName)]
    pub kind: String,
    /// Send it as `routing_key` to `POST /v2/enqueue`. A credential: given to admins only,
    /// left out for everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// A `forge` integration's secret to enter in the forge (GitHub's webhook secret, GitLab's
    /// secret token, or the key of aplomb's signature); admins only. Its webhooks go to
    /// `POST /integrations/forge/{routing_key}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    /// The key's last four characters, to tell integrations apart without the key.
    pub key_hint: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<IntegrationView> for IntegrationBody {
    fn from(i: IntegrationView) -> Self {
        Self {
            id: i.id,
            service: i.service,
            kind: i.kind,
            routing_key: i.routing_key,
            signing_secret: i.signing_secret,
            key_hint: i.key_hint,
            created_at: i.created_at.to_string(),
            revoked_at: i.revoked_at.map(|t| t.to_string()),
        }
    }
}

/// A service's integrations, revoked ones included; routing keys for admins only.
#[utoipa::path(get, path = "/api/v1/services/{name}/integrations", params(("name" = String, Path)),
    responses((status = 200, body = Vec<IntegrationBody>), (status = 404, body = ErrorBody)))]
async fn list_integrations(
    State(app): State<AppState>,
    ApiActor(caller): ApiActor,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<IntegrationBody>>, ApiError> {
    Ok(Json(
        app.integrations(&caller, &name)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Add an integration to a service; the answer holds its routing key (admins only).
#[utoipa::path(post, path = "/api/v1/services/{name}/integrations", params(("name" = String, Path)),
    request_body = IntegrationRequest,
    responses((status = 403, body = ErrorBody, description = "this needs the admin role"), (status = 201, body = IntegrationBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_integration(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(name): ApiPath<String>,
    body: ApiJson<IntegrationRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = app
        .create_integration(&actor, &name, &body.value.kind)
        .await?;
    Ok((StatusCode::CREATED, Json(IntegrationBody::from(created))))
}

/// Revoke an integration: its routing key stops working (admins only).
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", params(("id" = i64, Path)),
    responses((status = 403, body = ErrorBody, description = "this needs the admin role"), (status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revoke_integration(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.revoke_integration(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace an integration's routing key (admins only).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/rotate", params(("id" = i64, Path)),
    responses((status = 403, body = ErrorBody, description = "this needs the admin role"), (status = 201, body = IntegrationBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn rotate_integration(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let created = app.rotate_integration(&actor, id).await?;
    Ok((StatusCode::CREATED, Json(IntegrationBody::from(created))))
}

/// How a service's alerts open, group into and resolve incidents (admins only).
#[utoipa::path(put, path = "/api/v1/services/{name}/alert-rules", params(("name" = String, Path)),
    request_body(content = AlertRules, description = "Every field may be left out and keeps its default; `user_reports` says when a burst of waiting user reports opens an incident (a threshold of 0 never does)"),
    responses((status = 403, body = ErrorBody, description = "this needs the admin role"), (status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_alert_rules(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(name): ApiPath<String>,
    body: ApiJson<AlertRules>,
) -> Result<StatusCode, ApiError> {
    app.set_alert_rules(&actor, &name, body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertBody {
    pub id: i64,
    pub service: String,
    pub dedup_key: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    pub severity: String,
    pub summary: String,
    pub source: String,
    /// How many trigger events were merged into this alert.
    pub count: i64,
    pub first_at: String,
    pub last_at: String,
    pub resolved_at: Option<String>,
    pub incident_id: Option<i64>,
    /// Arrived during a maintenance window or silence: opened no incident, paged nobody.
    pub silenced: bool,
    /// The latest event as sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<AlertRecord> for AlertBody {
    fn from(a: AlertRecord) -> Self {
        Self {
            id: a.id,
            service: a.service,
            dedup_key: a.dedup_key,
            status: a.status.as_str().to_string(),
            severity: a.severity,
            summary: a.summary,
            source: a.source,
            count: a.count,
            first_at: a.first_at.to_string(),
            last_at: a.last_at.to_string(),
            resolved_at: a.resolved_at.map(|t| t.to_string()),
            incident_id: a.incident_id,
            silenced: a.silenced,
            payload: serde_json::from_str(&a.payload).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    pub service: Option<String>,
    /// `triggered`, `acknowledged` or `resolved`; empty means any.
    #[param(value_type = Option<crate::app::schema::AlertStatusFilter>, inline)]
    pub status: Option<String>,
    pub incident: Option<i64>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Alerts, most recent first.
#[utoipa::path(get, path = "/api/v1/alerts", params(AlertQuery),
    responses((status = 200, body = Vec<AlertBody>), (status = 422, body = ErrorBody)))]
async fn list_alerts(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(query): ApiQuery<AlertQuery>,
) -> Result<Json<Vec<AlertBody>>, ApiError> {
    let status = query
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<AlertStatus>)
        .transpose()
        .map_err(crate::app::AppError::from)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let filter = AlertFilter {
        service: query.service,
        status,
        incident: query.incident,
        limit,
    };
    Ok(Json(
        app.alerts(&actor, &filter)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// One alert with its latest raw payload.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = AlertBody), (status = 404, body = ErrorBody)))]
async fn show_alert(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AlertBody>, ApiError> {
    Ok(Json(app.alert(&actor, id).await?.into()))
}

/// Acknowledge an alert by hand.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", params(("id" = i64, Path)),
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 200, body = AlertBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn acknowledge_alert(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AlertBody>, ApiError> {
    Ok(Json(
        app.alert_action(&actor, id, EventAction::Acknowledge)
            .await?
            .into(),
    ))
}

/// Resolve an alert by hand; the last open alert of an incident resolves it (per the rules).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", params(("id" = i64, Path)),
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 200, body = AlertBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn resolve_alert(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AlertBody>, ApiError> {
    Ok(Json(
        app.alert_action(&actor, id, EventAction::Resolve)
            .await?
            .into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceBody {
    pub id: i64,
    /// Absent: every service.
    pub service: Option<String>,
    #[serde(rename = "match")]
    pub matchers: SilenceMatch,
    pub reason: String,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
}

/// Maintenance windows and silences that have not ended.
#[utoipa::path(get, path = "/api/v1/silences", responses((status = 200, body = Vec<SilenceBody>)))]
async fn list_silences(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
) -> Result<Json<Vec<SilenceBody>>, ApiError> {
    let silences = app
        .store
        .silences(app.now())
        .await
        .map_err(crate::app::AppError::from)?;
    Ok(Json(
        silences
            .into_iter()
            .map(|s| SilenceBody {
                id: s.id,
                service: s.service,
                matchers: s.matchers,
                reason: s.reason,
                starts_at: s.starts_at.to_string(),
                ends_at: s.ends_at.to_string(),
                created_by: s.created_by,
            })
            .collect(),
    ))
}

/// Start a maintenance window (no `match`) or a silence: matching alerts are stored but open
/// no incident and page nobody.
#[utoipa::path(post, path = "/api/v1/silences", request_body = SilenceInput,
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 201, body = Created), (status = 422, body = ErrorBody)))]
async fn create_silence(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<SilenceInput>,
) -> Result<impl IntoResponse, ApiError> {
    let id = app.create_silence(&actor, body.value).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// End a maintenance window or silence now.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", params(("id" = i64, Path)),
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 204), (status = 404, body = ErrorBody)))]
async fn end_silence(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.end_silence(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
