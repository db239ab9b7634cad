//! Prometheus text exposition for `/metrics`: request counts and a latency histogram per route,
//! how the ingest writer's group commit is doing, alert events by source, what the paging
//! engine sent and how soon after the alert, the paging backlog, and open incidents by
//! severity (private incidents are left out, so the metric reveals nothing of them).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::metrics::{self, Counters, Histogram, family};

/// route → (method, status) → how long those requests took. Keyed so that recording a
/// request of a route already seen allocates nothing: the status page answers tens of
/// thousands a second.
type RequestDurations = BTreeMap<String, BTreeMap<(&'static str, u16), Histogram>>;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<RequestDurations>,
    /// Alert events stored, by the integration format that sent them (`events_v2`,
    /// `alertmanager`, `grafana`).
    pub alerts_received: Counters<&'static str>,
}

impl Metrics {
    fn record(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let mut requests = self
            .requests
            .lock()
            .expect("metrics lock is never poisoned");
        if !requests.contains_key(route) {
            requests.insert(route.to_string(), BTreeMap::new());
        }
        requests
            .get_mut(route)
            .expect("inserted above")
            .entry((method, status))
            .or_insert_with(|| Histogram::new(metrics::SECONDS))
            .observe(seconds);
    }
}

/// One tracing span and one metrics sample per request (run by `http::around_every_request`).
pub async fn track(state: &AppState, request: Request, next: Next) -> Response {
    // A clone of the matched path shares its text.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = method_label(request.method());
    let started = Instant::now();
    let span = tracing::info_span!("request", %method, %route);
    let response = {
        let _enter = span.enter();
        next.run(request).await
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    tracing::debug!(%method, %route, status, ms = elapsed * 1000.0, "request");
    state.metrics.record(method, route, status, elapsed);
    response
}

/// A request method as a label; one aplomb does not route is `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ]
    .iter()
    .zip(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    .find(|(m, _)| *m == method)
    .map_or("other", |(_, label)| label)
}

/// Metrics in Prometheus's text exposition format (0.0.4): requests, ingestion, alert events,
/// paging and its backlog, open incidents (the README names every family).
#[utoipa::path(get, path = "/metrics", tag = "monitoring", operation_id = "metrics", security(()),
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String, description = "the exposition")))]
pub async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::new();
    {
        let requests = state
            .metrics
            .requests
            .lock()
            .expect("metrics lock is never poisoned");
        let labelled: Vec<(String, &Histogram)> = requests
            .iter()
            .flat_map(|(route, by_answer)| {
                by_answer.iter().map(move |((method, status), durations)| {
                    let labels =
                        format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
                    (labels, durations)
                })
            })
            .collect();
        family(
            &mut out,
            "aplomb_http_requests_total",
            "counter",
            "HTTP requests served.",
        );
        for (labels, durations) in &labelled {
            let _ = writeln!(
                out,
                "aplomb_http_requests_total{{{labels}}} {}",
                durations.count()
            );
        }
        family(
            &mut out,
            "aplomb_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its response.",
        );
        for (labels, durations) in &labelled {
            durations.render(&mut out, "aplomb_http_request_duration_seconds", labels);
        }
    }
    let ingest = &state.app.ingest.stats;
    for (name, help, value) in [
        (
            "aplomb_ingest_batches_total",
            "Transactions the event writer committed (group commit).",
            ingest.batch_events.count() as f64,
        ),
        (
            "aplomb_ingest_shortcut_batches_total",
            "Of those, batches of triggers stored as one statement committed on its own (PostgreSQL only).",
            ingest.shortcut_batches.load(Ordering::Relaxed) as f64,
        ),
        (
            "aplomb_ingest_events_total",
            "Events the event writer stored.",
            ingest.batch_events.sum(),
        ),
        (
            "aplomb_ingest_store_seconds_total",
            "Time the event writer spent storing batches.",
            ingest.commit_seconds.sum(),
        ),
    ] {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        &mut out,
        "aplomb_ingest_batch_events",
        "histogram",
        "Events in each transaction the event writer committed.",
    );
    ingest
        .batch_events
        .render(&mut out, "aplomb_ingest_batch_events", "");
    family(
        &mut out,
        "aplomb_ingest_commit_seconds",
        "histogram",
        "Time to store one batch, from its transaction's start to its commit.",
    );
    ingest
        .commit_seconds
        .render(&mut out, "aplomb_ingest_commit_seconds", "");
    let _ = writeln!(
        out,
        "# HELP aplomb_ingest_rate_limited_keys Routing keys the rate limiter tracks (only keys that route).\n\
         # TYPE aplomb_ingest_rate_limited_keys gauge\naplomb_ingest_rate_limited_keys {}",
        ingest.rate_buckets.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "aplomb_alert_events_total",
        "counter",
        "Alert events stored (triggers, acknowledgements, resolves), by the integration format that sent them.",
    );
    for (source, n) in state.metrics.alerts_received.snapshot() {
        let _ = writeln!(out, "aplomb_alert_events_total{{source=\"{source}\"}} {n}");
    }
    paging(&mut out, &state).await?;
    out.push_str("# HELP aplomb_open_incidents Unresolved non-private incidents.\n# TYPE aplomb_open_incidents gauge\n");
    let counts = state
        .store
        .open_incident_counts()
        .await
        .map_err(crate::app::AppError::from)?;
    for severity in crate::domain::incident::Severity::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| *s == severity)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "aplomb_open_incidents{{severity=\"{severity}\"}} {n}");
    }
    response(&mut out, &state).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

/// The last 30 days of response, as the metrics page shows it, over incidents anyone may see.
async fn response(out: &mut String, state: &AppState) -> Result<(), ApiError> {
    let m = state.app.exposed_response_metrics().await?;
    family(
        out,
        "aplomb_response_duration_seconds",
        "gauge",
        "Key response durations over the last 30 days of non-private incidents, by quantile (0.5, 0.9; nearest rank); the definitions are in GET /api/v1/metrics/response.",
    );
    for (name, d) in &m.durations {
        for (quantile, value) in [("0.5", d.median), ("0.9", d.p90)] {
            if let Some(seconds) = value {
                let _ = writeln!(
                    out,
                    "aplomb_response_duration_seconds{{duration=\"{name}\",quantile=\"{quantile}\"}} {seconds}"
                );
            }
        }
    }
    family(
        out,
        "aplomb_response_incidents",
        "gauge",
        "Non-private incidents declared in the last 30 days, by severity.",
    );
    // Every severity, 0 included, so a series never vanishes between scrapes.
    for severity in crate::domain::incident::Severity::ALL {
        let n = m.by_severity.get(severity.as_str()).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "aplomb_response_incidents{{severity=\"{severity}\"}} {n}"
        );
    }
    family(
        out,
        "aplomb_response_share",
        "gauge",
        "Over the last 30 days: mitigations resting on a finding, updates on cadence, action items done; each a share from 0 to 1, absent of nothing.",
    );
    for (figure, share) in [
        ("mitigations_on_finding", m.mitigations_on_finding),
        ("cadence_kept", m.cadence_kept),
        ("action_items_done", m.action_items_done),
    ] {
        if let Some(ratio) = share.ratio() {
            let _ = writeln!(out, "aplomb_response_share{{figure=\"{figure}\"}} {ratio}");
        }
    }
    Ok(())
}

/// What this instance's engine sent and how soon, and the paging backlog all instances share.
async fn paging(out: &mut String, state: &AppState) -> Result<(), ApiError> {
    let sent = &state.app.engine.stats;
    family(
        out,
        "aplomb_delivery_attempts_total",
        "counter",
        "Delivery attempts this instance made, by channel and outcome (sent, retried, failed).",
    );
    for ((channel, outcome), n) in sent.attempts.snapshot() {
        let _ = writeln!(
            out,
            "aplomb_delivery_attempts_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    family(
        out,
        "aplomb_alert_to_page_seconds",
        "histogram",
        "From the alert that opened an incident being stored to each page about it being delivered.",
    );
    sent.alert_to_page
        .render(out, "aplomb_alert_to_page_seconds", "");
    let backlog = state
        .store
        .paging_backlog(state.app.clock.now())
        .await
        .map_err(crate::app::AppError::from)?;
    family(
        out,
        "aplomb_escalations_due",
        "gauge",
        "Escalation steps whose time has come but which no engine has fired yet.",
    );
    let _ = writeln!(out, "aplomb_escalations_due {}", backlog.escalations_due);
    family(
        out,
        "aplomb_deliveries_queued",
        "gauge",
        "Deliveries waiting to be sent, due now or retrying later, by channel.",
    );
    for (channel, n) in backlog.deliveries_queued {
        let _ = writeln!(out, "aplomb_deliveries_queued{{channel=\"{channel}\"}} {n}");
    }
    Ok(())
}
