//! Action items: those of an incident's review, and the overview across incidents.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::app::{ActionItemEdit, ActionItemFields, ActionItemQuery};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath, ApiQuery};
use crate::store::ActionItemRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/incidents/{id}/review/action-items",
            get(list_of_incident).post(add),
        )
        .route("/action-items", get(list))
        .route("/action-items/{item}", get(show).patch(edit))
}

#[derive(OpenApi)]
#[openapi(paths(list_of_incident, add, list, show, edit))]
pub struct ActionItemsDoc;

/// An action item, and whether it is overdue now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionItemBody {
    #[serde(flatten)]
    pub item: ActionItemRecord,
    /// Still to do and past its due time.
    pub overdue: bool,
}

impl ActionItemBody {
    pub fn new(item: ActionItemRecord, now: Timestamp) -> Self {
        Self {
            overdue: item.overdue(now),
            item,
        }
    }
}

fn bodies(items: Vec<ActionItemRecord>, now: Timestamp) -> Vec<ActionItemBody> {
    items
        .into_iter()
        .map(|i| ActionItemBody::new(i, now))
        .collect()
}

/// The incident's action items, in the order they were made.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/review/action-items", tag = "review",
    params(("id" = i64, Path)),
    responses((status = 200, body = [ActionItemBody]), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_of_incident(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ActionItemBody>>, ApiError> {
    let items = app.incident_action_items(&actor, id).await?;
    Ok(Json(bodies(items, app.now())))
}

/// Decide on an action item: an owner (who joins the incident and is reminded a day before
/// it is due, when it falls due and daily while overdue), a due time, a priority, the review
/// section it answers to. The team defaults to the one owning the incident's first service.
/// A configured tracker is sent it. Responders and admins.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/review/action-items", tag = "review",
    params(("id" = i64, Path)), request_body = ActionItemFields,
    responses((status = 201, body = ActionItemBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot change incidents"),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<ActionItemFields>,
) -> Result<impl IntoResponse, ApiError> {
    let item = app.add_action_item(&actor, id, &body.value).await?;
    Ok((
        StatusCode::CREATED,
        Json(ActionItemBody::new(item, app.now())),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `open` (the default: open and in progress), a state, or empty for every state.
    #[param(value_type = Option<crate::app::schema::ActionStateFilter>, inline)]
    pub state: Option<String>,
    /// Only this owner's (a username).
    pub owner: Option<String>,
    /// Only this team's.
    pub team: Option<String>,
}

/// Action items across incidents, by due time (none last), of the incidents the caller may
/// see: by default those still to do.
#[utoipa::path(get, path = "/api/v1/action-items", tag = "review", params(ListQuery),
    responses((status = 200, body = [ActionItemBody]), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn list(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<ActionItemBody>>, ApiError> {
    let query = ActionItemQuery {
        state: Some(query.state.unwrap_or_else(|| "open".into())),
        owner: query.owner,
        team: query.team,
    };
    let items = app.action_items(&actor, &query).await?;
    Ok(Json(bodies(items, app.now())))
}

/// One action item.
#[utoipa::path(get, path = "/api/v1/action-items/{item}", tag = "review", params(("item" = i64, Path)),
    responses((status = 200, body = ActionItemBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(item): ApiPath<i64>,
) -> Result<Json<ActionItemBody>, ApiError> {
    let item = app.action_item(&actor, item).await?;
    Ok(Json(ActionItemBody::new(item, app.now())))
}

/// Change an action item: its fields, or its state (`done`; `wont_do` with the `reason`; a
/// finished one may be opened again). A change of owner, due time or state moves its
/// reminders. A configured tracker is sent it. Responders and admins.
#[utoipa::path(patch, path = "/api/v1/action-items/{item}", tag = "review", params(("item" = i64, Path)),
    request_body = ActionItemEdit,
    responses((status = 200, body = ActionItemBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot change incidents"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the item is in that state already"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn edit(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(item): ApiPath<i64>,
    body: ApiJson<ActionItemEdit>,
) -> Result<Json<ActionItemBody>, ApiError> {
    let item = app.edit_action_item(&actor, item, &body.value).await?;
    Ok(Json(ActionItemBody::new(item, app.now())))
}
