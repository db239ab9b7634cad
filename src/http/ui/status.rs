//! The status page's administration on the web: its components (admins shape them), its
//! scheduled maintenance (responders plan it, cancel it before it starts, complete it early),
//! its subscribers and its branding (admins). Plain forms, each
//! answered by a redirect back with what was done or what was wrong.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{
    ErrorQuery, NoFields, Posted, SecretPage, Session, Times, comma_separated, fail, render,
};
use crate::app::{
    AppError, BrandFields, ComponentEdit, ComponentFields, MaintenanceEdit, MaintenanceFields,
    SubscriberFields,
};
use crate::domain::access::Actor;
use crate::domain::maintenance::MaintenanceStatus;
use crate::domain::status::{ComponentStatus, SubscriberKind};
use crate::http::AppState;

const PAGE: &str = "/status-page";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/status-page", get(status_admin))
        .route("/status-page/components", post(add_component))
        .route("/status-page/components/{id}", post(edit_component))
        .route("/status-page/maintenances", post(schedule))
        .route(
            "/status-page/maintenances/{id}/status",
            post(end_maintenance),
        )
        .route("/status-page/subscribers", post(add_subscriber))
        .route(
            "/status-page/subscribers/{id}/remove",
            post(remove_subscriber),
        )
        .route("/status-page/branding", post(set_branding))
}

struct ComponentRow {
    id: i64,
    name: String,
    group: String,
    description: String,
    services: String,
    status: &'static str,
}

struct MaintenanceRow {
    id: i64,
    title: String,
    status: &'static str,
    window: String,
    components: String,
    cancellable: bool,
    completable: bool,
}

struct SubscriberRow {
    id: i64,
    kind: String,
    address: String,
    components: String,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "status_admin.html")]
struct StatusAdminPage {
    me: Actor,
    csrf: String,
    components: Vec<ComponentRow>,
    maintenances: Vec<MaintenanceRow>,
    /// `None` for those who may not see who subscribed (all but admins).
    subscribers: Option<Vec<SubscriberRow>>,
    name: String,
    logo_url: String,
    accent: String,
    /// The zone the maintenance form's times are read in.
    zone: String,
    error: Option<String>,
}

async fn status_admin(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ErrorQuery>,
) -> Response {
    let loaded = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let components = state.components(&session.actor).await?;
        let brand = state.status_brand().await?;
        let maintenances = state.maintenances(&session.actor).await?;
        let subscribers = if session.actor.is_admin() {
            Some(state.status_subscribers(&session.actor).await?)
        } else {
            None
        };
        Ok::<_, AppError>((times, components, brand, maintenances, subscribers))
    }
    .await;
    let (times, components, brand, maintenances, subscribers) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return fail(e, "/incidents"),
    };
    let names = |list: &[(i64, String)]| {
        if list.is_empty() {
            "every component".to_string()
        } else {
            list.iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut rows = Vec::new();
    for c in components {
        // As the page shows it now; one not drawn yet is named by no update.
        let status = state.status_cache.status_of(c.id).await;
        rows.push(ComponentRow {
            id: c.id,
            group: c.group.unwrap_or_default(),
            services: c.services.join(", "),
            status: status.unwrap_or(ComponentStatus::Operational).label(),
            name: c.name,
            description: c.description,
        });
    }
    render(&StatusAdminPage {
        components: rows,
        maintenances: maintenances
            .iter()
            .map(|m| MaintenanceRow {
                id: m.id,
                title: m.title.clone(),
                status: m.status.label(),
                window: format!(
                    "{} to {}",
                    times.at(m.scheduled_for),
                    times.at(m.scheduled_until)
                ),
                components: names(&m.components),
                cancellable: m.status == MaintenanceStatus::Scheduled,
                completable: m.status == MaintenanceStatus::InProgress,
            })
            .collect(),
        subscribers: subscribers.map(|list| {
            list.into_iter()
                .map(|s| SubscriberRow {
                    id: s.id,
                    kind: s.kind.to_string(),
                    components: names(&s.components),
                    // Those who left are not listed.
                    state: if s.confirmed_at.is_some() {
                        "subscribed"
                    } else {
                        "awaiting confirmation"
                    },
                    address: s.address,
                })
                .collect()
        }),
        name: brand.name,
        logo_url: brand.logo_url.unwrap_or_default(),
        accent: brand.accent,
        zone: times.zone_note(),
        me: session.actor,
        csrf: session.csrf,
        error: q.error,
    })
}

/// Back to the page once done; a refusal comes back as its message.
fn back(done: Result<(), AppError>) -> Response {
    match done {
        Ok(()) => Redirect::to(PAGE).into_response(),
        Err(e) => fail(e, PAGE),
    }
}

#[derive(Deserialize)]
struct BrandForm {
    name: String,
    #[serde(default)]
    logo_url: String,
    accent: String,
}

async fn set_branding(
    State(state): State<AppState>,
    Posted { session, form }: Posted<BrandForm>,
) -> Response {
    let fields = BrandFields {
        name: form.name,
        logo_url: Some(form.logo_url),
        accent: form.accent,
    };
    back(
        state
            .set_status_brand(&session.actor, &fields)
            .await
            .map(drop),
    )
}

#[derive(Deserialize)]
struct ComponentForm {
    name: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    description: String,
    /// Service names, comma-separated.
    #[serde(default)]
    services: String,
}

async fn add_component(
    State(state): State<AppState>,
    Posted { session, form }: Posted<ComponentForm>,
) -> Response {
    let fields = ComponentFields {
        name: form.name,
        description: Some(form.description),
        group: Some(form.group).filter(|g| !g.trim().is_empty()),
        services: comma_separated(&form.services),
    };
    back(state.add_component(&session.actor, &fields).await.map(drop))
}

async fn edit_component(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<ComponentForm>,
) -> Response {
    let edit = ComponentEdit {
        name: Some(form.name),
        description: Some(form.description),
        group: Some(form.group),
        services: Some(comma_separated(&form.services)),
    };
    back(
        state
            .edit_component(&session.actor, id, &edit)
            .await
            .map(drop),
    )
}

#[derive(Deserialize)]
struct MaintenanceForm {
    title: String,
    #[serde(default)]
    description: String,
    /// `datetime-local` values, in the viewer's zone; an empty start is now.
    #[serde(default)]
    from: String,
    until: String,
    /// Component names, comma-separated.
    #[serde(default)]
    components: String,
}

async fn schedule(
    State(state): State<AppState>,
    Posted { session, form }: Posted<MaintenanceForm>,
) -> Response {
    let planned = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let from = match form.from.trim() {
            "" => None,
            raw => Some(times.instant_typed("from", raw)?),
        };
        let fields = MaintenanceFields {
            title: form.title,
            description: Some(form.description),
            scheduled_for: from,
            scheduled_until: times.instant_typed("until", &form.until)?,
            components: comma_separated(&form.components),
        };
        state.schedule_maintenance(&session.actor, &fields).await?;
        Ok::<_, AppError>(())
    }
    .await;
    back(planned)
}

#[derive(Deserialize)]
struct EndForm {
    /// `cancelled` or `completed`.
    status: String,
}

async fn end_maintenance(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<EndForm>,
) -> Response {
    let edit = MaintenanceEdit {
        status: Some(form.status),
        ..MaintenanceEdit::default()
    };
    back(
        state
            .change_maintenance(&session.actor, id, &edit)
            .await
            .map(drop),
    )
}

#[derive(Deserialize)]
struct SubscriberForm {
    kind: String,
    address: String,
    #[serde(default)]
    components: String,
}

async fn add_subscriber(
    State(state): State<AppState>,
    Posted { session, form }: Posted<SubscriberForm>,
) -> Response {
    let fields = SubscriberFields {
        kind: form.kind,
        address: form.address,
        components: comma_separated(&form.components),
    };
    match state.add_status_subscriber(&session.actor, &fields).await {
        // A webhook's secret signs what it is sent: shown once, here.
        Ok(s) if s.kind == SubscriberKind::Webhook => render(&SecretPage {
            me: session.actor,
            csrf: session.csrf,
            receiver: format!("webhook {}", s.address),
            secret: s.secret,
            replaced: false,
            back: (PAGE, "Back to the status page's administration"),
        }),
        done => back(done.map(drop)),
    }
}

async fn remove_subscriber(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    back(state.remove_status_subscriber(&session.actor, id).await)
}
