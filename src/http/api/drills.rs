//! Drills: start one from a scenario, list them, read one with its script and score.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::app::{DrillFields, DrillView};
use crate::domain::drills::{DrillEventKind, DrillPaging, DrillScore};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/drills", get(list).post(start))
        .route("/drills/{id}", get(show))
}

#[derive(OpenApi)]
#[openapi(paths(list, start, show))]
pub struct DrillsDoc;

/// A drill: its incident (the id is the incident's), its script and its score so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrillBody {
    pub incident_id: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub paging: DrillPaging,
    pub started_by: Option<String>,
    pub started_at: String,
    /// The scenario as it was given (TOML).
    pub scenario: String,
    /// The scenario's targets: each duration (a review's name) within so many seconds.
    pub targets: Vec<TargetBody>,
    /// The script in the order it plays; `played_at` once played.
    pub events: Vec<DrillEventBody>,
    pub score: ScoreBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetBody {
    pub duration: String,
    pub seconds: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DrillEventBody {
    pub id: i64,
    pub kind: DrillEventKind,
    pub text: String,
    pub due_at: String,
    pub played_at: Option<String>,
}

/// How the response measured up: every step of the playbook's checklist checked, every role
/// it names filled, every target met; final once the drill's incident is resolved.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreBody {
    pub met: usize,
    pub total: usize,
    pub criteria: Vec<CriterionBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CriterionBody {
    pub name: String,
    pub met: bool,
    pub detail: String,
}

impl From<&DrillScore> for ScoreBody {
    fn from(s: &DrillScore) -> Self {
        Self {
            met: s.met,
            total: s.total,
            criteria: s
                .criteria
                .iter()
                .map(|c| CriterionBody {
                    name: c.name.clone(),
                    met: c.met,
                    detail: c.detail.clone(),
                })
                .collect(),
        }
    }
}

impl From<&DrillView> for DrillBody {
    fn from(v: &DrillView) -> Self {
        let d = &v.drill;
        Self {
            incident_id: v.incident.id,
            title: v.incident.title.clone(),
            severity: v.incident.severity.to_string(),
            status: v.incident.status.to_string(),
            paging: d.paging,
            started_by: d.started_by.clone(),
            started_at: d.started_at.to_string(),
            scenario: d.scenario.clone(),
            targets: d
                .targets
                .iter()
                .map(|(duration, seconds)| TargetBody {
                    duration: duration.clone(),
                    seconds: *seconds,
                })
                .collect(),
            events: d
                .events
                .iter()
                .map(|e| DrillEventBody {
                    id: e.id,
                    kind: e.kind,
                    text: e.text.clone(),
                    due_at: e.due_at.to_string(),
                    played_at: e.played_at.map(|t| t.to_string()),
                })
                .collect(),
            score: (&v.score).into(),
        }
    }
}

/// The newest drills the caller may see (at most 100), newest first.
#[utoipa::path(get, path = "/api/v1/drills", tag = "review",
    responses((status = 200, body = [DrillBody]), (status = 401, body = ErrorBody)))]
async fn list(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<DrillBody>>, ApiError> {
    let drills = app.drills(&actor).await?;
    Ok(Json(drills.iter().map(Into::into).collect()))
}

/// Start a drill: declares a practice incident (`drill: true`) from the scenario, pages the
/// people it names (or, with `paging = "everyone"`, whoever a real incident of its service
/// would page, "DRILL" first in every message), applies the type's playbook and plays the
/// script from now. A drill never reaches the status page or its subscribers, its updates go
/// to no one, and the metrics leave it out. Every problem in the scenario is a 422 on
/// `scenario` saying where. Responders and admins.
#[utoipa::path(post, path = "/api/v1/drills", tag = "review", request_body = DrillFields,
    responses((status = 201, body = DrillBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot start drills"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn start(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<DrillFields>,
) -> Result<impl IntoResponse, ApiError> {
    let drill = app.start_drill(&actor, &body.value).await?;
    Ok((StatusCode::CREATED, Json(DrillBody::from(&drill))))
}

/// A drill (by its incident's id) with its script and its score so far.
#[utoipa::path(get, path = "/api/v1/drills/{id}", tag = "review", params(("id" = i64, Path)),
    responses((status = 200, body = DrillBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "no such drill, or the caller may not see it")))]
async fn show(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DrillBody>, ApiError> {
    Ok(Json((&app.drill(&actor, id).await?).into()))
}
