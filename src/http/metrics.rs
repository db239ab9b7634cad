//! Prometheus text exposition for `/metrics`: request counts and a latency histogram per route,
//! how the ingest writer's group commit is doing, and open incidents by severity (private
//! incidents are left out, so the metric reveals nothing of them).

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
use crate::metrics::{self, Histogram, family};

/// (method, route, status) → how long those requests took.
type RequestDurations = BTreeMap<(String, String, u16), Histogram>;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<RequestDurations>,
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut requests = self
            .requests
            .lock()
            .expect("metrics lock is never poisoned");
        requests
            .entry((method.to_string(), route.to_string(), status))
            .or_insert_with(|| Histogram::new(metrics::SECONDS))
            .observe(seconds);
    }
}

/// One tracing span and one metrics sample per request (run by `http::around_every_request`).
pub async fn track(state: &AppState, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let span = tracing::info_span!("request", %method, %route);
    let response = {
        let _enter = span.enter();
        next.run(request).await
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    tracing::debug!(%method, %route, status, ms = elapsed * 1000.0, "request");
    state.metrics.record(&method, &route, status, elapsed);
    response
}

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
            .map(|((method, route, status), durations)| {
                let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
                (labels, durations)
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
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
