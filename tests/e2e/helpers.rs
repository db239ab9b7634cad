//! The harness: a real aplomb server on a random loopback port with its own fresh database,
//! SQLite (a temp file) or PostgreSQL (a new database per test, dropped afterwards).

use std::sync::Arc;

use aplomb::app::Aplomb;
use aplomb::clock::{Clock, SystemClock};
use aplomb::engine::EngineHandle;
use aplomb::engine::channels::OutboundConfig;
use aplomb::server::{ServeOptions, prepare, start_engine};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// True under CI, where a missing PostgreSQL or browser is a failure rather than a skip.
/// The value of one series in a Prometheus exposition, `series` being its name and labels
/// exactly as written (`name` or `name{a="b"}`).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn pg_admin_url() -> String {
    std::env::var("APLOMB_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database; PostgreSQL ones are dropped when this is.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(db: Db) -> Option<Self> {
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("a temp dir");
                let url = format!("sqlite://{}/aplomb.db?mode=rwc", dir.path().display());
                Some(Self {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                })
            }
            Db::Postgres => {
                let admin = pg_admin_url();
                let conn = match pg_connect(&admin).await {
                    Ok(conn) => conn,
                    Err(e) if required() => {
                        panic!("PostgreSQL is required under CI but unreachable at {admin}: {e}")
                    }
                    Err(e) => {
                        eprintln!(
                            "NOTICE: skipping the PostgreSQL run: cannot connect to {admin}: {e}"
                        );
                        return None;
                    }
                };
                let name = format!("aplomb_test_{}", &aplomb::app::new_secret()[..16]);
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create a test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Some(Self {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }
}

/// A PostgreSQL session for test set-up (creating and dropping databases, ending sessions).
pub async fn pg_connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async code; a short-lived thread with its own runtime does the I/O.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(conn) = pg_connect(&pg_admin_url()).await {
                    let _ = conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub base: String,
    pub database_url: String,
    pub app: Arc<Aplomb>,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    engine: Option<EngineHandle>,
    // Declared last: the database outlives the server using it. `None` on a second instance.
    _db: Option<TestDb>,
}

impl TestApp {
    /// Starts aplomb on `db`; `None` when that backend is unavailable outside CI.
    pub async fn spawn(db: Db) -> Option<Self> {
        Self::spawn_with(db, false).await
    }

    pub async fn spawn_with(db: Db, demo: bool) -> Option<Self> {
        let test_db = TestDb::new(db).await?;
        let url = test_db.url.clone();
        Some(
            Self::start(url, Some(test_db), Arc::new(SystemClock), None, |o| {
                o.demo = demo
            })
            .await,
        )
    }

    /// A server whose paging engine runs on `clock` (advance it instead of waiting) and sends
    /// pages as `outbound` says.
    pub async fn spawn_paging(
        db: Db,
        clock: Arc<dyn Clock>,
        outbound: OutboundConfig,
    ) -> Option<Self> {
        Self::spawn_configured(db, clock, outbound, |_| {}).await
    }

    /// A second server sharing this one's database, as a second instance in production would.
    pub async fn another_instance(&self) -> Self {
        Self::start(
            self.database_url.clone(),
            None,
            Arc::new(SystemClock),
            None,
            |_| {},
        )
        .await
    }

    /// A second server on this one's database, reached through `url` (another way to write
    /// its address, e.g. a list of hosts).
    pub async fn another_instance_at(&self, url: String) -> Self {
        Self::start(url, None, Arc::new(SystemClock), None, |_| {}).await
    }

    /// Another server (and engine) on this one's database, e.g. after this one crashed.
    pub async fn restart_on(&self, clock: Arc<dyn Clock>, outbound: OutboundConfig) -> Self {
        Self::start(
            self.database_url.clone(),
            None,
            clock,
            Some(outbound),
            |_| {},
        )
        .await
    }

    /// Like `spawn_paging`, with server options adjusted by `configure`.
    pub async fn spawn_configured(
        db: Db,
        clock: Arc<dyn Clock>,
        outbound: OutboundConfig,
        configure: impl FnOnce(&mut ServeOptions),
    ) -> Option<Self> {
        let test_db = TestDb::new(db).await?;
        Some(
            Self::start(
                test_db.url.clone(),
                Some(test_db),
                clock,
                Some(outbound),
                configure,
            )
            .await,
        )
    }

    async fn start(
        database_url: String,
        db: Option<TestDb>,
        clock: Arc<dyn Clock>,
        outbound: Option<OutboundConfig>,
        configure: impl FnOnce(&mut ServeOptions),
    ) -> Self {
        // Server warnings and errors show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(tracing::Level::WARN)
            .try_init();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("bound");
        let base = format!("http://{address}");
        let mut options = ServeOptions::new(&address.to_string(), &database_url);
        options.admin_token = Some(ADMIN_TOKEN.into());
        configure(&mut options);
        let app = prepare(&options, clock).await.expect("aplomb starts");
        let engine = match outbound {
            Some(mut outbound) => {
                outbound.public_url = base.clone();
                let poll = std::time::Duration::from_millis(20);
                Some(
                    start_engine(&app, outbound, poll)
                        .await
                        .expect("the engine starts"),
                )
            }
            None => None,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(aplomb::http::serve(listener, app.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            base,
            database_url,
            app,
            http: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
            engine,
            _db: db,
        }
    }

    /// Stops the server and waits until it has finished.
    pub async fn shutdown(mut self) {
        if let Some(engine) = self.engine.take() {
            engine.stop().await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server ran cleanly");
        }
        self.app.store.close().await;
    }

    /// An API call with `token`; returns the status and the JSON body (Null when empty).
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(ADMIN_TOKEN, method, path, body).await
    }

    /// What the API says of these incidents and their timelines (each asserted 200), to compare
    /// before and after something that must leave them unchanged.
    pub async fn incident_records(&self, incidents: impl IntoIterator<Item = i64>) -> Vec<Value> {
        let mut seen = Vec::new();
        for id in incidents {
            for path in [
                format!("/api/v1/incidents/{id}"),
                format!("/api/v1/incidents/{id}/timeline"),
            ] {
                let (status, body) = self.admin(Method::GET, &path, None).await;
                assert_eq!(status, StatusCode::OK, "{path}: {body}");
                seen.push(body);
            }
        }
        seen
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Creates a user with a password and an API token; returns the token.
    pub async fn user(&self, username: &str, role: &str) -> String {
        let (status, body) = self
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(json!({"username": username, "role": role, "password": password(username)})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "creating {username}: {body}");
        let (status, body) = self
            .admin(
                Method::POST,
                &format!("/api/v1/users/{username}/tokens"),
                Some(json!({"name": "tests"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("a token").to_string()
    }

    /// Declares an incident as `token`'s user and returns its id.
    pub async fn declare(&self, token: &str, body: Value) -> i64 {
        let (status, created) = self
            .call(token, Method::POST, "/api/v1/incidents", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_i64().expect("an id")
    }

    /// Signs in through the login form like a browser and returns a client holding the cookie.
    pub async fn web_session(&self, username: &str) -> WebSession {
        self.web_session_with(username, &password(username)).await
    }

    /// Like `web_session`, with a given password (demo users have their own).
    pub async fn web_session_with(&self, username: &str, password: &str) -> WebSession {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let response = post_login(
            &client,
            &self.base,
            &[
                ("username", username),
                ("password", password),
                ("next", "/incidents"),
            ],
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "login as {username}"
        );
        let cookie = set_cookie(&response, "aplomb_session").expect("a session cookie");
        WebSession {
            base: self.base.clone(),
            client,
            cookie,
        }
    }
}

impl TestApp {
    /// Ends this server as a crash would: the engine is aborted mid-flight, the server stops
    /// taking requests, and nothing is flushed or finished.
    pub fn crash(mut self) {
        if let Some(engine) = self.engine.take() {
            engine.abort();
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        // The database outlives the crash: whoever restarts on it owns it now.
        std::mem::forget(self._db.take());
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The `name=value` of the cookie `name` a response sets, if it sets one.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.split_once('=').is_some_and(|(n, _)| n == name))
        .map(String::from)
}

/// Posts the login form as a browser does: loads it first, for the CSRF token it carries in
/// a hidden field and in a cookie, then posts `fields` with both.
pub async fn post_login(
    client: &reqwest::Client,
    base: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let form = client
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("the login form");
    let cookie = set_cookie(&form, "aplomb_login").expect("the login form's cookie");
    let page = form.text().await.expect("the login page");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the login form's CSRF field")
        .to_string();
    let mut with = vec![("csrf", csrf.as_str())];
    with.extend_from_slice(fields);
    client
        .post(format!("{base}/login"))
        .header("cookie", cookie)
        .form(&with)
        .send()
        .await
        .expect("login answers")
}

/// Each test user's password, derived from the name.
pub fn password(username: &str) -> String {
    format!("{username}-password")
}

pub struct WebSession {
    pub base: String,
    pub client: reqwest::Client,
    pub cookie: String,
}

impl WebSession {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.text().await.expect("a body"))
    }

    /// The CSRF token embedded in a page's forms.
    pub async fn csrf(&self) -> String {
        let (_, html) = self.page("/incidents").await;
        let start = html
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token")
            + 19;
        html[start..start + 64].to_string()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .expect("the server answers")
    }
}

/// Runs each named `async fn(TestApp)` once per storage backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Db::Sqlite).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Db::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// Runs each named `async fn(Db)` once per storage backend (for stories that start their own
/// server, e.g. with a manual clock).
#[macro_export]
macro_rules! for_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Postgres).await;
                }
            )*
        }
    };
}
