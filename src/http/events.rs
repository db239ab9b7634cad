//! Inbound monitoring events in PagerDuty's wire format (CONTRACTS §1–2): `POST /v2/enqueue` and
//! `POST /v2/change/enqueue`. Answers exactly as the contract says: 202 only after the event is
//! committed, 400 with every problem listed, 413 for an oversized body.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};

use super::AppState;
use crate::app::new_secret;
use crate::domain::alert::{EventAction, parse_alertmanager, parse_change, parse_event};
use crate::engine::ingest::Refused;
use crate::store::{Ingest, Ingested};

/// PagerDuty accepts events up to 512 KB.
pub const MAX_EVENT_BODY: usize = 512 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/enqueue", post(enqueue))
        .route("/v2/change/enqueue", post(change_enqueue))
        .route(
            "/integrations/alertmanager/{routing_key}",
            post(alertmanager),
        )
        .route("/integrations/grafana/{routing_key}", post(grafana))
        .layer(DefaultBodyLimit::max(MAX_EVENT_BODY))
}

#[derive(OpenApi)]
#[openapi(paths(enqueue, change_enqueue, alertmanager, grafana))]
pub struct EventsDoc;

/// An event taken (the shape PagerDuty's Events API v2 answers).
#[derive(Serialize, ToSchema)]
struct EventAccepted {
    #[schema(example = "success")]
    status: String,
    #[schema(example = "Event processed")]
    message: String,
    /// The alert's deduplication key: the event's, or one aplomb chose for a trigger
    /// without one (not sent for change events).
    dedup_key: Option<String>,
}

/// An event refused, with every problem found (`status`: `invalid event`, `throttled`,
/// `unavailable`).
#[derive(Serialize, ToSchema)]
struct EventRefused {
    #[schema(example = "invalid event")]
    status: String,
    message: String,
    /// Absent when the database is unavailable.
    errors: Option<Vec<String>>,
}

/// A webhook's alerts, all stored.
#[derive(Serialize, ToSchema)]
struct AlertsAccepted {
    #[schema(example = "success")]
    status: String,
    /// How many alerts the body held.
    alerts: usize,
}

/// A refused event, in the contract's shape.
struct Rejected {
    status: StatusCode,
    message: String,
    errors: Vec<String>,
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        let body =
            json!({"status": "invalid event", "message": self.message, "errors": self.errors});
        (self.status, Json(body)).into_response()
    }
}

fn invalid(errors: Vec<String>) -> Response {
    Rejected {
        status: StatusCode::BAD_REQUEST,
        message: "Event object is invalid".into(),
        errors,
    }
    .into_response()
}

/// The answer for an event that was refused before it was stored.
fn refused(why: Refused) -> Response {
    match why {
        Refused::RateLimited(seconds) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, seconds.to_string())],
            Json(json!({"status": "throttled", "message": "Too many events for this routing key; retry later",
                        "errors": [format!("rate limit reached; retry after {seconds} s")]})),
        )
            .into_response(),
        Refused::Unavailable(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "message": reason})),
        )
            .into_response(),
    }
}

/// The body as JSON, or why it is refused (too large, unreadable, not JSON).
fn read_json(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Value, Rejected> {
    let bytes = body.map_err(|e| {
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the event is larger than {MAX_EVENT_BODY} bytes")
        } else {
            e.body_text()
        };
        Rejected {
            status,
            errors: vec![message.clone()],
            message,
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Rejected {
        status: StatusCode::BAD_REQUEST,
        message: "Event object is invalid".into(),
        errors: vec![format!("malformed JSON: {e}")],
    })
}

/// Take a trigger, acknowledge or resolve event in PagerDuty's Events API v2 format (the
/// integration is named by the body's `routing_key`); 202 once it is stored.
#[utoipa::path(post, path = "/v2/enqueue", tag = "events", security(()),
    request_body(content = Object, description = "A PagerDuty Events API v2 event (CONTRACTS §1)"),
    responses((status = 202, body = EventAccepted), (status = 400, body = EventRefused, description = "the event is invalid, every problem listed, or its routing key matches no integration"),
        (status = 413, body = EventRefused, description = "larger than 512 KB"),
        (status = 429, body = EventRefused, description = "too many events for this routing key; see Retry-After"),
        (status = 503, body = EventRefused, description = "the database is unavailable; retry")))]
async fn enqueue(
    State(app): State<AppState>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let value = match read_json(body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let mut event = match parse_event(&value) {
        Ok(e) => e,
        Err(errors) => return invalid(errors),
    };
    if event.action == EventAction::Trigger && event.dedup_key.is_none() {
        event.dedup_key = Some(new_secret()[..32].to_string());
    }
    let dedup_key = event.dedup_key.clone().unwrap_or_default();
    let outcome = app.ingest.submit(Ingest::Alert(event)).await;
    if let Ok(Ingested::Stored { .. }) = outcome {
        app.metrics.alerts_received.add("events_v2");
    }
    answer(
        outcome,
        json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
    )
}

/// Take a change event in PagerDuty's format (a deploy, a configuration change), shown to
/// responders as a recent change of the integration's service; 202 once it is stored.
#[utoipa::path(post, path = "/v2/change/enqueue", tag = "events", security(()),
    request_body(content = Object, description = "A PagerDuty change event (CONTRACTS §2)"),
    responses((status = 202, body = EventAccepted), (status = 400, body = EventRefused, description = "the event is invalid, every problem listed, or its routing key matches no integration"),
        (status = 413, body = EventRefused, description = "larger than 512 KB"),
        (status = 429, body = EventRefused, description = "too many events for this routing key; see Retry-After"),
        (status = 503, body = EventRefused, description = "the database is unavailable; retry")))]
async fn change_enqueue(
    State(app): State<AppState>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let value = match read_json(body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let change = match parse_change(&value) {
        Ok(c) => c,
        Err(errors) => return invalid(errors),
    };
    answer(
        app.ingest.submit(Ingest::Change(change)).await,
        json!({"status": "success", "message": "Change event processed"}),
    )
}

/// The answer for one event submitted through the Events API: 202 with `accepted` once it is
/// stored, 400 for an unknown routing key, or why it was refused.
fn answer(outcome: Result<Ingested, Refused>, accepted: Value) -> Response {
    match outcome {
        Ok(Ingested::Stored { .. }) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Ok(Ingested::UnknownRoutingKey) => {
            invalid(vec!["'routing_key' does not match an integration".into()])
        }
        Err(why) => refused(why),
    }
}

/// Take Prometheus Alertmanager's webhook (`webhook_configs`): every alert in the body is
/// stored before the 200.
#[utoipa::path(post, path = "/integrations/alertmanager/{routing_key}", tag = "events", security(()),
    params(("routing_key" = String, Path, description = "an integration's routing key")),
    request_body(content = Object, description = "Alertmanager's webhook payload (version 4)"),
    responses((status = 200, body = AlertsAccepted), (status = 400, body = EventRefused, description = "the payload is invalid, every problem listed, or the key matches no integration"),
        (status = 413, body = EventRefused, description = "larger than 512 KB"),
        (status = 429, body = EventRefused, description = "too many events for this routing key; see Retry-After"),
        (status = 503, body = EventRefused, description = "the database is unavailable; retry")))]
async fn alertmanager(
    State(app): State<AppState>,
    Path(routing_key): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    alert_webhook(app, "alertmanager", routing_key, body).await
}

/// Stores the alerts of an Alertmanager-shaped webhook; `source` names the sender in metrics.
async fn alert_webhook(
    app: AppState,
    source: &'static str,
    routing_key: String,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let value = match read_json(body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let events = match parse_alertmanager(&routing_key, &value) {
        Ok(events) => events,
        Err(errors) => return invalid(errors),
    };
    let count = events.len();
    let results = app
        .ingest
        .submit_all(events.into_iter().map(Ingest::Alert).collect())
        .await;
    for result in results {
        match result {
            Ok(Ingested::Stored { .. }) => app.metrics.alerts_received.add(source),
            Ok(Ingested::UnknownRoutingKey) => {
                return invalid(vec![
                    "the routing key in the URL does not match an integration".into(),
                ]);
            }
            Err(why) => return refused(why),
        }
    }
    (
        StatusCode::OK,
        Json(json!({"status": "success", "alerts": count})),
    )
        .into_response()
}

/// Take Grafana's webhook contact point (Alertmanager's shape): every alert in the body is
/// stored before the 200.
#[utoipa::path(post, path = "/integrations/grafana/{routing_key}", tag = "events", security(()),
    params(("routing_key" = String, Path, description = "an integration's routing key")),
    request_body(content = Object, description = "Grafana's webhook payload"),
    responses((status = 200, body = AlertsAccepted), (status = 400, body = EventRefused, description = "the payload is invalid, every problem listed, or the key matches no integration"),
        (status = 413, body = EventRefused, description = "larger than 512 KB"),
        (status = 429, body = EventRefused, description = "too many events for this routing key; see Retry-After"),
        (status = 503, body = EventRefused, description = "the database is unavailable; retry")))]
async fn grafana(
    State(app): State<AppState>,
    Path(routing_key): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    alert_webhook(app, "grafana", routing_key, body).await
}
