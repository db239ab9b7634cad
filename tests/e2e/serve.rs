//! The real binary's start-up, as an operator reads its log (SQLite: nothing here depends on
//! the backend).

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::crash::{free_port, start_server_with};
use crate::helpers::{ADMIN_TOKEN, Db, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_plain_text_and_warns_of_contact_methods_nothing_can_reach() {
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = start_server_with(&db.url, port, &[], Stdio::null()).await;
    let http = reqwest::Client::new();
    for (path, body) in [
        (
            "/api/v1/users",
            json!({"username": "ivy", "role": "responder"}),
        ),
        (
            "/api/v1/users/ivy/contact-methods",
            json!({"kind": "email", "address": "ivy@example.org"}),
        ),
    ] {
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    first.kill().await.expect("stopped");

    // Started again without --smtp-url, its log (a pipe, not a terminal) says so, uncoloured.
    let mut second = start_server_with(&db.url, port, &[], Stdio::piped()).await;
    let mut lines = BufReader::new(second.stderr.take().expect("the log")).lines();
    let mut log = String::new();
    let warned = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
            if line.contains("email pages will fail") {
                return;
            }
        }
    })
    .await;
    second.kill().await.expect("stopped");
    assert!(warned.is_ok(), "no warning within 10 s: {log}");
    assert!(
        log.contains("email pages will fail: no SMTP server is configured"),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "no colour codes: {log:?}");
}
