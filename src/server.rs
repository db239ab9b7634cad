//! `aplomb serve`: opens the database, prepares it for its first user, and serves HTTP.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::Aplomb;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::engine::channels::OutboundConfig;
use crate::engine::{Engine, EngineConfig, EngineHandle};
use crate::store::Store;
use std::time::Duration;

/// The default database: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://aplomb.db";

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: String,
    pub database_url: String,
    pub config: Option<PathBuf>,
    /// API token for an `admin` user created on an empty database (for automation).
    pub admin_token: Option<String>,
    /// Fill an empty database with a small demo organisation and one ongoing incident.
    pub demo: bool,
    /// Where pages go out (SMTP, SMS/voice) and the URL people reach this server at.
    pub outbound: OutboundConfig,
    /// Events per second one routing key may send (429 beyond); the config's default if unset.
    pub events_per_second_per_key: Option<u32>,
    /// PEM certificate chain and key: serve HTTPS instead of HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl ServeOptions {
    /// Options for `listen` and `database_url` with everything else at its default.
    pub fn new(listen: &str, database_url: &str) -> Self {
        Self {
            listen: listen.to_string(),
            database_url: database_url.to_string(),
            config: None,
            admin_token: None,
            demo: false,
            events_per_second_per_key: None,
            tls: None,
            outbound: OutboundConfig {
                smtp_from: "aplomb@localhost".into(),
                public_url: format!("http://{listen}"),
                ..OutboundConfig::default()
            },
        }
    }
}

/// Starts the paging engine of this instance.
pub async fn start_engine(
    app: &Aplomb,
    outbound: OutboundConfig,
    poll: Duration,
) -> anyhow::Result<EngineHandle> {
    let signing_key = app
        .signing_key()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let engine = Engine::new(
        app.store.clone(),
        app.clock.clone(),
        app.announcer(),
        app.engine.clone(),
        EngineConfig {
            poll,
            outbound,
            signing_key,
            cadence: app.settings.cadence.clone(),
            status_page: app.settings.status_page.clone(),
            retention: app.settings.retention,
            tracker: app.settings.tracker.clone(),
        },
    );
    engine.warn_unreachable_methods().await?;
    Ok(engine.spawn())
}

/// Opens storage and readies an empty database: the admin from `admin_token`, demo data, or
/// a one-time setup token printed to the log.
pub async fn prepare(options: &ServeOptions, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Aplomb>> {
    let mut settings = match &options.config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    if let Some(limit) = options.events_per_second_per_key {
        anyhow::ensure!(limit > 0, "--events-per-second-per-key must be at least 1");
        settings.events_per_second_per_key = limit;
    }
    settings.status_page.url = format!(
        "{}/status",
        options.outbound.public_url.trim_end_matches('/')
    );
    let store = Store::connect(&options.database_url).await?;
    let app = Arc::new(Aplomb::new(store, clock, settings)?);
    app.start_listening().await?;
    if let Some(token) = options.admin_token.as_deref() {
        app.bootstrap(Some(token)).await?;
    }
    if options.demo {
        crate::demo::seed(&app).await?;
    }
    if let Some(setup) = app.bootstrap(None).await? {
        tracing::warn!(
            "no users yet: open the web UI and create the first administrator with setup token {setup}"
        );
    }
    Ok(app)
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(options: ServeOptions) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // First: a wrong address fails before the database is touched (or a setup token made);
    // connections that come meanwhile wait in the backlog.
    let listener = TcpListener::bind(&options.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.listen))?;
    let app = prepare(&options, Arc::new(SystemClock)).await?;
    tracing::info!(
        address = %listener.local_addr()?,
        database = ?app.store.backend(),
        startup_ms = started.elapsed().as_millis() as u64,
        "aplomb is ready"
    );
    let tls = match &options.tls {
        Some((cert, key)) => Some(crate::http::tls_config(cert, key)?),
        None => None,
    };
    let engine = start_engine(&app, options.outbound.clone(), Duration::from_millis(500)).await?;
    let store = app.store.clone();
    match tls {
        Some(tls) => crate::http::serve_tls(listener, app, stop_signal(), tls).await?,
        None => crate::http::serve(listener, app, stop_signal()).await?,
    }
    engine.stop().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("stopping");
}
