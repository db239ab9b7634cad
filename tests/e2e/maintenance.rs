//! Scheduled maintenance through the running server, with a controllable clock: announced
//! ahead on the status page and its Statuspage JSON, started and completed by itself at the
//! set times (its component under maintenance meanwhile, the alerts of its service silenced),
//! and replanned, cancelled and refused through the API and the CLI.

use std::sync::Arc;

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;
use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::alerts::{enqueue, monitored_service, trigger};
use crate::cli::{aplomb, stdout};
use crate::helpers::{ADMIN_TOKEN, Db, TestApp};
use crate::sinks::{WebhookSink, eventually};

crate::for_both_backends!(
    maintenance_starts_and_ends_by_itself,
    maintenance_is_replanned_cancelled_and_refused,
);

async fn spawn(db: Db) -> Option<(TestApp, Arc<ManualClock>)> {
    let clock = Arc::new(ManualClock::new(
        "2026-03-02T10:00:00Z".parse().expect("time"),
    ));
    let app = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await?;
    Some((app, clock))
}

async fn document(app: &TestApp, path: &str) -> Value {
    let r = reqwest::get(format!("{}/status/api/v2/{path}", app.base))
        .await
        .expect("the server answers");
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.expect("JSON")
}

/// The first scheduled maintenance `path` lists, once its status is `status`.
async fn listed(app: &TestApp, path: &str, status: &str) -> Value {
    eventually(&format!("{path} lists a maintenance {status}"), || async {
        let doc = document(app, path).await;
        doc["scheduled_maintenances"]
            .as_array()
            .and_then(|list| list.iter().find(|m| m["status"] == status).cloned())
    })
    .await
}

async fn component_status(app: &TestApp, name: &str) -> Value {
    let doc = document(app, "summary.json").await;
    doc["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .map(|c| c["status"].clone())
        .unwrap_or(Value::Null)
}

/// Whether the newest alert with `dedup` was silenced.
async fn silenced(app: &TestApp, key: &str, dedup: &str) -> Value {
    let (status, _) = enqueue(app, "/v2/enqueue", &trigger(key, dedup, "critical")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, alerts) = app.admin(Method::GET, "/api/v1/alerts", None).await;
    let alert = alerts
        .as_array()
        .and_then(|list| list.iter().find(|a| a["dedup_key"] == dedup).cloned())
        .unwrap_or_else(|| panic!("alert {dedup} is listed: {alerts}"));
    alert["silenced"].clone()
}

async fn search_component(app: &TestApp) {
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/status/components",
            Some(json!({"name": "Search", "services": ["search"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn maintenance_starts_and_ends_by_itself(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let Some((app, clock)) = spawn(db).await else {
        return;
    };
    let key = monitored_service(&app, &hooks.url).await;
    search_component(&app).await;
    let plan = json!({"title": "Search index rebuild",
        "description": "Search may return older results for a while.",
        "scheduled_for": "2026-03-02T11:00:00Z", "scheduled_until": "2026-03-02T12:00:00Z",
        "components": ["Search"]});
    let (status, m) = app
        .admin(Method::POST, "/api/v1/maintenances", Some(plan))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(
        (&m["status"], &m["components"], &m["silenced_services"]),
        (&json!("scheduled"), &json!(["Search"]), &json!(["search"]))
    );
    let id = m["id"].as_i64().expect("an id");
    let public_id = format!("maintenance-{id}");

    // Announced ahead: upcoming, in the summary, on the page; nothing is under way yet.
    let upcoming = listed(&app, "scheduled-maintenances/upcoming.json", "scheduled").await;
    assert_eq!(
        (
            &upcoming["id"],
            &upcoming["impact"],
            &upcoming["scheduled_for"]
        ),
        (
            &json!(public_id),
            &json!("maintenance"),
            &json!("2026-03-02T11:00:00Z")
        )
    );
    let summary = document(&app, "summary.json").await;
    assert_eq!(
        summary["scheduled_maintenances"][0]["id"], public_id,
        "{summary}"
    );
    let active = document(&app, "scheduled-maintenances/active.json").await;
    assert_eq!(active["scheduled_maintenances"], json!([]));
    assert_eq!(component_status(&app, "Search").await, "operational");
    let page = reqwest::get(format!("{}/status", app.base))
        .await
        .expect("the page")
        .text()
        .await
        .expect("HTML");
    assert!(
        page.contains("Scheduled maintenance") && page.contains("Search index rebuild"),
        "{page}"
    );
    assert_eq!(
        silenced(&app, &key, "before").await,
        false,
        "before its window, alerts page as usual"
    );

    // Its window opens: it starts by itself, at its set time.
    clock.advance(SignedDuration::from_mins(61));
    let started = listed(&app, "scheduled-maintenances/active.json", "in_progress").await;
    assert_eq!(started["started_at"], "2026-03-02T11:00:00Z");
    assert_eq!(
        started["incident_updates"][0]["affected_components"][0]["new_status"],
        "under_maintenance"
    );
    assert_eq!(component_status(&app, "Search").await, "under_maintenance");
    let (_, m) = app
        .admin(Method::GET, &format!("/api/v1/maintenances/{id}"), None)
        .await;
    assert_eq!(m["status"], "in_progress", "{m}");
    assert_eq!(
        silenced(&app, &key, "during").await,
        true,
        "during its window, the alerts of its service page nobody"
    );

    // Its window closes: it completes by itself and the component is back.
    clock.advance(SignedDuration::from_mins(60));
    let done = listed(&app, "scheduled-maintenances.json", "completed").await;
    assert_eq!(done["resolved_at"], "2026-03-02T12:00:00Z");
    let told: Vec<&str> = done["incident_updates"]
        .as_array()
        .expect("updates")
        .iter()
        .filter_map(|u| u["status"].as_str())
        .collect();
    assert_eq!(told, ["completed", "in_progress", "scheduled"]);
    let active = document(&app, "scheduled-maintenances/active.json").await;
    assert_eq!(active["scheduled_maintenances"], json!([]));
    assert_eq!(component_status(&app, "Search").await, "operational");
    assert_eq!(silenced(&app, &key, "after").await, false);
    app.shutdown().await;
}

async fn maintenance_is_replanned_cancelled_and_refused(db: Db) {
    let Some((app, clock)) = spawn(db).await else {
        return;
    };
    app.admin(
        Method::POST,
        "/api/v1/services",
        Some(json!({"name": "search"})),
    )
    .await;
    search_component(&app).await;
    let viewer = app.user("vera", "viewer").await;
    let post = |body: Value| app.admin(Method::POST, "/api/v1/maintenances", Some(body));
    for (body, field) in [
        (
            json!({"title": "x", "scheduled_for": "2026-03-02T12:00:00Z", "scheduled_until": "2026-03-02T11:00:00Z"}),
            "scheduled_until",
        ),
        (
            json!({"title": "x", "scheduled_until": "tomorrow"}),
            "scheduled_until",
        ),
        (
            json!({"title": " ", "scheduled_until": "2026-03-02T11:00:00Z"}),
            "title",
        ),
        (
            json!({"title": "x", "scheduled_until": "2026-03-02T11:00:00Z", "components": ["Nope"]}),
            "components",
        ),
        (
            json!({"title": "x", "scheduled_until": "2026-04-30T11:00:00Z"}),
            "scheduled_until",
        ),
    ] {
        let (status, answer) = post(body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {answer}"
        );
        assert_eq!(answer["error"]["field"], field, "{body} → {answer}");
    }
    let (status, _) = app
        .call(
            &viewer,
            Method::POST,
            "/api/v1/maintenances",
            Some(json!({"title": "x", "scheduled_until": "2026-03-02T11:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers do not schedule");

    // Through the CLI: scheduled two hours ahead (of the real time: the server's clock is
    // behind it), listed, replanned, then cancelled.
    let out = stdout(
        &aplomb(
            &app,
            ADMIN_TOKEN,
            &[
                "maintenance",
                "schedule",
                "Network switch swap",
                "--from",
                "+2h",
                "--until",
                "+3h",
                "--component",
                "Search",
            ],
        )
        .await,
    );
    assert!(
        out.contains("scheduled: Network switch swap (scheduled"),
        "{out}"
    );
    let (_, list) = app.admin(Method::GET, "/api/v1/maintenances", None).await;
    let id = list[0]["id"].as_i64().expect("listed");
    let table = stdout(&aplomb(&app, ADMIN_TOKEN, &["maintenance", "list"]).await);
    assert!(
        table.contains("Network switch swap") && table.contains("Search"),
        "{table}"
    );
    let edited = stdout(
        &aplomb(
            &app,
            ADMIN_TOKEN,
            &[
                "maintenance",
                "edit",
                &id.to_string(),
                "--title",
                "Core switch swap",
            ],
        )
        .await,
    );
    assert!(edited.contains("Core switch swap"), "{edited}");
    let (_, silences) = app.admin(Method::GET, "/api/v1/silences", None).await;
    assert_eq!(
        silences[0]["reason"], "Scheduled maintenance: Core switch swap",
        "its silence follows the new plan: {silences}"
    );
    listed_upcoming(&app, "Core switch swap").await;

    let complete = aplomb(
        &app,
        ADMIN_TOKEN,
        &["maintenance", "complete", &id.to_string()],
    )
    .await;
    assert!(
        !complete.status.success(),
        "not started: cancel, not complete"
    );
    assert!(
        String::from_utf8_lossy(&complete.stderr).contains("cancel it instead"),
        "{}",
        String::from_utf8_lossy(&complete.stderr)
    );
    let cancelled = stdout(
        &aplomb(
            &app,
            ADMIN_TOKEN,
            &["maintenance", "cancel", &id.to_string()],
        )
        .await,
    );
    assert!(cancelled.contains("cancelled"), "{cancelled}");
    eventually("the cancelled maintenance leaves the page", || async {
        let doc = document(&app, "scheduled-maintenances.json").await;
        (doc["scheduled_maintenances"] == json!([])).then_some(())
    })
    .await;
    let (_, silences) = app.admin(Method::GET, "/api/v1/silences", None).await;
    assert_eq!(silences, json!([]), "its silences went with it");
    let path = format!("/api/v1/maintenances/{id}");
    let (status, again) = app
        .admin(Method::PATCH, &path, Some(json!({"status": "cancelled"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, _) = app
        .admin(Method::PATCH, &path, Some(json!({"title": "Later"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "over: it no longer changes");
    let (status, _) = app
        .admin(Method::GET, "/api/v1/maintenances/999", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // One under way is completed early: it ends now, not at its set end.
    let (_, running) = post(
        json!({"title": "Reindex", "scheduled_until": "2026-03-02T13:00:00Z",
        "components": ["Search"]}),
    )
    .await;
    let path = format!("/api/v1/maintenances/{}", running["id"]);
    eventually("a maintenance starting now is under way", || async {
        let (_, m) = app.admin(Method::GET, &path, None).await;
        (m["status"] == "in_progress").then_some(())
    })
    .await;
    let (status, answer) = app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"scheduled_for": "2026-03-02T10:30:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "scheduled_for");
    clock.advance(SignedDuration::from_mins(10));
    let (status, ended) = app
        .admin(Method::PATCH, &path, Some(json!({"status": "completed"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["ended_at"], "2026-03-02T10:10:00Z");
    let done = listed(&app, "scheduled-maintenances.json", "completed").await;
    assert_eq!(done["resolved_at"], "2026-03-02T10:10:00Z");
    app.shutdown().await;
}

async fn listed_upcoming(app: &TestApp, title: &str) {
    eventually(&format!("{title} is upcoming"), || async {
        let doc = document(app, "scheduled-maintenances/upcoming.json").await;
        (doc["scheduled_maintenances"][0]["name"] == title).then_some(())
    })
    .await;
}
