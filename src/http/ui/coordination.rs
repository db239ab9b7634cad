//! Coordinating the response on the web: the tasks panel of the incident page (tasks by
//! domain, check-ins, overdue ones marked for the lead), the changes made to production, and
//! each responder's "My work" page across incidents.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::incidents::{Done, done_to};
use super::{NoFields, Posted, Session, Times, When, fail, render};
use crate::app::{AppError, ChangeEdit, ChangeFields, CheckInFields, TaskEdit, TaskFields};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::coordination::{ChangeState, TaskStatus};
use crate::http::AppState;
use crate::store::{ResponseChangeRecord, TaskRecord, WorkIncident};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents/{id}/tasks", post(add_task))
        .route("/incidents/{id}/tasks/{tid}/check-ins", post(check_in))
        .route("/incidents/{id}/tasks/{tid}/status", post(move_task))
        .route("/incidents/{id}/changes", post(record_change))
        .route(
            "/incidents/{id}/changes/{cid}/rollback",
            post(roll_back_change),
        )
        .route("/me/work", get(my_work))
}

/// A task on the page.
pub(super) struct TaskRow {
    pub id: i64,
    pub title: String,
    pub skill: Option<String>,
    pub assignee: Option<String>,
    pub status: String,
    pub active: bool,
    pub check_in_minutes: Option<u32>,
    /// When the next check-in is due.
    pub due: Option<When>,
    pub overdue: bool,
    /// (who, what, when), oldest first.
    pub check_ins: Vec<(String, String, String)>,
    /// The statuses it may move to, as (value, button label).
    pub moves: Vec<(&'static str, &'static str)>,
    /// Whether the viewer answers for its rhythm: the page offers the check-in form and the
    /// status buttons only then.
    pub answerable: bool,
}

impl TaskRow {
    pub(super) fn new(t: TaskRecord, times: &Times, answerable: bool) -> Self {
        let label = |to: TaskStatus| match to {
            TaskStatus::Open => "Reopen",
            TaskStatus::InProgress => "Start",
            TaskStatus::Done => "Done",
            TaskStatus::Cancelled => "Cancel",
        };
        let moves = TaskStatus::ALL
            .iter()
            .copied()
            // Reopening an active task is no move a person means.
            .filter(|to| t.status.check_move(*to).is_ok())
            .filter(|to| !(t.status.is_active() && *to == TaskStatus::Open))
            .map(|to| (to.as_str(), label(to)))
            .collect();
        Self {
            overdue: t.overdue(times.now()),
            due: t.check_in_due_at.map(|at| times.when(at)),
            id: t.id,
            title: t.title,
            skill: t.skill,
            assignee: t.assignee,
            status: t.status.to_string(),
            active: t.status.is_active(),
            check_in_minutes: t.check_in_minutes,
            check_ins: t
                .check_ins
                .into_iter()
                .map(|c| {
                    let who = c.user.unwrap_or_else(|| "aplomb".into());
                    (who, c.note, times.at(c.at))
                })
                .collect(),
            moves,
            answerable,
        }
    }
}

pub(super) struct ResponseChangeRow {
    pub id: i64,
    pub system: String,
    pub description: String,
    pub reference: Option<String>,
    /// The reference when it is a link to follow.
    pub reference_url: Option<String>,
    pub reason: Option<String>,
    pub hypothesis_id: Option<i64>,
    pub rollback: Option<String>,
    pub rolled_back: bool,
    pub author: String,
    pub at: String,
}

impl ResponseChangeRow {
    pub(super) fn new(c: ResponseChangeRecord, times: &Times) -> Self {
        let reference_url = c
            .reference
            .as_deref()
            .and_then(|r| crate::domain::investigation::source_url(r).ok().flatten());
        Self {
            id: c.id,
            system: c.system,
            description: c.description,
            reference: c.reference,
            reference_url,
            reason: c.reason,
            hypothesis_id: c.hypothesis_id,
            rollback: c.rollback,
            rolled_back: c.state == ChangeState::RolledBack,
            author: c.author.unwrap_or_else(|| "aplomb".into()),
            at: times.at(c.created_at),
        }
    }
}

#[derive(Deserialize)]
struct ChangeForm {
    system: String,
    description: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    reason: String,
    /// A hypothesis id, or empty for none (text: a flattened form holds no numbers).
    #[serde(default)]
    hypothesis_id: String,
    #[serde(default)]
    rollback: String,
}

async fn record_change(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<ChangeForm>,
) -> Response {
    let hypothesis_id = match form.hypothesis_id.trim() {
        "" => None,
        raw => match raw.parse::<i64>() {
            Ok(hid) => Some(hid),
            Err(_) => {
                let problem =
                    FieldError::new("hypothesis_id", "must be a hypothesis of this incident");
                return done_to(id, Err(problem.into()));
            }
        },
    };
    let fields = ChangeFields {
        system: form.system,
        description: form.description,
        reference: Some(form.reference),
        reason: Some(form.reason),
        hypothesis_id,
        rollback: Some(form.rollback),
    };
    let recorded = state.record_change(&session.actor, id, fields).await;
    done_to(id, recorded.map(|_| Done::ChangeRecorded))
}

async fn roll_back_change(
    State(state): State<AppState>,
    Path((id, cid)): Path<(i64, i64)>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    let edit = ChangeEdit {
        state: ChangeState::RolledBack.as_str().to_string(),
    };
    let rolled_back = state.edit_change(&session.actor, id, cid, edit).await;
    done_to(id, rolled_back.map(|_| Done::ChangeRolledBack))
}

#[derive(Deserialize)]
struct TaskForm {
    title: String,
    #[serde(default)]
    skill: String,
    #[serde(default)]
    assignee: String,
    /// Minutes, or empty for none (text: a flattened form holds no numbers).
    #[serde(default)]
    check_in_minutes: String,
}

async fn add_task(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<TaskForm>,
) -> Response {
    let check_in_minutes = match form.check_in_minutes.trim() {
        "" => None,
        raw => match raw.parse::<i64>() {
            Ok(minutes) => Some(minutes),
            Err(_) => {
                let problem = FieldError::new("check_in_minutes", "must be a number of minutes");
                return done_to(id, Err(problem.into()));
            }
        },
    };
    let fields = TaskFields {
        title: form.title,
        skill: Some(form.skill),
        assignee: Some(form.assignee),
        check_in_minutes,
    };
    let added = state.add_task(&session.actor, id, fields).await;
    done_to(id, added.map(|_| Done::Task))
}

#[derive(Deserialize)]
struct CheckInForm {
    note: String,
}

async fn check_in(
    State(state): State<AppState>,
    Path((id, tid)): Path<(i64, i64)>,
    Posted { session, form }: Posted<CheckInForm>,
) -> Response {
    let fields = CheckInFields { note: form.note };
    let checked = state.check_in(&session.actor, id, tid, fields).await;
    done_to(id, checked.map(|_| Done::CheckedIn))
}

#[derive(Deserialize)]
struct TaskStatusForm {
    status: String,
}

async fn move_task(
    State(state): State<AppState>,
    Path((id, tid)): Path<(i64, i64)>,
    Posted { session, form }: Posted<TaskStatusForm>,
) -> Response {
    let edit = TaskEdit {
        status: Some(form.status),
        ..TaskEdit::default()
    };
    let moved = state.edit_task(&session.actor, id, tid, edit).await;
    done_to(id, moved.map(|t| Done::TaskMoved(t.status)))
}

#[derive(Template)]
#[template(path = "my_work.html")]
struct MyWorkPage {
    me: Actor,
    csrf: String,
    roles: Vec<(WorkIncident, String)>,
    tasks: Vec<(WorkIncident, TaskRow)>,
    zone: String,
}

/// The roles I hold and the active tasks assigned to me, across incidents still open.
async fn my_work(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let work = state.my_work(&session.actor).await?;
        Ok::<_, AppError>((work, times))
    }
    .await;
    match result {
        Ok((work, times)) => render(&MyWorkPage {
            roles: work
                .roles
                .into_iter()
                .map(|(incident, role)| (incident, role.label().to_string()))
                .collect(),
            tasks: work
                .tasks
                .into_iter()
                // Only the user's own tasks are listed: theirs to answer for.
                .map(|(incident, task)| (incident, TaskRow::new(task, &times, true)))
                .collect(),
            zone: times.zone_note(),
            me: session.actor,
            csrf: session.csrf,
        }),
        Err(e) => fail(e, "/incidents"),
    }
}
