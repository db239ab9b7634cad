//! Backups: `aplomb backup FILE` copies a live SQLite database through the API, `aplomb
//! restore FILE` puts it back, and the restored server answers exactly as the first did.
//! PostgreSQL refuses, naming pg_dump.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::alerts::{enqueue, trigger};
use crate::cli::{aplomb, stdout};
use crate::crash::service_with_integration;
use crate::helpers::{ADMIN_TOKEN, Db, TestApp, TestDb};

crate::for_both_backends!(a_backup_taken_while_serving_restores_unchanged);

async fn a_backup_taken_while_serving_restores_unchanged(db: Db) {
    let Some(app) = TestApp::spawn_with(db, true).await else {
        return;
    };
    let key = service_with_integration(&app.http, &app.base, "billing").await;
    let mut resolved = trigger(&key, "disk-0", "warning");
    resolved["event_action"] = json!("resolve");
    for event in [
        trigger(&key, "disk-0", "warning"),
        trigger(&key, "disk-1", "warning"),
        resolved,
    ] {
        let (status, answer) = enqueue(&app, "/v2/enqueue", &event).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    let id = app
        .declare(
            ADMIN_TOKEN,
            json!({"title": "Invoices late", "severity": "SEV2", "type": "outage"}),
        )
        .await;
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/incidents/{id}/timeline"),
            Some(json!({"text": "Queue depth is rising"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("nightly.db");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let before = everything(&app).await;
    let out = aplomb(&app, ADMIN_TOKEN, &["backup", file_arg]).await;
    if db == Db::Postgres {
        assert!(!out.status.success(), "a PostgreSQL backup is refused");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("pg_dump") && said.contains("HTTP 409"),
            "{said}"
        );
        pg_dump_restores_unchanged(&app, &before, &dir.path().join("aplomb.dump")).await;
        app.shutdown().await;
        return;
    }
    let said = stdout(&out);
    assert!(said.contains("aplomb restore"), "{said}");
    let viewer = app.user("vic", "viewer").await;
    let refused = aplomb(&app, &viewer, &["backup", file_arg]).await;
    assert!(
        !refused.status.success(),
        "a viewer may not take a copy of everything"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("HTTP 403"));

    // The server carries on; what happens after the backup is not in it.
    app.declare(
        ADMIN_TOKEN,
        json!({"title": "After the backup", "severity": "SEV4"}),
    )
    .await;

    let target = dir.path().join("restored.db");
    let url = format!("sqlite://{}", target.display());
    let restore = |from: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
            .args([
                "restore",
                from.to_str().expect("UTF-8"),
                "--database-url",
                &url,
            ])
            .output()
            .expect("the binary runs")
    };
    let refused_because = |from: &Path, reason: &str| {
        let refused = restore(from);
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{} restored", from.display());
        assert!(said.contains(reason), "{said}");
    };
    let not_a_backup = dir.path().join("notes.txt");
    std::fs::write(&not_a_backup, "not a database at all, just some notes").expect("write");
    refused_because(&not_a_backup, "not a SQLite database");
    refused_because(&dir.path().join("missing.db"), "no such backup file");
    // A SQLite file that is not aplomb's, one a newer aplomb made, and a damaged one.
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .and_then(|c| c.execute_batch("CREATE TABLE recipes (name TEXT)"))
        .expect("a foreign database");
    refused_because(&foreign, "not an aplomb database");
    let newer = dir.path().join("newer.db");
    std::fs::copy(&file, &newer).expect("copy");
    rusqlite::Connection::open(&newer)
        .and_then(|c| {
            c.execute_batch(
                "INSERT INTO schema_migrations (version, description, applied_at) \
                 VALUES (999999, 'from the future', '2036-01-01T00:00:00Z')",
            )
        })
        .expect("a newer schema");
    refused_because(&newer, "made by a newer aplomb");
    let damaged = dir.path().join("damaged.db");
    let mut bytes = std::fs::read(&file).expect("the backup");
    // The header says how big a page is; every page after the first is overwritten.
    let page = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    bytes[page..].fill(0xA5);
    std::fs::write(&damaged, &bytes).expect("write");
    refused_because(&damaged, "damaged");
    let restored = restore(&file);
    let said = String::from_utf8_lossy(&restored.stdout);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(said.contains("incidents: 2, alerts: 2,"), "{said}");

    let second = app.another_instance_at(url.clone()).await;
    assert_eq!(everything(&second).await, before);
    // A database in use is never swapped under its server.
    refused_because(&file, "is in use");
    second.shutdown().await;
    // A database a stopped server used is replaced whole: what it held is gone. (A server of
    // its own process: this one's instances keep their connections to the end.)
    let used = dir.path().join("used.db");
    let used_url = format!("sqlite://{}", used.display());
    let port = crate::crash::free_port();
    let mut server = crate::crash::start_server(&used_url, port, &[]).await;
    let declared = app
        .http
        .post(format!("http://127.0.0.1:{port}/api/v1/incidents"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"title": "Lost on restore", "severity": "SEV4"}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(declared.status(), StatusCode::CREATED);
    server.kill().await.expect("the server stops");
    let over = std::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args([
            "restore",
            file.to_str().expect("UTF-8"),
            "--database-url",
            &used_url,
        ])
        .output()
        .expect("the binary runs");
    assert!(
        over.status.success(),
        "{}",
        String::from_utf8_lossy(&over.stderr)
    );
    let third = app.another_instance_at(used_url).await;
    assert_eq!(everything(&third).await, before);
    third.shutdown().await;
    // Without a token, no copy.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args([
            "backup",
            file_arg,
            "--url",
            &app.base,
            "--token",
            "not-a-token",
        ])
        .env("APLOMB_CONFIG_DIR", dir.path())
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HTTP 401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.shutdown().await;
}

/// The README's PostgreSQL backup, while `app` serves: `pg_dump` its database, `pg_restore`
/// the dump into an empty one, and a server there answers as `app` did.
async fn pg_dump_restores_unchanged(app: &TestApp, before: &[Value], dump: &Path) {
    let run = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        assert!(
            out.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let dump = dump.to_str().expect("UTF-8");
    run(
        "pg_dump",
        &["--format=custom", "--file", dump, &app.database_url],
    );
    let empty = TestDb::new(Db::Postgres).await.expect("PostgreSQL is up");
    run("pg_restore", &["--no-owner", "--dbname", &empty.url, dump]);
    let restored = app.another_instance_at(empty.url.clone()).await;
    assert_eq!(everything(&restored).await, before);
    restored.shutdown().await;
}

/// What the API says about incidents (with their timelines), alerts, people and the
/// on-call setup.
async fn everything(app: &TestApp) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in [
        "/api/v1/incidents",
        "/api/v1/alerts",
        "/api/v1/users",
        "/api/v1/export",
    ] {
        let (status, body) = app.admin(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        seen.push(body);
    }
    let ids: Vec<i64> = seen[0]["items"]
        .as_array()
        .expect("a list of incidents")
        .iter()
        .map(|i| i["id"].as_i64().expect("an id"))
        .collect();
    assert!(ids.len() >= 2, "the demo's incident and the declared one");
    seen.extend(app.incident_records(ids).await);
    seen
}
