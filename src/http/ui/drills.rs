//! Drills in the web UI: the list with the form that starts one (from a shipped example or a
//! scenario typed in), and a drill's page with its score and script.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Posted, Times, When, fail, render};
use crate::app::{AppError, DRILL_EXAMPLES, DrillFields, DrillView, drill_example};
use crate::domain::access::Actor;
use crate::domain::drills::Criterion;
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/drills", get(list).post(start))
        .route("/drills/{id}", get(page))
}

/// "2/5": events played of the script's.
fn played(v: &DrillView) -> String {
    let events = &v.drill.events;
    let done = events.iter().filter(|e| e.played_at.is_some()).count();
    format!("{done}/{}", events.len())
}

struct DrillRow {
    id: i64,
    title: String,
    status: String,
    started: When,
    started_by: String,
    played: String,
    score: String,
}

#[derive(Template)]
#[template(path = "drills.html")]
struct ListPage {
    me: Actor,
    csrf: String,
    error: Option<String>,
    drills: Vec<DrillRow>,
    examples: Vec<&'static str>,
    /// What the form starts with: the example asked for, else the first.
    scenario: &'static str,
}

#[derive(Deserialize)]
struct ListQuery {
    error: Option<String>,
    example: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
    session: super::Session,
) -> Response {
    let loaded = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let drills = state.drills(&session.actor).await?;
        let scenario = match &query.example {
            Some(name) => drill_example(name)?,
            None => DRILL_EXAMPLES[0].1,
        };
        Ok::<_, AppError>((times, drills, scenario))
    }
    .await;
    let (times, drills, scenario) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return fail(e, "/drills"),
    };
    render(&ListPage {
        error: query.error,
        drills: drills
            .iter()
            .map(|v| DrillRow {
                id: v.incident.id,
                title: v.incident.title.clone(),
                status: v.incident.status.to_string(),
                started: times.when(v.drill.started_at),
                started_by: v.drill.started_by.clone().unwrap_or_default(),
                played: played(v),
                score: format!("{}/{}", v.score.met, v.score.total),
            })
            .collect(),
        examples: DRILL_EXAMPLES.iter().map(|(name, _)| *name).collect(),
        scenario,
        me: session.actor,
        csrf: session.csrf,
    })
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    scenario: String,
}

async fn start(
    State(state): State<AppState>,
    Posted { session, form }: Posted<StartForm>,
) -> Response {
    let fields = DrillFields {
        // Browsers send a textarea's lines ending in CR LF.
        scenario: form.scenario.replace("\r\n", "\n"),
    };
    match state.start_drill(&session.actor, &fields).await {
        Ok(v) => Redirect::to(&format!("/incidents/{}", v.incident.id)).into_response(),
        Err(e) => fail(e, "/drills"),
    }
}

struct EventRow {
    due: When,
    kind: &'static str,
    text: String,
    played: Option<When>,
}

#[derive(Template)]
#[template(path = "drill.html")]
struct DrillPage {
    me: Actor,
    csrf: String,
    id: i64,
    title: String,
    severity: String,
    status: String,
    /// Whether the drill's incident is resolved, and so its score final.
    over: bool,
    started: When,
    started_by: String,
    /// Whom it pages, in words.
    paging: &'static str,
    met: usize,
    total: usize,
    criteria: Vec<Criterion>,
    events: Vec<EventRow>,
    scenario: String,
}

async fn page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    session: super::Session,
) -> Response {
    let loaded = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        Ok::<_, AppError>((times, state.drill(&session.actor, id).await?))
    }
    .await;
    let (times, v) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return fail(e, "/drills"),
    };
    render(&DrillPage {
        id,
        title: v.incident.title.clone(),
        severity: v.incident.severity.to_string(),
        status: v.incident.status.to_string(),
        over: !v.incident.status.is_active(),
        started: times.when(v.drill.started_at),
        started_by: v.drill.started_by.clone().unwrap_or_default(),
        paging: v.drill.paging.describe(),
        met: v.score.met,
        total: v.score.total,
        events: v
            .drill
            .events
            .iter()
            .map(|e| EventRow {
                due: times.when(e.due_at),
                kind: e.kind.as_str(),
                text: e.text.clone(),
                played: e.played_at.map(|t| times.when(t)),
            })
            .collect(),
        criteria: v.score.criteria,
        scenario: v.drill.scenario,
        me: session.actor,
        csrf: session.csrf,
    })
}
