//! HTTP: the REST API (`api`), the web UI (`ui`), live updates (`live`), health and metrics.
//! Handlers stay thin: they extract input, call `Aplomb`, and shape the response.

pub mod api;
pub mod api_alerts;
pub mod api_oncall;
pub mod error;
pub mod events;
pub mod extract;
pub mod live;
pub mod metrics;
pub mod ui;
pub mod ui_alerts;
pub mod ui_oncall;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::Aplomb;
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<Aplomb>,
    pub metrics: Arc<metrics::Metrics>,
    /// Flips to `true` when the server stops, so long-lived streams end and shutdown completes.
    pub shutdown: watch::Receiver<bool>,
}

impl Deref for AppState {
    type Target = Aplomb;
    fn deref(&self) -> &Aplomb {
        &self.app
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .nest(
            "/api/v1",
            api::router()
                .merge(api_oncall::router())
                .merge(api_alerts::router()),
        )
        .merge(events::router())
        .merge(ui::router())
        .merge(ui_oncall::router())
        .merge(ui_alerts::router())
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::render))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(DefaultBodyLimit::max(extract::MAX_JSON_BODY))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
        }
    }
}

/// Serves until `stop` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Arc<Aplomb>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping, shutdown) = watch::channel(false);
    let state = AppState {
        app,
        metrics: Arc::default(),
        shutdown,
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            stop.await;
            let _ = stopping.send(true);
        })
        .await
}
