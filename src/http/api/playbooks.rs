//! Playbooks and their versions, the diff between two, and an incident's checklist.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::app::{CheckFields, PlaybookChange, PlaybookFields};
use crate::domain::playbooks::DiffLine;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath, ApiQuery};
use crate::store::{ChecklistStep, IncidentPlaybook, PlaybookRecord, PlaybookVersion};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/playbooks", get(list).post(create))
        .route("/playbooks/{id}", get(show).put(change))
        .route("/playbooks/{id}/diff", get(diff))
        .route("/incidents/{id}/checklist", get(checklist))
        .route("/incidents/{id}/checklist/{step}", put(check))
}

#[derive(OpenApi)]
#[openapi(paths(list, create, show, change, diff, checklist, check))]
pub struct PlaybooksDoc;

/// One version of a playbook.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionBody {
    pub version: i64,
    pub steps: Vec<String>,
    pub roles: Vec<&'static str>,
    pub guidance: String,
    /// Why this version was made.
    pub reason: String,
    /// The action item that asked for it.
    pub action_item: Option<i64>,
    pub author: Option<String>,
    pub created_at: String,
}

impl From<&PlaybookVersion> for VersionBody {
    fn from(v: &PlaybookVersion) -> Self {
        Self {
            version: v.version,
            steps: v.content.steps.clone(),
            roles: v.content.roles.iter().map(|r| r.slug()).collect(),
            guidance: v.content.guidance.clone(),
            reason: v.reason.clone(),
            action_item: v.action_item_id,
            author: v.author.clone(),
            created_at: v.created_at.to_string(),
        }
    }
}

/// A playbook at its current version (and, read alone, every version).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybookBody {
    pub id: i64,
    pub incident_type: String,
    /// The service it is for; absent: every incident of the type without one of its own.
    pub service: Option<String>,
    pub current: VersionBody,
    /// Every version, oldest first (only when one playbook is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<VersionBody>>,
}

impl PlaybookBody {
    fn new(p: &PlaybookRecord, versions: Option<&[PlaybookVersion]>) -> Self {
        Self {
            id: p.id,
            incident_type: p.incident_type.clone(),
            service: p.service.clone(),
            current: (&p.current).into(),
            versions: versions.map(|vs| vs.iter().map(Into::into).collect()),
        }
    }
}

/// Every playbook at its current version, by incident type.
#[utoipa::path(get, path = "/api/v1/playbooks", tag = "review",
    responses((status = 200, body = [PlaybookBody]), (status = 401, body = ErrorBody)))]
async fn list(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
) -> Result<Json<Vec<PlaybookBody>>, ApiError> {
    let all = app.playbooks().await?;
    Ok(Json(
        all.iter().map(|p| PlaybookBody::new(p, None)).collect(),
    ))
}

/// A playbook for an incident type (optionally for one service): its checklist, the roles to
/// fill and guidance. Every incident of the type declared from now on runs it. Version 1.
/// Responders and admins.
#[utoipa::path(post, path = "/api/v1/playbooks", tag = "review", request_body = PlaybookFields,
    responses((status = 201, body = PlaybookBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot change playbooks"),
              (status = 409, body = ErrorBody, description = "the type (and service) has a playbook already"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<PlaybookFields>,
) -> Result<impl IntoResponse, ApiError> {
    let p = app.create_playbook(&actor, &body.value).await?;
    Ok((StatusCode::CREATED, Json(PlaybookBody::new(&p, None))))
}

/// A playbook with every version, oldest first.
#[utoipa::path(get, path = "/api/v1/playbooks/{id}", tag = "review", params(("id" = i64, Path)),
    responses((status = 200, body = PlaybookBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PlaybookBody>, ApiError> {
    let (p, versions) = app.playbook(id).await?;
    Ok(Json(PlaybookBody::new(&p, Some(&versions))))
}

/// Change a playbook: its next version, from the version read (409 if it changed since), with
/// the reason and, if one asked for it, the action item. Incidents already declared keep the
/// version they ran. Responders and admins.
#[utoipa::path(put, path = "/api/v1/playbooks/{id}", tag = "review", params(("id" = i64, Path)),
    request_body = PlaybookChange,
    responses((status = 200, body = PlaybookBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot change playbooks"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the playbook changed since the version named"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn change(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<PlaybookChange>,
) -> Result<Json<PlaybookBody>, ApiError> {
    let p = app.change_playbook(&actor, id, &body.value).await?;
    let (_, versions) = app.playbook(id).await?;
    Ok(Json(PlaybookBody::new(&p, Some(&versions))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older version.
    #[param(minimum = 1)]
    pub from: i64,
    /// The newer version.
    #[param(minimum = 1)]
    pub to: i64,
}

/// One line of a diff: `same`, `added` or `removed`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffLineBody {
    #[schema(example = "added")]
    pub change: &'static str,
    #[schema(example = "step 3: Check the cache's hit rate")]
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiffBody {
    pub from: i64,
    pub to: i64,
    pub lines: Vec<DiffLineBody>,
}

/// What changed between two versions, line by line (each step a line, then the roles, then
/// the guidance's lines).
#[utoipa::path(get, path = "/api/v1/playbooks/{id}/diff", tag = "review",
    params(("id" = i64, Path), DiffQuery),
    responses((status = 200, body = DiffBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn diff(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<DiffQuery>,
) -> Result<Json<DiffBody>, ApiError> {
    let lines = app.playbook_diff(id, query.from, query.to).await?;
    Ok(Json(DiffBody {
        from: query.from,
        to: query.to,
        lines: lines
            .into_iter()
            .map(|l| match l {
                DiffLine::Same(text) => DiffLineBody {
                    change: "same",
                    text,
                },
                DiffLine::Added(text) => DiffLineBody {
                    change: "added",
                    text,
                },
                DiffLine::Removed(text) => DiffLineBody {
                    change: "removed",
                    text,
                },
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepBody {
    pub step: i64,
    pub text: String,
    pub checked: bool,
    pub checked_by: Option<String>,
    pub checked_at: Option<String>,
}

impl From<&ChecklistStep> for StepBody {
    fn from(s: &ChecklistStep) -> Self {
        Self {
            step: s.step,
            text: s.text.clone(),
            checked: s.is_checked(),
            checked_by: s.checked_by.clone(),
            checked_at: s.checked_at.map(|t| t.to_string()),
        }
    }
}

/// The playbook an incident runs and its checklist; every field empty when none applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChecklistBody {
    pub playbook_id: Option<i64>,
    /// The playbook's version the incident ran.
    pub version: Option<i64>,
    pub roles: Vec<&'static str>,
    pub guidance: Option<String>,
    pub steps: Vec<StepBody>,
}

impl From<Option<IncidentPlaybook>> for ChecklistBody {
    fn from(p: Option<IncidentPlaybook>) -> Self {
        Self {
            playbook_id: p.as_ref().map(|p| p.playbook_id),
            version: p.as_ref().map(|p| p.version),
            roles: p
                .as_ref()
                .map(|p| p.roles.iter().map(|r| r.slug()).collect())
                .unwrap_or_default(),
            guidance: p.as_ref().map(|p| p.guidance.clone()),
            steps: p
                .as_ref()
                .map(|p| p.steps.iter().map(Into::into).collect())
                .unwrap_or_default(),
        }
    }
}

/// The incident's checklist, from the playbook version it ran.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/checklist", tag = "review", params(("id" = i64, Path)),
    responses((status = 200, body = ChecklistBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn checklist(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ChecklistBody>, ApiError> {
    Ok(Json(app.checklist(&actor, id).await?.into()))
}

/// Check a step of the incident's checklist (`{"checked": true}`), or uncheck it; it goes on
/// the timeline. Responders and admins who may see the incident.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/checklist/{step}", tag = "review",
    params(("id" = i64, Path), ("step" = i64, Path)), request_body = CheckFields,
    responses((status = 200, body = StepBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot change incidents"),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn check(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, step)): ApiPath<(i64, i64)>,
    body: ApiJson<CheckFields>,
) -> Result<Json<StepBody>, ApiError> {
    let done = app.check_step(&actor, id, step, &body.value).await?;
    Ok(Json((&done).into()))
}
