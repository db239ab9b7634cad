//! Coordinating the response: tasks with their check-ins, each responder's work across
//! incidents, and the changes made to production.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::app::{ChangeEdit, ChangeFields, CheckInFields, TaskEdit, TaskFields};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath};
use crate::store::{ResponseChangeRecord, TaskRecord, WorkIncident};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/incidents/{id}/changes",
            post(record_change).get(list_changes),
        )
        .route("/incidents/{id}/changes/{cid}", patch(edit_change))
        .route("/incidents/{id}/tasks", post(add_task).get(list_tasks))
        .route("/incidents/{id}/tasks/{tid}", patch(edit_task))
        .route("/incidents/{id}/tasks/{tid}/check-ins", post(check_in))
        .route("/me/work", get(my_work))
}

#[derive(OpenApi)]
#[openapi(paths(
    record_change,
    list_changes,
    edit_change,
    add_task,
    list_tasks,
    edit_task,
    check_in,
    my_work
))]
pub struct CoordinationDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskBody {
    pub id: i64,
    pub incident_id: i64,
    pub title: String,
    pub skill: Option<String>,
    pub assignee: Option<String>,
    /// `open`, `in_progress`, `done` or `cancelled`.
    pub status: String,
    pub check_in_minutes: Option<u32>,
    /// When the next check-in is due (none for a finished or unassigned task, one without an
    /// interval, or one of a resolved incident).
    pub check_in_due_at: Option<String>,
    /// The check-in is past due: the assignee has been (or is about to be) reminded.
    pub overdue: bool,
    pub author: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Progress reported, oldest first.
    pub check_ins: Vec<CheckInBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInBody {
    pub id: i64,
    pub user: Option<String>,
    pub note: String,
    pub at: String,
}

impl TaskBody {
    pub fn new(t: TaskRecord, now: Timestamp) -> Self {
        Self {
            overdue: t.overdue(now),
            id: t.id,
            incident_id: t.incident_id,
            title: t.title,
            skill: t.skill,
            assignee: t.assignee,
            status: t.status.to_string(),
            check_in_minutes: t.check_in_minutes,
            check_in_due_at: t.check_in_due_at.map(|at| at.to_string()),
            author: t.author,
            created_at: t.created_at.to_string(),
            updated_at: t.updated_at.to_string(),
            check_ins: t
                .check_ins
                .into_iter()
                .map(|c| CheckInBody {
                    id: c.id,
                    user: c.user,
                    note: c.note,
                    at: c.at.to_string(),
                })
                .collect(),
        }
    }
}

/// An open incident as "my work" names it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkIncidentBody {
    pub id: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub private: bool,
}

impl From<WorkIncident> for WorkIncidentBody {
    fn from(i: WorkIncident) -> Self {
        Self {
            id: i.id,
            title: i.title,
            severity: i.severity.to_string(),
            status: i.status.to_string(),
            private: i.private,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkRoleBody {
    pub incident: WorkIncidentBody,
    /// The role's slug: `incident_lead`, `communications_lead`, `scribe`, …
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkTaskBody {
    pub incident: WorkIncidentBody,
    pub task: TaskBody,
}

/// The caller's roles and active tasks across incidents still open; overdue check-ins first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkBody {
    pub roles: Vec<WorkRoleBody>,
    pub tasks: Vec<WorkTaskBody>,
}

/// Give a task by domain to a responder, with a check-in interval. The assignee joins the
/// incident; an overdue check-in reminds them through their contact methods.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/tasks", params(("id" = i64, Path)), request_body = TaskFields,
    responses((status = 201, body = TaskBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_task(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<TaskFields>,
) -> Result<impl IntoResponse, ApiError> {
    let task = app.add_task(&actor, id, body.value).await?;
    Ok((StatusCode::CREATED, Json(TaskBody::new(task, app.now()))))
}

/// The incident's tasks, in the order they were given.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/tasks", params(("id" = i64, Path)),
    responses((status = 200, body = [TaskBody]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_tasks(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<TaskBody>>, ApiError> {
    let now = app.now();
    let tasks = app.tasks(&actor, id).await?;
    Ok(Json(
        tasks.into_iter().map(|t| TaskBody::new(t, now)).collect(),
    ))
}

/// Change a task: title, skill, assignee, status (`{"status": "done"}`), check-in interval.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}/tasks/{tid}", params(("id" = i64, Path), ("tid" = i64, Path)),
    request_body = TaskEdit,
    responses((status = 200, body = TaskBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn edit_task(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, tid)): ApiPath<(i64, i64)>,
    body: ApiJson<TaskEdit>,
) -> Result<Json<TaskBody>, ApiError> {
    let task = app.edit_task(&actor, id, tid, body.value).await?;
    Ok(Json(TaskBody::new(task, app.now())))
}

/// Report progress on a task (`{"note"}`): the next check-in is due an interval from now.
/// A finished task answers 409.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/tasks/{tid}/check-ins", params(("id" = i64, Path), ("tid" = i64, Path)),
    request_body = CheckInFields,
    responses((status = 201, body = TaskBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn check_in(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, tid)): ApiPath<(i64, i64)>,
    body: ApiJson<CheckInFields>,
) -> Result<impl IntoResponse, ApiError> {
    let task = app.check_in(&actor, id, tid, body.value).await?;
    Ok((StatusCode::CREATED, Json(TaskBody::new(task, app.now()))))
}

/// My work: the roles I hold and the active tasks assigned to me, across incidents still open.
#[utoipa::path(get, path = "/api/v1/me/work",
    responses((status = 200, body = WorkBody), (status = 401, body = ErrorBody)))]
async fn my_work(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<WorkBody>, ApiError> {
    let now = app.now();
    let work = app.my_work(&actor).await?;
    Ok(Json(WorkBody {
        roles: work
            .roles
            .into_iter()
            .map(|(incident, role)| WorkRoleBody {
                incident: incident.into(),
                role: role.slug().to_string(),
            })
            .collect(),
        tasks: work
            .tasks
            .into_iter()
            .map(|(incident, task)| WorkTaskBody {
                incident: incident.into(),
                task: TaskBody::new(task, now),
            })
            .collect(),
    }))
}

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
