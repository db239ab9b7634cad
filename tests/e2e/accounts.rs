//! Accounts as operators and people meet them: start-up with an admin token, signing in,
//! API tokens.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::process::{Child, Command};

use crate::crash::free_port;
use crate::helpers::{ADMIN_TOKEN, Db, TestDb};

/// Starts `aplomb serve` on `port` without waiting for it.
fn serve(url: &str, port: u16) -> Child {
    serve_with_token(url, port, ADMIN_TOKEN)
}

fn serve_with_token(url: &str, port: u16, admin_token: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            url,
        ])
        .env("APLOMB_ADMIN_TOKEN", admin_token)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts")
}

/// Waits until the server on `port` answers `/healthz`, or says how it exited.
async fn ready(child: &mut Child, port: u16) -> Result<(), String> {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            let mut log = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = stderr.read_to_string(&mut log).await;
            }
            return Err(format!("exited with {status}: {log}"));
        }
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("did not become ready in 15 s".into())
}

/// Instances deployed together on a fresh PostgreSQL database, all given the admin token:
/// all start, and the token works on each. (Three rounds of three: the race is narrow.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_with_an_admin_token_all_start() {
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let Some(db) = TestDb::new(Db::Postgres).await else {
            return;
        };
        let ports = [free_port(), free_port(), free_port()];
        let mut children: Vec<Child> = ports.iter().map(|&p| serve(&db.url, p)).collect();
        for (child, &port) in children.iter_mut().zip(&ports) {
            ready(child, port)
                .await
                .unwrap_or_else(|e| panic!("the instance on port {port} {e}"));
            let whoami = http
                .get(format!("http://127.0.0.1:{port}/api/v1/whoami"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("an answer");
            assert_eq!(whoami.status(), StatusCode::OK);
        }
        for mut child in children {
            let _ = child.kill().await;
        }
    }
}

/// An operator sets a new APLOMB_ADMIN_TOKEN on a database that already has users: it cannot
/// apply, and the log says so instead of ignoring it silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_token_on_a_database_with_users_is_refused_with_a_warning() {
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let port = free_port();
    let mut first = serve(&db.url, port);
    ready(&mut first, port).await.expect("the first start");
    first.kill().await.expect("stopped");

    let mut second = serve_with_token(&db.url, port, "a-new-token");
    ready(&mut second, port).await.expect("the second start");
    let refused = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/whoami"))
        .bearer_auth("a-new-token")
        .send()
        .await
        .expect("an answer");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    second.kill().await.expect("stopped");
    let mut log = String::new();
    if let Some(mut stderr) = second.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = stderr.read_to_string(&mut log).await;
    }
    assert!(
        log.contains("APLOMB_ADMIN_TOKEN is ignored"),
        "no warning in: {log}"
    );
}
