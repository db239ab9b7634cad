//! Action items in the web UI: the list and the form on the review page, and the overview of
//! every item still to do, by team and owner, at `/action-items`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Posted, Times, fail, render};
use crate::app::{ActionItemEdit, ActionItemFields, ActionItemQuery, AppError};
use crate::domain::access::Actor;
use crate::domain::action_items::{ActionState, Priority};
use crate::domain::review::Practice;
use crate::http::AppState;
use crate::store::ActionItemRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/action-items", get(overview))
        .route("/action-items/{item}", post(change))
        .route("/incidents/{id}/review/action-items", post(add))
}

/// An action item as a row of `action_item_rows.html`.
pub(super) struct ItemRow {
    pub id: i64,
    pub incident_id: i64,
    pub incident_title: String,
    pub title: String,
    pub state: &'static str,
    pub priority: &'static str,
    pub owner: String,
    pub team: String,
    pub section: &'static str,
    /// "2026-03-20 17:00:00 UTC", or "-".
    pub due: String,
    pub overdue: bool,
    pub reason: String,
    /// The playbook it would change, if any.
    pub playbook: Option<i64>,
}

impl ItemRow {
    pub(super) fn new(item: &ActionItemRecord, times: &Times, now: jiff::Timestamp) -> Self {
        Self {
            id: item.id,
            incident_id: item.incident_id,
            incident_title: item.incident_title.clone(),
            title: item.title.clone(),
            state: item.state.as_str(),
            priority: item.priority.as_str(),
            owner: item.owner.clone().unwrap_or_else(|| "nobody".into()),
            team: item.team.clone().unwrap_or_else(|| "no team".into()),
            section: item.section.map_or("", Practice::label),
            due: item.due_at.map_or_else(|| "-".into(), |d| times.at(d)),
            overdue: item.overdue(now),
            reason: item.reason.clone().unwrap_or_default(),
            playbook: item.playbook,
        }
    }
}

/// The choices the forms offer.
pub(super) struct ItemChoices {
    pub states: &'static [ActionState],
    pub priorities: &'static [Priority],
    pub sections: &'static [Practice],
}

pub(super) const CHOICES: ItemChoices = ItemChoices {
    states: ActionState::ALL,
    priorities: Priority::ALL,
    sections: Practice::ALL,
};

#[derive(Template)]
#[template(path = "action_items.html")]
struct OverviewPage {
    me: Actor,
    csrf: String,
    error: Option<String>,
    zone: String,
    state: String,
    owner: String,
    team: String,
    /// (team, its rows by owner).
    groups: Vec<(String, Vec<ItemRow>)>,
    /// (owner, items still to do, of which overdue).
    owners: Vec<(String, usize, usize)>,
    choices: ItemChoices,
    back: &'static str,
}

#[derive(Deserialize)]
struct OverviewQuery {
    error: Option<String>,
    state: Option<String>,
    owner: Option<String>,
    team: Option<String>,
}

async fn overview(
    State(state): State<AppState>,
    Query(query): Query<OverviewQuery>,
    session: super::Session,
) -> Response {
    let filter = ActionItemQuery {
        state: Some(query.state.clone().unwrap_or_else(|| "open".into())),
        owner: query.owner.clone(),
        team: query.team.clone(),
    };
    let loaded = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let items = state.action_items(&session.actor, &filter).await?;
        Ok::<_, AppError>((times, items))
    }
    .await;
    let (times, mut items) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return fail(e, "/action-items"),
    };
    let now = state.now();
    // By team, then owner; within them by due time, as the store reads them.
    items.sort_by(|a, b| (&a.team, &a.owner).cmp(&(&b.team, &b.owner)));
    let mut groups: Vec<(String, Vec<ItemRow>)> = Vec::new();
    let mut owners: Vec<(String, usize, usize)> = Vec::new();
    for item in &items {
        let row = ItemRow::new(item, &times, now);
        if item.state.is_active() {
            match owners.iter_mut().find(|(o, ..)| *o == row.owner) {
                Some((_, open, late)) => {
                    *open += 1;
                    *late += usize::from(row.overdue);
                }
                None => owners.push((row.owner.clone(), 1, usize::from(row.overdue))),
            }
        }
        match groups.last_mut() {
            Some((team, rows)) if *team == row.team => rows.push(row),
            _ => groups.push((row.team.clone(), vec![row])),
        }
    }
    owners.sort();
    render(&OverviewPage {
        error: query.error,
        zone: times.zone_note(),
        state: filter.state.unwrap_or_default(),
        owner: query.owner.unwrap_or_default(),
        team: query.team.unwrap_or_default(),
        groups,
        owners,
        choices: CHOICES,
        back: "overview",
        me: session.actor,
        csrf: session.csrf,
    })
}

#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    due_at: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    section: String,
    /// A playbook's id, or blank.
    #[serde(default)]
    playbook: String,
}

/// A field left blank in a form is not given.
fn given(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (!raw.is_empty()).then(|| raw.to_string())
}

async fn add(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<AddForm>,
) -> Response {
    let back = format!("/incidents/{id}/review");
    let added = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let due_at = match form.due_at.trim() {
            "" => None,
            raw => Some(times.instant_typed("due_at", raw)?),
        };
        let fields = ActionItemFields {
            title: form.title,
            owner: given(&form.owner),
            team: given(&form.team),
            due_at,
            priority: given(&form.priority),
            section: given(&form.section),
            playbook: match given(&form.playbook) {
                Some(p) => Some(p.parse().map_err(|_| {
                    crate::domain::FieldError::new("playbook", "must be a playbook's id")
                })?),
                None => None,
            },
        };
        state.add_action_item(&session.actor, id, &fields).await
    }
    .await;
    match added {
        Ok(item) => Redirect::to(&format!("{back}#item-{}", item.id)).into_response(),
        Err(e) => fail(e, &back),
    }
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    reason: String,
    /// Where the form was: `review` (the item's review page) or the overview.
    #[serde(default)]
    back: String,
}

async fn change(
    State(state): State<AppState>,
    Path(item): Path<i64>,
    Posted { session, form }: Posted<ChangeForm>,
) -> Response {
    let edit = ActionItemEdit {
        state: given(&form.state),
        reason: given(&form.reason),
        ..ActionItemEdit::default()
    };
    let changed = state.edit_action_item(&session.actor, item, &edit).await;
    let back = |incident_id: Option<i64>| match (form.back.as_str(), incident_id) {
        ("review", Some(id)) => format!("/incidents/{id}/review"),
        _ => "/action-items".to_string(),
    };
    match changed {
        Ok(done) => {
            Redirect::to(&format!("{}#item-{item}", back(Some(done.incident_id)))).into_response()
        }
        Err(e) => {
            let incident = state.action_item(&session.actor, item).await.ok();
            fail(e, &back(incident.map(|i| i.incident_id)))
        }
    }
}
