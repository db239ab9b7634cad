//! Real receivers on loopback for outbound pages: an SMTP server (Python's aiosmtpd, writing a
//! maildir) and a webhook receiver that records requests and can be told to fail.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use crate::helpers::required;

/// Waits (polling, at most 10 s) until `check` yields something.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 10 s");
}

/// A throwaway CA and a certificate it issued for `localhost` and 127.0.0.1, made with openssl.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    /// `None` (with a notice) where openssl is missing; required under CI.
    pub fn make() -> Option<Self> {
        let dir = tempfile::tempdir().expect("a dir").keep();
        let openssl = |args: &[&str]| {
            std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write");
        let made = openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=aplomb test CA",
        ]) && openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ]) && openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ]);
        if !made {
            assert!(
                !required(),
                "openssl is required under CI to make test certificates"
            );
            eprintln!("NOTICE: skipping a TLS story: openssl is missing");
            return None;
        }
        Some(Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("leaf.pem"),
            key: dir.join("leaf.key"),
        })
    }
}

pub struct SmtpSink {
    pub url: String,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free loopback port; `None` (with a notice) where it is missing.
    pub async fn start() -> Option<Self> {
        Self::launch(None).await
    }

    /// Like `start`, offering STARTTLS with a certificate for `localhost` issued by a throwaway
    /// CA; returns the CA's PEM file too.
    pub async fn start_tls() -> Option<(Self, PathBuf)> {
        let pki = Pki::make()?;
        let sink = Self::launch(Some((pki.cert.clone(), pki.key.clone()))).await?;
        Some((sink, pki.ca))
    }

    async fn launch(tls: Option<(PathBuf, PathBuf)>) -> Option<Self> {
        let found = std::process::Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                !required(),
                "aiosmtpd is required under CI: pip install aiosmtpd"
            );
            eprintln!(
                "NOTICE: skipping an email story: Python's aiosmtpd is missing (pip install aiosmtpd)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a maildir");
        let mut command = tokio::process::Command::new("python3");
        command.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert, key)) = &tls {
            command.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        let child = command
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        eventually("aiosmtpd listening", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(drop)
        })
        .await;
        Some(Self {
            url: match tls {
                Some(_) => format!("smtp://localhost:{port}?tls=starttls"),
                None => format!("smtp://127.0.0.1:{port}"),
            },
            dir,
            _child: child,
        })
    }

    /// Every message received so far, as raw RFC 5322 text.
    pub fn messages(&self) -> Vec<String> {
        let new: PathBuf = self.dir.path().join("mail").join("new");
        let mut files: Vec<_> = std::fs::read_dir(new)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect()
    }
}

/// One request a webhook receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

#[derive(Clone)]
struct Inbox {
    received: Arc<Mutex<Vec<Received>>>,
    failures_left: Arc<AtomicUsize>,
    /// While false, requests are recorded on arrival but not answered (a slow receiver).
    open: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Inbox {
    fn default() -> Self {
        Self {
            received: Arc::default(),
            failures_left: Arc::default(),
            open: Arc::new(tokio::sync::watch::Sender::new(true)),
        }
    }
}

pub struct WebhookSink {
    /// `{base}/hook`; any other path under `base` is received too.
    pub url: String,
    pub base: String,
    inbox: Inbox,
}

/// Records a request and answers 500 while failures are still owed, then 200.
async fn record(
    axum::extract::State(inbox): axum::extract::State<Inbox>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let path = uri.path().to_string();
    inbox.received.lock().expect("inbox").push(Received {
        path,
        headers,
        body,
    });
    let _ = inbox.open.subscribe().wait_for(|open| *open).await;
    let fail = inbox
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl WebhookSink {
    /// A receiver that answers 500 to its first `fail_first` requests, then 200.
    pub async fn start(fail_first: usize) -> Self {
        let inbox = Inbox::default();
        inbox.failures_left.store(fail_first, Ordering::SeqCst);
        let app = Router::new()
            .fallback(post(record))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("{base}/hook"),
            base,
            inbox,
        }
    }

    /// A receiver that takes requests but answers none until `release`.
    pub async fn start_held() -> Self {
        let sink = Self::start(0).await;
        sink.inbox.open.send_replace(false);
        sink
    }

    /// Answers every held request, and the next ones at once.
    pub fn release(&self) {
        self.inbox.open.send_replace(true);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().expect("inbox").clone()
    }
}

/// What a Python script (run with `python3 -c`) prints as JSON when given `input` on its
/// standard input: how a test reads a message with Python's standard email parser.
pub fn python_reads(script: &str, input: &str) -> serde_json::Value {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("the input is written");
    let out = child.wait_with_output().expect("python3 answers");
    serde_json::from_slice(&out.stdout).expect("JSON")
}
