//! Web pages for alerts: the list (filter by service and status) and one alert with its raw
//! payload.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::{Session, fail, render};
use crate::app::AppError;
use crate::domain::access::Actor;
use crate::domain::alert::AlertStatus;
use crate::http::AppState;
use crate::markup::human_time;
use crate::store::{AlertFilter, AlertRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(alerts_page))
        .route("/alerts/{id}", get(alert_page))
}

/// An alert ready for a template.
pub struct AlertRow {
    pub id: i64,
    pub service: String,
    pub status: &'static str,
    pub severity: String,
    pub summary: String,
    pub count: i64,
    pub last: String,
    pub incident: Option<i64>,
}

impl From<&AlertRecord> for AlertRow {
    fn from(a: &AlertRecord) -> Self {
        Self {
            id: a.id,
            service: a.service.clone(),
            status: a.status.as_str(),
            severity: a.severity.clone(),
            summary: a.summary.clone(),
            count: a.count,
            last: human_time(a.last_at),
            incident: a.incident_id,
        }
    }
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    me: Actor,
    csrf: String,
    rows: Vec<AlertRow>,
    services: Vec<String>,
    service: String,
    status: String,
}

#[derive(Deserialize)]
struct AlertParams {
    service: Option<String>,
    status: Option<String>,
}

async fn alerts_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<AlertParams>,
) -> Response {
    let service = q.service.filter(|s| !s.is_empty());
    let status = q.status.filter(|s| !s.is_empty());
    let result = async {
        let parsed = status
            .as_deref()
            .map(str::parse::<AlertStatus>)
            .transpose()?;
        let filter = AlertFilter {
            service: service.clone(),
            status: parsed,
            incident: None,
            limit: 200,
        };
        let alerts = state.alerts(&session.actor, &filter).await?;
        let services = state
            .list_services()
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        Ok::<_, AppError>((alerts, services))
    }
    .await;
    match result {
        Ok((alerts, services)) => render(&AlertsPage {
            me: session.actor,
            csrf: session.csrf,
            rows: alerts.iter().map(AlertRow::from).collect(),
            services,
            service: service.unwrap_or_default(),
            status: status.unwrap_or_default(),
        }),
        Err(e) => fail(e, "/incidents"),
    }
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    me: Actor,
    csrf: String,
    alert: AlertRow,
    dedup_key: String,
    source: String,
    first: String,
    payload: String,
}

async fn alert_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Response {
    match state.alert(&session.actor, id).await {
        Ok(alert) => {
            let payload = serde_json::from_str::<serde_json::Value>(&alert.payload)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| alert.payload.clone());
            render(&AlertPage {
                me: session.actor,
                csrf: session.csrf,
                alert: AlertRow::from(&alert),
                dedup_key: alert.dedup_key,
                source: alert.source,
                first: human_time(alert.first_at),
                payload,
            })
        }
        Err(e) => fail(e, "/alerts"),
    }
}
