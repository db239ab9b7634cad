//! Playbooks in the web UI: the list with a form for a new one, a playbook's page (its
//! current version, the form for the next, every version, and the diff between two), and the
//! checklist's step form on the incident page.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Posted, Times, fail, render};
use crate::app::{AppError, CheckFields, PlaybookChange, PlaybookFields};
use crate::domain::access::Actor;
use crate::domain::incident::RoleKind;
use crate::domain::playbooks::DiffLine;
use crate::http::AppState;
use crate::store::{IncidentPlaybook, PlaybookRecord, PlaybookVersion};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/playbooks", get(list).post(create))
        .route("/playbooks/{id}", get(page).post(change))
        .route("/incidents/{id}/checklist/{step}", post(check))
}

/// An incident's checklist as its page shows it.
pub(super) struct ChecklistView {
    pub playbook_id: i64,
    pub version: i64,
    /// "Scribe, Incident lead".
    pub roles: String,
    pub guidance: String,
    /// (step, text, who checked it and when).
    pub steps: Vec<StepRow>,
}

pub(super) struct StepRow {
    pub step: i64,
    pub text: String,
    /// "alice, 10:04:12 UTC" once checked.
    pub checked: Option<String>,
}

impl ChecklistView {
    pub(super) fn new(p: IncidentPlaybook, times: &Times) -> Self {
        Self {
            playbook_id: p.playbook_id,
            version: p.version,
            roles: roles_text(&p.roles),
            guidance: p.guidance,
            steps: p
                .steps
                .into_iter()
                .map(|s| StepRow {
                    step: s.step,
                    checked: s.checked_at.map(|at| {
                        let who = s.checked_by.clone().unwrap_or_else(|| "someone".into());
                        format!("{who}, {}", times.at(at))
                    }),
                    text: s.text,
                })
                .collect(),
        }
    }
}

fn roles_text(roles: &[RoleKind]) -> String {
    roles
        .iter()
        .map(|r| r.label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A playbook as a row of the list.
struct PlaybookRow {
    id: i64,
    incident_type: String,
    service: String,
    version: i64,
    steps: usize,
}

impl From<&PlaybookRecord> for PlaybookRow {
    fn from(p: &PlaybookRecord) -> Self {
        Self {
            id: p.id,
            incident_type: p.incident_type.clone(),
            service: p.service.clone().unwrap_or_default(),
            version: p.current.version,
            steps: p.current.content.steps.len(),
        }
    }
}

#[derive(Template)]
#[template(path = "playbooks.html")]
struct ListPage {
    me: Actor,
    csrf: String,
    error: Option<String>,
    playbooks: Vec<PlaybookRow>,
    types: Vec<String>,
    roles: Vec<(&'static str, &'static str)>,
}

#[derive(Deserialize)]
struct ErrorQuery {
    error: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<ErrorQuery>,
    session: super::Session,
) -> Response {
    match state.playbooks().await {
        Ok(all) => render(&ListPage {
            error: query.error,
            playbooks: all.iter().map(Into::into).collect(),
            types: state.settings.incident_types.all().to_vec(),
            roles: role_choices(),
            me: session.actor,
            csrf: session.csrf,
        }),
        Err(e) => fail(e, "/playbooks"),
    }
}

fn role_choices() -> Vec<(&'static str, &'static str)> {
    RoleKind::ALL
        .iter()
        .map(|r| (r.slug(), r.label()))
        .collect()
}

/// The fields a playbook form sends: steps one per line, roles as repeated checkboxes.
#[derive(Deserialize)]
struct PlaybookForm {
    #[serde(default)]
    incident_type: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    steps: String,
    #[serde(default)]
    guidance: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    action_item: String,
    #[serde(default)]
    version: String,
    /// A checkbox per role, named by its slug.
    #[serde(default)]
    incident_lead: String,
    #[serde(default)]
    communications_lead: String,
    #[serde(default)]
    scribe: String,
}

impl PlaybookForm {
    fn steps(&self) -> Vec<String> {
        self.steps.lines().map(String::from).collect()
    }

    fn roles(&self) -> Vec<String> {
        [
            (RoleKind::IncidentLead, &self.incident_lead),
            (RoleKind::CommunicationsLead, &self.communications_lead),
            (RoleKind::Scribe, &self.scribe),
        ]
        .into_iter()
        .filter(|(_, checked)| !checked.is_empty())
        .map(|(role, _)| role.slug().to_string())
        .collect()
    }
}

async fn create(
    State(state): State<AppState>,
    Posted { session, form }: Posted<PlaybookForm>,
) -> Response {
    let fields = PlaybookFields {
        incident_type: form.incident_type.clone(),
        service: Some(form.service.clone()),
        steps: form.steps(),
        roles: form.roles(),
        guidance: Some(form.guidance.clone()),
    };
    match state.create_playbook(&session.actor, &fields).await {
        Ok(p) => Redirect::to(&format!("/playbooks/{}", p.id)).into_response(),
        Err(e) => fail(e, "/playbooks"),
    }
}

#[derive(Template)]
#[template(path = "playbook.html")]
struct PlaybookPage {
    me: Actor,
    csrf: String,
    error: Option<String>,
    notice: Option<String>,
    id: i64,
    incident_type: String,
    service: String,
    version: i64,
    steps: Vec<String>,
    steps_text: String,
    guidance: String,
    roles: Vec<(&'static str, &'static str, bool)>,
    /// (version, author, when, reason, action item).
    versions: Vec<(i64, String, String, String, Option<i64>)>,
    diff: Option<DiffView>,
}

/// The diff asked for: from which version to which, each line with its change (`same`,
/// `added`, `removed`).
struct DiffView {
    from: i64,
    to: i64,
    lines: Vec<(&'static str, String)>,
}

#[derive(Deserialize)]
struct PageQuery {
    error: Option<String>,
    done: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

async fn page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
    session: super::Session,
) -> Response {
    let loaded = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let (p, versions) = state.playbook(id).await?;
        let diff = match (query.from, query.to) {
            (Some(from), Some(to)) => Some((from, to, state.playbook_diff(id, from, to).await?)),
            _ => None,
        };
        Ok::<_, AppError>((times, p, versions, diff))
    }
    .await;
    let (times, p, versions, diff) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return fail(e, "/playbooks"),
    };
    let current = &p.current.content;
    let row = |v: &PlaybookVersion| {
        (
            v.version,
            v.author.clone().unwrap_or_else(|| "someone".into()),
            times.at(v.created_at),
            v.reason.clone(),
            v.action_item_id,
        )
    };
    render(&PlaybookPage {
        error: query.error,
        notice: (query.done.as_deref() == Some("changed"))
            .then(|| format!("Saved as version {}.", p.current.version)),
        id: p.id,
        incident_type: p.incident_type.clone(),
        service: p.service.clone().unwrap_or_default(),
        version: p.current.version,
        steps: current.steps.clone(),
        steps_text: current.steps.join("\n"),
        guidance: current.guidance.clone(),
        roles: RoleKind::ALL
            .iter()
            .map(|r| (r.slug(), r.label(), current.roles.contains(r)))
            .collect(),
        versions: versions.iter().rev().map(row).collect(),
        diff: diff.map(|(from, to, lines)| {
            let lines = lines
                .into_iter()
                .map(|l| match l {
                    DiffLine::Same(t) => ("same", t),
                    DiffLine::Added(t) => ("added", t),
                    DiffLine::Removed(t) => ("removed", t),
                })
                .collect();
            DiffView { from, to, lines }
        }),
        me: session.actor,
        csrf: session.csrf,
    })
}

async fn change(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<PlaybookForm>,
) -> Response {
    let back = format!("/playbooks/{id}");
    let change = PlaybookChange {
        version: form.version.trim().parse().unwrap_or(0),
        steps: form.steps(),
        roles: form.roles(),
        guidance: Some(form.guidance.clone()),
        reason: Some(form.reason.clone()),
        action_item: form.action_item.trim().parse().ok(),
    };
    match state.change_playbook(&session.actor, id, &change).await {
        Ok(_) => Redirect::to(&format!("{back}?done=changed")).into_response(),
        Err(e) => fail(e, &back),
    }
}

#[derive(Deserialize)]
struct CheckForm {
    #[serde(default)]
    checked: String,
}

async fn check(
    State(state): State<AppState>,
    Path((id, step)): Path<(i64, i64)>,
    Posted { session, form }: Posted<CheckForm>,
) -> Response {
    let back = format!("/incidents/{id}");
    let fields = CheckFields {
        checked: form.checked == "true",
    };
    match state.check_step(&session.actor, id, step, &fields).await {
        Ok(_) => Redirect::to(&format!("{back}#step-{step}")).into_response(),
        Err(e) => fail(e, &back),
    }
}
