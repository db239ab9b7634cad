//! HTTP: the REST API (`api`), the web UI (`ui`), the public status page (`public`), live
//! updates (`live`), health and metrics.
//! Handlers stay thin: they extract input, call `Aplomb`, and shape the response.

pub mod api;
pub mod error;
pub mod events;
pub mod extract;
pub mod forge;
pub mod idempotency;
pub mod live;
pub mod metrics;
pub mod public;
pub mod security;
pub mod ui;

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
    /// Live updates loaded and rendered at once. Every open page of an incident hears its
    /// announcement at the same moment; rendering their updates a few at a time leaves the
    /// other workers to ingestion and other requests instead of all of them rendering one burst.
    pub live_updates: Arc<tokio::sync::Semaphore>,
    /// The public status page, rendered once per change (`public`).
    pub status_cache: public::StatusCache,
    /// Whether aplomb serves TLS itself: cookies are then `Secure` and answers carry HSTS.
    pub tls: bool,
}

impl AppState {
    fn new(app: Arc<Aplomb>, shutdown: watch::Receiver<bool>, tls: bool) -> Self {
        let half_the_cores = std::thread::available_parallelism().map_or(1, |n| n.get() / 2);
        Self {
            status_cache: public::spawn_renderer(app.clone(), shutdown.clone()),
            app,
            metrics: Arc::default(),
            shutdown,
            live_updates: Arc::new(tokio::sync::Semaphore::new(half_the_cores.max(1))),
            tls,
        }
    }
}

impl Deref for AppState {
    type Target = Aplomb;
    fn deref(&self) -> &Aplomb {
        &self.app
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::router())
        .merge(events::router())
        .merge(forge::router())
        .merge(public::router())
        .merge(ui::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::render))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::replay_or_run,
        ))
        .layer(DefaultBodyLimit::max(extract::MAX_JSON_BODY))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            around_every_request,
        ))
        .with_state(state)
}

/// Around every request, in one layer (each costs a boxed future per request, and the status
/// page answers tens of thousands a second): its span and metrics sample, and the security
/// headers on its answer.
async fn around_every_request(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut response = metrics::track(&state, request, next).await;
    security::harden(&mut response, state.tls);
    response
}

/// Percent-encodes text for a URL's query or path, or a header's RFC 8187 value: everything
/// but letters, digits and `-._~/` becomes `%XX` of its UTF-8 bytes.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The routes a router's source text declares, each with the methods it answers, read from
/// its `.route("…", …)` calls (on one line or several): for the tests that check every route
/// is in the API document and under an access rule, so a new one cannot slip past them.
#[doc(hidden)]
pub fn routes_declared_in(source: &str) -> Vec<(String, Vec<&'static str>)> {
    let mut routes = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        // Up to the next `.route(` or the end of the router function.
        let chunk = chunk.split("\n}").next().unwrap_or(chunk);
        let Some(rest) = chunk.trim_start().strip_prefix('"') else {
            continue;
        };
        let Some((path, handlers)) = rest.split_once('"') else {
            continue;
        };
        let methods = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| {
                [" ", "\n", ".", "(", ":"]
                    .iter()
                    .any(|before| handlers.contains(&format!("{before}{m}(")))
            })
            .collect();
        routes.push((path.to_string(), methods));
    }
    routes
}

/// The monitoring endpoints, open to anyone (a load balancer's health check, a Prometheus
/// scrape); the API document includes them.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics::render))]
pub struct MonitoringDoc;

/// Whether the process is up and serving (it checks nothing else).
#[utoipa::path(get, path = "/healthz", tag = "monitoring", security(()),
    responses((status = 200, content_type = "text/plain", body = String, description = "alive")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Whether this instance can serve requests: its database answers. A load balancer sends
/// traffic elsewhere while this is 503.
#[utoipa::path(get, path = "/readyz", tag = "monitoring", security(()),
    responses((status = 200, content_type = "text/plain", body = String, description = "the database answers"),
        (status = 503, content_type = "text/plain", body = String, description = "the database does not answer")))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
        }
    }
}

/// Reads a PEM certificate chain and private key into a TLS configuration (HTTP/2 and 1.1).
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<Arc<tokio_rustls::rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("TLS certificate {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("TLS key {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| anyhow::anyhow!("TLS certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves HTTPS until `stop` resolves: a single-box install needs no proxy in front.
pub async fn serve_tls(
    listener: TcpListener,
    app: Arc<Aplomb>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
) -> std::io::Result<()> {
    let (stopping, shutdown) = watch::channel(false);
    let state = AppState::new(app, shutdown, true);
    let router = router(state);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    continue;
                }
            },
        };
        // The client's address, as `axum::serve` gives it on plain HTTP (`ClientAddr`).
        let router = router
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
    let _ = stopping.send(true);
    Ok(())
}

/// Serves until `stop` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Arc<Aplomb>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping, shutdown) = watch::channel(false);
    let state = AppState::new(app, shutdown, false);
    let service = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            stop.await;
            let _ = stopping.send(true);
        })
        .await
}
