//! The CLI client: every command is one or two calls to the REST API.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub mod accounts;
pub mod action_items;
pub mod alerts;
pub mod auth;
pub mod backup;
pub mod communication;
pub mod coordination;
pub mod drills;
pub mod incidents;
pub mod investigation;
pub mod maintenance;
pub mod metrics;
pub mod oncall;
pub mod playbooks;
pub mod reports;
pub mod review;
pub mod services;
pub mod status;

pub use accounts::{TokenCommand, UserCommand};
pub use alerts::{AlertCommand, EventArgs, IntegrationCommand};
pub use coordination::{ChangeCommand, TaskCommand};
pub use incidents::IncidentCommand;
pub use investigation::{EvidenceCommand, HypothesisCommand};
pub use maintenance::MaintenanceCommand;
pub use oncall::ContactCommand;
pub use reports::ReportCommand;
pub use services::ServiceCommand;
pub use status::{BrandingCommand, ComponentCommand, StatusSubscriberCommand};

/// The server when neither a flag, the environment nor `aplomb login` names one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Where the server is and who we are.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Base URL of the aplomb server [default: the one `aplomb login` stored, else
    /// http://127.0.0.1:8080].
    #[arg(long, env = "APLOMB_URL", global = true)]
    pub url: Option<String>,
    /// API token [default: the one `aplomb login` stored, for its server]; or create one on
    /// the web UI's Tokens page.
    #[arg(long, env = "APLOMB_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// PEM file of a private CA to trust for an https:// server's certificate (besides the
    /// usual public roots).
    #[arg(long, env = "APLOMB_CA_FILE", global = true)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// What went wrong, and the exit code that says so.
#[derive(Debug)]
pub enum CliError {
    /// The server could not be reached.
    Connection(String),
    /// The server answered with an error.
    Api {
        status: StatusCode,
        message: String,
    },
    Usage(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Api { .. } => ExitCode::from(1),
            Self::Usage(_) => ExitCode::from(2),
            Self::Connection(_) => ExitCode::from(3),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connection(m) | Self::Usage(m) => f.write_str(m),
            Self::Api { status, message } => write!(f, "{message} (HTTP {})", status.as_u16()),
        }
    }
}

/// The HTTP client: rustls with the public (webpki) roots, plus `ca_file`'s certificates.
fn http_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "--ca-file {}: no PEM certificate in it",
                path.display()
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("setting up HTTPS: {}", root_cause(&e)))
}

pub struct Client {
    base: String,
    token: Option<String>,
    /// The user `aplomb login` signed in as, when its token is the one in use.
    stored_user: Option<String>,
    /// The server `aplomb login` signed in to, when it is not this one (its token stays there).
    signed_in_elsewhere: Option<String>,
    http: reqwest::Client,
    /// Why the client cannot talk to the server (e.g. an unreadable login file), said at the
    /// first request.
    problem: Option<String>,
    pub json: bool,
}

impl Client {
    /// Flags and environment first, then what `aplomb login` stored.
    pub fn new(conn: &Connection) -> Self {
        let trimmed = |url: &str| url.trim_end_matches('/').to_string();
        let (stored, mut problem) = match auth::load() {
            Ok(stored) => (stored, None),
            Err(e) => (None, Some(e)),
        };
        if conn.url.is_some() && conn.token.is_some() {
            problem = None;
        }
        let base = conn
            .url
            .as_deref()
            .or(stored.as_ref().map(|s| s.url.as_str()))
            .map_or_else(|| DEFAULT_URL.to_string(), trimmed);
        // The stored token goes only to the server that issued it.
        let signed_in_elsewhere = stored
            .as_ref()
            .map(|s| trimmed(&s.url))
            .filter(|url| *url != base);
        let stored = stored.filter(|s| trimmed(&s.url) == base);
        let ca_file = conn
            .ca_file
            .clone()
            .or_else(|| stored.as_ref().and_then(|s| s.ca_file.clone()));
        let (token, stored_user) = match (&conn.token, stored) {
            (Some(token), _) => (Some(token.clone()), None),
            (None, Some(s)) => (Some(s.token), Some(s.username)),
            (None, None) => (None, None),
        };
        let http = match http_client(ca_file.as_deref()) {
            Ok(http) => http,
            Err(e) => {
                problem = Some(e);
                reqwest::Client::new()
            }
        };
        Self {
            base,
            token,
            stored_user,
            signed_in_elsewhere,
            http,
            problem,
            json: conn.json,
        }
    }

    /// Sends a request and reads the answer as JSON (or as text when it is not JSON).
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Value), CliError> {
        let response = self.send(request).await?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreadable(&e))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    fn unreadable(&self, e: &reqwest::Error) -> CliError {
        CliError::Connection(format!("reading the answer from {}: {e}", self.base))
    }

    /// Sends a request, saying what to do when the server cannot be reached.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, CliError> {
        if let Some(problem) = &self.problem {
            return Err(CliError::Usage(problem.clone()));
        }
        request.send().await.map_err(|e| {
            let cause = root_cause(&e);
            // rustls says "invalid peer certificate: UnknownIssuer"; say what to do about it.
            let hint = if cause.contains("certificate") {
                "; if the server's certificate is issued by a private CA, pass that CA's PEM \
                 with --ca-file (or APLOMB_CA_FILE)"
            } else {
                ""
            };
            CliError::Connection(format!(
                "cannot reach aplomb at {}: {cause}{hint}",
                self.base
            ))
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let mut request = self.authorized(method, path)?;
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.answer(request).await
    }

    /// A request to the API under `/api/v1`, carrying the caller's token.
    fn authorized(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder, CliError> {
        let token = self.token.as_deref().ok_or_else(|| {
            CliError::Usage(match &self.signed_in_elsewhere {
                Some(url) => format!(
                    "no API token for {}: `aplomb login` signed in to {url}, and its token goes \
                     only there; run `aplomb login --url {}`, or pass --token",
                    self.base, self.base
                ),
                None => {
                    "no API token: run `aplomb login`, or pass --token or set APLOMB_TOKEN".into()
                }
            })
        })?;
        let url = format!("{}/api/v1{path}", self.base);
        Ok(self.http.request(method, &url).bearer_auth(token))
    }

    /// A POST of raw bytes (a file) as `content_type`; the answer is JSON.
    async fn upload(
        &self,
        path: &str,
        content_type: &str,
        content: Vec<u8>,
    ) -> Result<Value, CliError> {
        let request = self
            .authorized(Method::POST, path)?
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(content);
        self.answer(request).await
    }

    /// A GET whose answer is a file's bytes (or the server's error message).
    async fn download(&self, path: &str) -> Result<Vec<u8>, CliError> {
        let response = self.send(self.authorized(Method::GET, path)?).await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreadable(&e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let message = value["error"]["message"].as_str().map_or_else(
            || String::from_utf8_lossy(&bytes).into_owned(),
            String::from,
        );
        Err(CliError::Api { status, message })
    }

    /// A POST that needs no token (signing in).
    async fn call_without_token(&self, path: &str, body: Value) -> Result<Value, CliError> {
        let request = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .json(&body);
        self.answer(request).await
    }

    /// The answer's JSON, or the server's error message.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Value, CliError> {
        let (status, value) = self.exchange(request).await?;
        if status.is_success() {
            return Ok(value);
        }
        let message = value["error"]["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("unexpected answer: {value}"));
        Err(CliError::Api { status, message })
    }

    /// Prints `value` as JSON in `--json` mode, otherwise as `human` renders it.
    fn print(&self, value: &Value, human: impl FnOnce(&Value) -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            print!("{}", human(value));
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A value made safe for a path segment or a query string.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A query string of the pairs given a value, each value encoded.
fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<String>)>) -> String {
    let given: Vec<String> = pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
        .collect();
    given.join("&")
}

/// Each item of a JSON list as `text` says it; nothing for anything but a list.
fn texts(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(text).collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Left-aligned columns, two spaces apart.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&mut out, &mut headers.iter().copied());
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let out = table(&["ID", "TITLE"], &[vec!["12".into(), "Disk full".into()]]);
        assert_eq!(out, "ID  TITLE\n12  Disk full\n");
    }
}
