//! What the benches share: their command-line numbers, and one aplomb instance, engine included, on a loopback port over a new
//! SQLite file, with the admin token `bench` and no per-key rate limit to speak of.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aplomb::app::Aplomb;
use aplomb::clock::SystemClock;
use aplomb::domain::access::Actor;
use aplomb::engine::EngineHandle;
use aplomb::engine::channels::OutboundConfig;
use aplomb::server::{ServeOptions, prepare, start_engine};

/// The number after `--name` on the command line, or `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

pub struct Server {
    pub app: Arc<Aplomb>,
    pub address: SocketAddr,
    pub engine: EngineHandle,
    /// The user behind the `bench` token.
    pub admin: Actor,
    /// Holds the database file (and anything else a bench puts there) until the bench ends.
    pub dir: tempfile::TempDir,
}

/// Starts a server whose database is `file` in a new temporary directory.
pub async fn start(file: &str) -> Server {
    let dir = tempfile::tempdir().expect("dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let address = listener.local_addr().expect("addr");
    let mut options = ServeOptions::new(
        &address.to_string(),
        &format!("sqlite://{}/{file}", dir.path().display()),
    );
    options.admin_token = Some("bench".into());
    options.events_per_second_per_key = Some(1_000_000);
    let app = prepare(&options, Arc::new(SystemClock))
        .await
        .expect("aplomb starts");
    let engine = start_engine(&app, OutboundConfig::default(), Duration::from_millis(500))
        .await
        .expect("engine");
    tokio::spawn(aplomb::http::serve(
        listener,
        app.clone(),
        std::future::pending(),
    ));
    let admin = app
        .actor_for_token("bench")
        .await
        .expect("db")
        .expect("admin");
    Server {
        app,
        address,
        engine,
        admin,
        dir,
    }
}
