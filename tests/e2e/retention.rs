//! Retention: resolved alerts, delivery attempts and idempotency keys older than the kept
//! age are pruned in the background; incidents, their timelines and the alerts they hold stay.

use std::sync::Arc;

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;
use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::alerts::{enqueue, monitored_service, trigger};
use crate::crash::service_with_integration;
use crate::helpers::{ADMIN_TOKEN, Db, TestApp};
use crate::sinks::{WebhookSink, eventually};

crate::for_both_backends!(old_alerts_attempts_and_keys_go_incidents_stay);

async fn old_alerts_attempts_and_keys_go_incidents_stay(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = Arc::new(ManualClock::new(
        "2026-03-02T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await
    else {
        return;
    };
    let paged = monitored_service(&app, &hooks.url).await;
    let quiet = service_with_integration(&app.http, &app.base, "billing").await;
    let send = |event: Value| {
        let app = &app;
        async move {
            let (status, answer) = enqueue(app, "/v2/enqueue", &event).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        }
    };
    let resolve = |key: &str, dedup: &str| {
        let mut event = trigger(key, dedup, "error");
        event["event_action"] = json!("resolve");
        event
    };
    send(trigger(&quiet, "stale", "warning")).await;
    send(resolve(&quiet, "stale")).await;
    send(trigger(&quiet, "still-open", "warning")).await;
    // An alert that opens an incident and pages olga, then resolves: the incident's record.
    send(trigger(&paged, "paged", "error")).await;
    let (_, incidents) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    let opened = incidents["items"][0]["id"].as_i64().expect("an incident");
    let pages = format!("/api/v1/incidents/{opened}/pages");
    let attempts = || async {
        let (_, pages) = app.admin(Method::GET, &pages, None).await;
        pages[0]["deliveries"][0]["attempts"]
            .as_array()
            .map_or(0, Vec::len)
    };
    eventually("olga's page is sent", || async {
        (attempts().await == 1).then_some(())
    })
    .await;
    send(resolve(&paged, "paged")).await;
    let declared = declare_once(&app).await;
    let before = app.incident_records([opened, declared]).await;
    assert_eq!(declare_once(&app).await, declared, "the key is remembered");

    // 91 days on (90 are kept), a fresh resolved alert, then an instance starts: it prunes.
    clock.advance(SignedDuration::from_hours(24 * 91));
    send(trigger(&quiet, "fresh", "warning")).await;
    send(resolve(&quiet, "fresh")).await;
    let pruner = app
        .restart_on(clock.clone(), OutboundConfig::default())
        .await;
    let keys = || async {
        let (_, alerts) = app
            .admin(Method::GET, "/api/v1/alerts?limit=100", None)
            .await;
        let mut keys: Vec<String> = alerts
            .as_array()
            .expect("a list of alerts")
            .iter()
            .map(|a| a["dedup_key"].as_str().expect("a key").to_string())
            .collect();
        keys.sort();
        keys
    };
    let kept = eventually("the stale alert is pruned", || async {
        let keys = keys().await;
        (!keys.iter().any(|k| k == "stale")).then_some(keys)
    })
    .await;
    assert_eq!(kept, ["fresh", "paged", "still-open"]);
    eventually("the old delivery attempt is pruned", || async {
        (attempts().await == 0).then_some(())
    })
    .await;
    assert_eq!(
        app.incident_records([opened, declared]).await,
        before,
        "incidents and timelines stay"
    );
    assert_ne!(
        declare_once(&app).await,
        declared,
        "a key 91 days old is forgotten"
    );
    pruner.shutdown().await;
    app.shutdown().await;
}

/// Declares an incident with the Idempotency-Key `declare-once` (SEV4: no update falls due
/// while the test moves the clock on); returns its id.
async fn declare_once(app: &TestApp) -> i64 {
    let answer = app
        .http
        .post(format!("{}/api/v1/incidents", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", "declare-once")
        .json(&json!({"title": "Invoices late", "severity": "SEV4"}))
        .send()
        .await
        .expect("an answer");
    assert!(answer.status().is_success(), "{}", answer.status());
    let body: Value = answer.json().await.expect("JSON");
    body["id"].as_i64().expect("an id")
}
