//! Alert ingestion through PagerDuty's Events API v2 shape: the contract's exact answers,
//! deduplication and grouping into one incident under a storm, and resolution.

use std::sync::Arc;

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, sample};
use crate::sinks::{WebhookSink, eventually};

crate::for_both_backends!(
    events_get_the_contracts_answers,
    a_storm_of_ten_thousand_alerts_is_one_incident_and_one_page,
    alerts_acknowledge_and_resolve_their_incident,
    alertmanager_and_grafana_webhooks_store_every_alert,
    the_cli_sends_lists_acknowledges_and_resolves_alerts,
    maintenance_windows_and_silences_keep_alerts_quiet,
    a_routing_key_over_its_rate_gets_429_with_retry_after,
    one_batch_keeps_the_order_of_triggers_and_resolutions,
    routing_changes_on_one_instance_apply_at_once_on_another,
);

async fn spawn(db: Db) -> Option<TestApp> {
    spawn_with_clock(db).await.map(|(app, _)| app)
}

async fn spawn_with_clock(db: Db) -> Option<(TestApp, Arc<ManualClock>)> {
    let clock = Arc::new(ManualClock::new(
        "2026-03-02T10:00:00Z".parse().expect("time"),
    ));
    let app = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await?;
    Some((app, clock))
}

/// A service paging `user` by webhook, with an events_v2 integration; returns the routing key.
pub(crate) async fn monitored_service(app: &TestApp, hook: &str) -> String {
    app.user("olga", "responder").await;
    let ok = |status: StatusCode, body: &Value| assert!(status.is_success(), "{status} {body}");
    let (s, b) = app
        .admin(
            Method::POST,
            "/api/v1/users/olga/contact-methods",
            Some(json!({"kind": "webhook", "address": hook})),
        )
        .await;
    ok(s, &b);
    let level = json!({"delay_minutes": 5, "targets": [{"type": "responder", "name": "olga"}]});
    let (s, b) = app
        .admin(
            Method::POST,
            "/api/v1/escalation-policies",
            Some(json!({"name": "olga", "levels": [level]})),
        )
        .await;
    ok(s, &b);
    olgas_service(app, "search").await
}

/// Another service whose escalation policy pages olga (see `monitored_service`); returns its
/// routing key.
pub(crate) async fn olgas_service(app: &TestApp, name: &str) -> String {
    let ok = |status: StatusCode, body: &Value| assert!(status.is_success(), "{status} {body}");
    let (s, b) = app
        .admin(
            Method::POST,
            "/api/v1/services",
            Some(json!({"name": name})),
        )
        .await;
    ok(s, &b);
    let (s, b) = app
        .admin(
            Method::PUT,
            &format!("/api/v1/services/{name}/oncall"),
            Some(json!({"escalation_policy": "olga"})),
        )
        .await;
    ok(s, &b);
    let (s, integration) = app
        .admin(
            Method::POST,
            &format!("/api/v1/services/{name}/integrations"),
            Some(json!({"kind": "events_v2"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{integration}");
    integration["routing_key"]
        .as_str()
        .expect("a key")
        .to_string()
}

pub(crate) async fn enqueue(app: &TestApp, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .json(body)
        .send()
        .await
        .expect("answer");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The alert with `dedup_key` in the list `path` answers (an `/api/v1/alerts` query).
pub(crate) async fn listed_alert(app: &TestApp, path: &str, dedup_key: &str) -> Value {
    let (_, alerts) = app.admin(Method::GET, path, None).await;
    alerts
        .as_array()
        .and_then(|all| all.iter().find(|a| a["dedup_key"] == dedup_key))
        .cloned()
        .unwrap_or_else(|| panic!("{path} lists {dedup_key}: {alerts}"))
}

pub(crate) fn trigger(key: &str, dedup: &str, severity: &str) -> Value {
    json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
           "payload": {"summary": format!("Search latency high ({dedup})"), "source": "search-1", "severity": severity}})
}

async fn events_get_the_contracts_answers(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let Some(app) = spawn(db).await else { return };
    let key = monitored_service(&app, &hooks.url).await;

    let (status, body) = enqueue(&app, "/v2/enqueue", &trigger(&key, "k1", "warning")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({"status": "success", "message": "Event processed", "dedup_key": "k1"})
    );

    let mut no_key = trigger(&key, "x", "warning");
    no_key.as_object_mut().expect("object").remove("dedup_key");
    let (status, body) = enqueue(&app, "/v2/enqueue", &no_key).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body["dedup_key"].as_str().map(str::len),
        Some(32),
        "a key is generated: {body}"
    );

    let invalid = |errors: Value| json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors});
    let cases = [
        (
            json!({"event_action": "trigger", "payload": {"summary": "s", "source": "s", "severity": "info"}}),
            json!(["'routing_key' is missing or blank"]),
        ),
        (
            json!({"routing_key": key, "event_action": "trigger"}),
            json!(["'payload' is required to trigger"]),
        ),
        (
            json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": 7, "source": "s", "severity": "info"}}),
            json!(["'payload.summary' must be a string"]),
        ),
        (
            json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "x".repeat(1025), "source": "s", "severity": "info"}}),
            json!(["'payload.summary' must be at most 1024 characters"]),
        ),
        (
            json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "s", "source": "s", "severity": "sev1"}}),
            json!(["'payload.severity' must be critical, error, warning or info"]),
        ),
        (
            json!({"routing_key": key, "event_action": "snooze", "dedup_key": "k"}),
            json!(["'event_action' must be trigger, acknowledge or resolve, not \"snooze\""]),
        ),
        (
            json!({"routing_key": key, "event_action": "resolve"}),
            json!(["'dedup_key' is required to acknowledge or resolve"]),
        ),
        (
            trigger("not-a-key", "k", "info"),
            json!(["'routing_key' does not match an integration"]),
        ),
    ];
    for (event, errors) in cases {
        let (status, body) = enqueue(&app, "/v2/enqueue", &event).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{event}");
        assert_eq!(body, invalid(errors), "{event}");
    }
    let raw = app
        .http
        .post(format!("{}/v2/enqueue", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answer");
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let body: Value = raw.json().await.expect("json");
    assert_eq!(body["status"], "invalid event");
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("malformed JSON"))
    );

    let mut huge = trigger(&key, "big", "info");
    huge["payload"]["custom_details"] = json!({"blob": "x".repeat(600 * 1024)});
    let (status, body) = enqueue(&app, "/v2/enqueue", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    let change = json!({"routing_key": key, "payload": {"summary": "Deployed search 2.4.1", "source": "ci",
                         "timestamp": "2026-03-02T09:58:00Z"}, "links": [{"href": "https://ci/builds/991", "text": "build"}]});
    let (status, body) = enqueue(&app, "/v2/change/enqueue", &change).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({"status": "success", "message": "Change event processed"})
    );

    // A revoked key stops working at once.
    let (_, integrations) = app
        .admin(Method::GET, "/api/v1/services/search/integrations", None)
        .await;
    let id = integrations[0]["id"].as_i64().expect("id");
    let (status, rotated) = app
        .admin(
            Method::POST,
            &format!("/api/v1/integrations/{id}/rotate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let (status, _) = enqueue(&app, "/v2/enqueue", &trigger(&key, "k2", "info")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let new_key = rotated["routing_key"].as_str().expect("key");
    let (status, _) = enqueue(&app, "/v2/enqueue", &trigger(new_key, "k2", "info")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // The rotation is a new integration beside the revoked one; the revoked one rotates no more.
    let (_, integrations) = app
        .admin(Method::GET, "/api/v1/services/search/integrations", None)
        .await;
    let listed: Vec<(i64, bool)> = integrations
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| (i["id"].as_i64().expect("id"), i["revoked_at"].is_string()))
        .collect();
    assert_eq!(
        listed,
        vec![(id, true), (rotated["id"].as_i64().expect("id"), false)]
    );
    let (status, again) = app
        .admin(
            Method::POST,
            &format!("/api/v1/integrations/{id}/rotate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    app.shutdown().await;
}

async fn a_storm_of_ten_thousand_alerts_is_one_incident_and_one_page(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let Some(app) = spawn(db).await else { return };
    let key = monitored_service(&app, &hooks.url).await;

    // 10,000 critical triggers over 50 dedup keys, 50 senders at once.
    let senders = (0..50).map(|sender| {
        let http = app.http.clone();
        let url = format!("{}/v2/enqueue", app.base);
        let key = key.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                let event = trigger(
                    &key,
                    &format!("shard-{}", (sender * 200 + i) % 50),
                    "critical",
                );
                let r = http.post(&url).json(&event).send().await.expect("answer");
                assert_eq!(r.status(), StatusCode::ACCEPTED);
            }
        })
    });
    for sender in futures_util::future::join_all(senders).await {
        sender.expect("a sender finished");
    }

    let (_, page) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    let incidents = page["items"].as_array().expect("items");
    assert_eq!(incidents.len(), 1, "one incident: {page}");
    assert_eq!(incidents[0]["severity"], "SEV1");
    let id = incidents[0]["id"].as_i64().expect("id");
    let (_, alerts) = app
        .admin(Method::GET, "/api/v1/alerts?limit=1000", None)
        .await;
    let alerts = alerts.as_array().expect("alerts");
    assert_eq!(alerts.len(), 50);
    let total: i64 = alerts
        .iter()
        .map(|a| a["count"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(total, 10_000);
    assert!(alerts.iter().all(|a| a["incident_id"] == id));

    // Group commit: the writer's counters show every event stored, in fewer transactions.
    let metrics = app.metrics().await;
    let counter = |name: &str| -> f64 {
        sample(&metrics, name).unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert_eq!(counter("aplomb_ingest_events_total"), 10_000.0);
    let batches = counter("aplomb_ingest_batches_total");
    assert!((1.0..10_000.0).contains(&batches), "{batches} batches");
    // The batch-size histogram saw every batch and, summed, every event.
    assert_eq!(counter("aplomb_ingest_batch_events_count"), batches);
    assert_eq!(counter("aplomb_ingest_batch_events_sum"), 10_000.0);
    assert_eq!(counter("aplomb_ingest_commit_seconds_count"), batches);
    // On PostgreSQL, once the incident is open, batches of triggers take the single-statement
    // shortcut; the first, which opens it, cannot. SQLite has one way to store a batch.
    let shortcut = counter("aplomb_ingest_shortcut_batches_total");
    match db {
        Db::Postgres => assert!(
            (1.0..batches).contains(&shortcut),
            "{shortcut} of {batches}"
        ),
        Db::Sqlite => assert_eq!(shortcut, 0.0),
    }

    // One page for the policy's step, one webhook; the timeline lists 50 alerts, not 10,000.
    eventually("the page", || async { hooks.received().into_iter().next() }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(hooks.received().len(), 1);
    let (_, pages) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{id}/pages"), None)
        .await;
    assert_eq!(pages.as_array().map(Vec::len), Some(1), "{pages}");
    let (_, timeline) = app
        .admin(
            Method::GET,
            &format!("/api/v1/incidents/{id}/timeline"),
            None,
        )
        .await;
    let alert_entries = timeline
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "alert_triggered")
        .count();
    assert_eq!(alert_entries, 50);
    app.shutdown().await;
}

async fn alerts_acknowledge_and_resolve_their_incident(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let Some(app) = spawn(db).await else { return };
    let key = monitored_service(&app, &hooks.url).await;
    // An incident alerts open runs its service's playbook, as a declared one does.
    let (status, playbook) = app
        .admin(
            Method::POST,
            "/api/v1/playbooks",
            Some(json!({"incident_type": "outage", "service": "search", "steps": ["Check the search cluster's heap"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{playbook}");
    for dedup in ["a", "b"] {
        let (status, _) = enqueue(&app, "/v2/enqueue", &trigger(&key, dedup, "error")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    // A warning joins the open incident rather than opening one.
    enqueue(&app, "/v2/enqueue", &trigger(&key, "c", "warning")).await;
    let (_, page) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let id = page["items"][0]["id"].as_i64().expect("id");
    let (_, checklist) = app
        .admin(
            Method::GET,
            &format!("/api/v1/incidents/{id}/checklist"),
            None,
        )
        .await;
    assert_eq!(checklist["playbook_id"], playbook["id"], "{checklist}");
    assert_eq!(
        checklist["steps"][0]["text"],
        "Check the search cluster's heap"
    );

    // The incident page shows its alerts and the service's recent changes; the alert pages too.
    let change = json!({"routing_key": key, "payload": {"summary": "Deployed search 2.4.1", "source": "ci"}});
    assert_eq!(
        enqueue(&app, "/v2/change/enqueue", &change).await.0,
        StatusCode::ACCEPTED
    );
    let web = app.web_session("olga").await;
    let (_, html) = web.page(&format!("/incidents/{id}")).await;
    assert!(
        html.contains("Search latency high (a)") && html.contains("Search latency high (c)"),
        "{html}"
    );
    assert!(
        html.contains("Recent changes") && html.contains("search: Deployed search 2.4.1"),
        "{html}"
    );
    let (_, list) = web.page("/alerts?service=search&status=triggered").await;
    assert_eq!(
        list.matches("<tr class=\"triggered\">").count(),
        3,
        "{list}"
    );
    let (_, alerts) = app.admin(Method::GET, "/api/v1/alerts?limit=1", None).await;
    let (status, detail) = web.page(&format!("/alerts/{}", alerts[0]["id"])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        // The payload as sent, less its routing key (a credential: see credentials.rs).
        detail.contains("Latest payload")
            && detail.contains("&#34;event_action&#34;")
            && !detail.contains("&#34;routing_key&#34;"),
        "{detail}"
    );

    let ack = json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": "a"});
    assert_eq!(
        enqueue(&app, "/v2/enqueue", &ack).await.0,
        StatusCode::ACCEPTED
    );
    let (_, alerts) = app
        .admin(Method::GET, "/api/v1/alerts?status=acknowledged", None)
        .await;
    assert_eq!(alerts.as_array().map(Vec::len), Some(1));
    assert_eq!(alerts[0]["dedup_key"], "a");

    // Acknowledging the incident acknowledges its other alerts.
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, open) = app
        .admin(Method::GET, "/api/v1/alerts?status=triggered", None)
        .await;
    assert_eq!(open, json!([]));

    for dedup in ["a", "b"] {
        let resolve = json!({"routing_key": key, "event_action": "resolve", "dedup_key": dedup});
        assert_eq!(
            enqueue(&app, "/v2/enqueue", &resolve).await.0,
            StatusCode::ACCEPTED
        );
    }
    let (_, incident) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_ne!(incident["status"], "resolved", "alert c is still open");
    let resolve = json!({"routing_key": key, "event_action": "resolve", "dedup_key": "c"});
    assert_eq!(
        enqueue(&app, "/v2/enqueue", &resolve).await.0,
        StatusCode::ACCEPTED
    );
    let (_, incident) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(incident["status"], "resolved");
    let (_, timeline) = app
        .admin(
            Method::GET,
            &format!("/api/v1/incidents/{id}/timeline"),
            None,
        )
        .await;
    let last = timeline
        .as_array()
        .and_then(|t| t.last())
        .expect("entries")
        .clone();
    assert!(
        last["text"]
            .as_str()
            .is_some_and(|t| t.ends_with("every alert of the incident resolved")),
        "{last}"
    );

    // A new trigger after the incident resolved opens a new one.
    enqueue(&app, "/v2/enqueue", &trigger(&key, "a", "critical")).await;
    let (_, page) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    app.shutdown().await;
}

async fn alertmanager_and_grafana_webhooks_store_every_alert(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let Some(app) = spawn(db).await else { return };
    let key = monitored_service(&app, &hooks.url).await;
    let firing = |status: &str| {
        json!({"version": "4", "groupKey": "{}:{alertname=\"HighLatency\"}", "truncatedAlerts": 0, "status": status,
        "receiver": "aplomb", "groupLabels": {"alertname": "HighLatency"}, "commonLabels": {"alertname": "HighLatency"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [
          {"status": status, "labels": {"alertname": "HighLatency", "severity": "critical", "instance": "api-1"},
           "annotations": {"summary": "p99 latency over 2 s on api-1"}, "startsAt": "2026-03-02T09:59:00Z",
           "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": "f1"},
          {"status": status, "labels": {"alertname": "HighLatency", "severity": "critical", "instance": "api-2"},
           "annotations": {"description": "p99 latency over 2 s on api-2"}, "startsAt": "2026-03-02T09:59:00Z",
           "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": "f2"}
        ]})
    };
    let (status, body) = enqueue(
        &app,
        &format!("/integrations/alertmanager/{key}"),
        &firing("firing"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, alerts) = app.admin(Method::GET, "/api/v1/alerts", None).await;
    let mut summaries: Vec<&str> = alerts
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["summary"].as_str())
        .collect();
    summaries.sort();
    assert_eq!(
        summaries,
        vec![
            "p99 latency over 2 s on api-1",
            "p99 latency over 2 s on api-2"
        ]
    );
    assert_eq!(
        alerts[0]["payload"]["generatorURL"],
        "http://prometheus/graph"
    );

    // Grafana sends the same shape with extras, to its own path.
    let mut grafana = firing("firing");
    grafana["title"] = json!("[FIRING:1] HighLatency");
    grafana["alerts"][0]["fingerprint"] = json!("g1");
    grafana["alerts"][0]["dashboardURL"] = json!("http://grafana/d/abc");
    grafana["alerts"]
        .as_array_mut()
        .expect("alerts")
        .truncate(1);
    let (status, _) = enqueue(&app, &format!("/integrations/grafana/{key}"), &grafana).await;
    assert_eq!(status, StatusCode::OK);
    let (_, g) = app.admin(Method::GET, "/api/v1/alerts?limit=1", None).await;
    assert_eq!(g[0]["payload"]["dashboardURL"], "http://grafana/d/abc");

    // Resolution from Alertmanager resolves its alerts; with Grafana's still open, the incident stays.
    let (status, _) = enqueue(
        &app,
        &format!("/integrations/alertmanager/{key}"),
        &firing("resolved"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, open) = app
        .admin(Method::GET, "/api/v1/alerts?status=triggered", None)
        .await;
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    let (status, body) = enqueue(
        &app,
        "/integrations/alertmanager/wrong-key",
        &firing("firing"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    app.shutdown().await;
}

async fn cli(app: &TestApp, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(args)
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", crate::helpers::ADMIN_TOKEN)
        .output()
        .await
        .expect("the CLI runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn the_cli_sends_lists_acknowledges_and_resolves_alerts(db: Db) {
    let Some(app) = spawn(db).await else { return };
    app.admin(
        Method::POST,
        "/api/v1/services",
        Some(json!({"name": "dns"})),
    )
    .await;
    let key = cli(&app, &["integration", "create", "dns"])
        .await
        .trim()
        .to_string();
    assert_eq!(key.len(), 32, "{key}");
    let listed = cli(&app, &["integration", "list", "dns"]).await;
    assert!(
        listed.contains(&key) && listed.contains("events_v2"),
        "{listed}"
    );

    let dedup = cli(
        &app,
        &[
            "event",
            "send",
            "--routing-key",
            &key,
            "--summary",
            "NXDOMAIN spike",
            "--severity",
            "info",
            "--dedup-key",
            "nx",
        ],
    )
    .await;
    assert_eq!(dedup.trim(), "nx");
    let table = cli(&app, &["alert", "list", "--service", "dns"]).await;
    assert!(
        table.starts_with("ID") && table.contains("NXDOMAIN spike") && table.contains("triggered"),
        "{table}"
    );
    let (_, alerts) = app
        .admin(Method::GET, "/api/v1/alerts?service=dns", None)
        .await;
    let id = alerts[0]["id"].as_i64().expect("id").to_string();
    assert!(
        cli(&app, &["alert", "ack", &id])
            .await
            .contains("acknowledged")
    );
    assert!(
        cli(&app, &["alert", "resolve", &id])
            .await
            .contains("resolved")
    );
    let shown = cli(&app, &["alert", "show", &id]).await;
    assert!(
        shown.contains("NXDOMAIN spike") && shown.contains("\"source\":\"aplomb-cli\""),
        "{shown}"
    );

    // Info alerts open no incident by default; a bad event is explained.
    let (_, page) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(page["items"], json!([]));
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args([
            "event",
            "send",
            "--routing-key",
            &key,
            "--severity",
            "apocalyptic",
        ])
        .env("APLOMB_URL", &app.base)
        .output()
        .await
        .expect("runs");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("payload.severity"));
    app.shutdown().await;
}

async fn maintenance_windows_and_silences_keep_alerts_quiet(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let Some((app, clock)) = spawn_with_clock(db).await else {
        return;
    };
    let key = monitored_service(&app, &hooks.url).await;
    let window = json!({"service": "search", "ends_at": "2026-03-02T11:00:00Z", "reason": "Index migration"});
    let (status, body) = app
        .admin(Method::POST, "/api/v1/silences", Some(window))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    assert_eq!(
        enqueue(&app, "/v2/enqueue", &trigger(&key, "m1", "critical"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let (_, alerts) = app.admin(Method::GET, "/api/v1/alerts", None).await;
    assert_eq!(alerts[0]["silenced"], true);
    assert_eq!(alerts[0]["incident_id"], Value::Null);
    let (_, page) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(
        page["items"],
        json!([]),
        "a maintenance window opens no incident"
    );

    // After the window, a silence that matches by summary still holds back flaky alerts only.
    let silence = json!({"ends_at": "2026-03-03T10:00:00Z", "reason": "known flaky probe",
                         "match": {"summary_contains": "FLAKY"}});
    let (status, _) = app
        .admin(Method::POST, "/api/v1/silences", Some(silence))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    clock.advance(jiff::SignedDuration::from_mins(61));
    let mut flaky = trigger(&key, "probe", "critical");
    flaky["payload"]["summary"] = json!("flaky probe timed out");
    enqueue(&app, "/v2/enqueue", &flaky).await;
    let (_, page) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(page["items"], json!([]));
    enqueue(&app, "/v2/enqueue", &trigger(&key, "real", "critical")).await;
    let (_, page) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    eventually("the page for the real alert", || async {
        hooks.received().into_iter().next()
    })
    .await;

    let (_, active) = app.admin(Method::GET, "/api/v1/silences", None).await;
    assert_eq!(
        active.as_array().map(Vec::len),
        Some(1),
        "the window has ended: {active}"
    );
    let id = active[0]["id"].as_i64().expect("id");
    assert_eq!(
        app.admin(Method::DELETE, &format!("/api/v1/silences/{id}"), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin(Method::DELETE, &format!("/api/v1/silences/{id}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Once the silence is ended, the flaky probe's alerts count again.
    let mut flaky = trigger(&key, "probe-2", "critical");
    flaky["payload"]["summary"] = json!("flaky probe timed out");
    enqueue(&app, "/v2/enqueue", &flaky).await;
    let probe = listed_alert(&app, "/api/v1/alerts?status=triggered", "probe-2").await;
    assert_eq!(probe["silenced"], false, "{probe}");
    assert!(probe["incident_id"].is_i64(), "{probe}");

    for (body, field) in [
        (
            json!({"ends_at": "2026-03-01T00:00:00Z", "reason": "r"}),
            "ends_at",
        ),
        (
            json!({"ends_at": "2026-06-01T00:00:00Z", "reason": "r"}),
            "ends_at",
        ),
        (
            json!({"ends_at": "2026-03-03T00:00:00Z", "reason": ""}),
            "reason",
        ),
        (
            json!({"ends_at": "2026-03-03T00:00:00Z", "reason": "r", "service": "nope"}),
            "service",
        ),
        (
            json!({"ends_at": "2026-03-03T00:00:00Z", "reason": "r", "match": {"colour": "red"}}),
            "match.colour",
        ),
    ] {
        let (status, err) = app
            .admin(Method::POST, "/api/v1/silences", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    app.shutdown().await;
}

async fn a_routing_key_over_its_rate_gets_429_with_retry_after(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = Arc::new(ManualClock::new(
        "2026-03-02T10:00:00Z".parse().expect("time"),
    ));
    let limited = |o: &mut aplomb::server::ServeOptions| o.events_per_second_per_key = Some(5);
    let Some(app) =
        TestApp::spawn_configured(db, clock.clone(), OutboundConfig::default(), limited).await
    else {
        return;
    };
    let key = monitored_service(&app, &hooks.url).await;
    // A burst of twice the rate is taken; the next is refused with the contract's shape.
    for i in 0..10 {
        let (status, _) = enqueue(
            &app,
            "/v2/enqueue",
            &trigger(&key, &format!("r{i}"), "info"),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "event {i}");
    }
    let r = app
        .http
        .post(format!("{}/v2/enqueue", app.base))
        .json(&trigger(&key, "r10", "info"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "throttled");
    // A flood of made-up keys is refused without entering the limiter, so it can neither
    // grow it nor push out the real key's bucket: that key is still held to its rate.
    let app_ref = &app;
    let flood = futures_util::future::join_all((0..2000).map(|n| {
        let event = trigger(&format!("made-up-{n}"), "x", "info");
        async move { enqueue(app_ref, "/v2/enqueue", &event).await.0 }
    }))
    .await;
    assert!(
        flood.iter().all(|s| s.is_client_error()),
        "{:?}",
        &flood[..3]
    );
    assert!(
        app.metrics()
            .await
            .contains("\naplomb_ingest_rate_limited_keys 1\n"),
        "only the real key has a bucket"
    );
    assert_eq!(
        enqueue(&app, "/v2/enqueue", &trigger(&key, "r10", "info"))
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another key is not affected; after a second the first may send again.
    let (_, other) = app
        .admin(
            Method::POST,
            "/api/v1/services/search/integrations",
            Some(json!({"kind": "events_v2"})),
        )
        .await;
    let other = other["routing_key"].as_str().expect("key");
    assert_eq!(
        enqueue(&app, "/v2/enqueue", &trigger(other, "o1", "info"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    clock.advance(jiff::SignedDuration::from_secs(1));
    assert_eq!(
        enqueue(&app, "/v2/enqueue", &trigger(&key, "r11", "info"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let (_, alerts) = app
        .admin(Method::GET, "/api/v1/alerts?limit=1000", None)
        .await;
    assert_eq!(
        alerts.as_array().map(Vec::len),
        Some(12),
        "refused events are not stored"
    );
    app.shutdown().await;
}

/// The writer stores a batch's triggers together, but a resolve between two triggers of one key
/// still ends the first alert and the second opens a new one.
async fn one_batch_keeps_the_order_of_triggers_and_resolutions(db: Db) {
    use aplomb::domain::alert::parse_event;
    use aplomb::store::{AlertIncidentDefaults, Ingest, Ingested};
    let hooks = WebhookSink::start(0).await;
    let Some(app) = spawn(db).await else { return };
    let key = monitored_service(&app, &hooks.url).await;
    let event = |v: Value| Ingest::Alert(parse_event(&v).expect("valid"));
    let resolve = json!({"routing_key": key, "event_action": "resolve", "dedup_key": "k"});
    let batch = vec![
        event(trigger(&key, "k", "warning")),
        event(trigger(&key, "k", "warning")),
        event(trigger(&key, "other", "warning")),
        event(resolve),
        event(trigger(&key, "k", "warning")),
        event(trigger("unknown-key", "k", "warning")),
    ];
    let admin = app
        .app
        .store
        .user_by_username("admin")
        .await
        .expect("db")
        .expect("admin");
    let defaults = AlertIncidentDefaults {
        incident_type: "outage".into(),
        declared_by: aplomb::domain::incident::UserRef {
            id: admin.id,
            username: admin.username,
        },
    };
    let outcomes = app
        .app
        .store
        .ingester()
        .ingest(&batch, &defaults, app.app.now())
        .await
        .expect("stored");
    assert_eq!(outcomes.len(), 6);
    assert_eq!(outcomes[5], Ingested::UnknownRoutingKey);
    let (_, alerts) = app
        .admin(Method::GET, "/api/v1/alerts?service=search", None)
        .await;
    let mut seen: Vec<(String, String, i64)> = alerts
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (
                a["dedup_key"].as_str().unwrap_or("").to_string(),
                a["status"].as_str().unwrap_or("").to_string(),
                a["count"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("k".into(), "resolved".into(), 2),
            ("k".into(), "triggered".into(), 1),
            ("other".into(), "triggered".into(), 1)
        ]
    );
    app.shutdown().await;
}

/// The event writer keeps routing keys, alert rules and silences in memory: a change made
/// through another instance still applies to the very next event.
async fn routing_changes_on_one_instance_apply_at_once_on_another(db: Db) {
    let Some(first) = TestApp::spawn(db).await else {
        return;
    };
    let key = monitored_service(&first, "http://127.0.0.1:9/unused").await;
    let second = first.another_instance().await;
    for app in [&first, &second] {
        let (status, body) = enqueue(app, "/v2/enqueue", &trigger(&key, "warm", "info")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }

    let tomorrow = first.app.now() + jiff::SignedDuration::from_hours(24);
    let everything =
        json!({"service": "search", "ends_at": tomorrow.to_string(), "reason": "Failover drill"});
    let (status, body) = second
        .admin(Method::POST, "/api/v1/silences", Some(everything))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    enqueue(&first, "/v2/enqueue", &trigger(&key, "drill", "critical")).await;
    let drill = listed_alert(&first, "/api/v1/alerts", "drill").await;
    assert_eq!(drill["silenced"], true, "{drill}");

    let (_, integrations) = second
        .admin(Method::GET, "/api/v1/services/search/integrations", None)
        .await;
    let id = integrations[0]["id"].as_i64().expect("id");
    let (status, _) = second
        .admin(Method::DELETE, &format!("/api/v1/integrations/{id}"), None)
        .await;
    assert!(status.is_success(), "{status}");
    let (status, body) = enqueue(&first, "/v2/enqueue", &trigger(&key, "late", "info")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    second.shutdown().await;
    first.shutdown().await;
}
