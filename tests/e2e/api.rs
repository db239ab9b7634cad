//! Stories told through the REST API of a running server, on both storage backends.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp};

crate::on_both_backends!(
    an_incident_is_declared_staffed_worked_and_resolved,
    lists_filter_by_status_and_severity_and_paginate,
    bad_input_gets_a_clear_error_naming_the_field,
    a_retried_declaration_with_an_idempotency_key_returns_the_first_incident,
    concurrent_notes_are_all_kept,
    health_readiness_metrics_and_the_openapi_document,
    a_live_stream_announces_each_change,
    viewers_read_but_cannot_change_incidents,
);

async fn an_incident_is_declared_staffed_worked_and_resolved(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    app.user("carol", "responder").await;

    let (status, created) = app
        .call(
            &bob,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "Checkout returns 502", "severity": "SEV2", "type": "outage"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["title"], "Checkout returns 502");
    assert_eq!(created["severity"], "SEV2");
    assert_eq!(created["status"], "triage");
    assert_eq!(created["type"], "outage");
    assert_eq!(
        created["unfilled_roles"],
        json!(["incident_lead", "communications_lead"])
    );
    let id = created["id"].as_i64().expect("an id");
    let path = format!("/api/v1/incidents/{id}");

    let (status, _) = app
        .call(
            &bob,
            Method::PATCH,
            &path,
            Some(json!({"status": "investigating"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (role, user) in [("incident_lead", "bob"), ("communications_lead", "carol")] {
        let (status, body) = app
            .call(
                &bob,
                Method::PUT,
                &format!("{path}/roles/{role}"),
                Some(json!({"user": user})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, note) = app
        .call(
            &bob,
            Method::POST,
            &format!("{path}/timeline"),
            Some(json!({"text": "Rolled back the 14:01 deploy"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["kind"], "note");
    assert_eq!(note["actor"], "bob");

    let (_, incident) = app.call(&bob, Method::GET, &path, None).await;
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["unfilled_roles"], json!([]));
    assert_eq!(
        incident["roles"],
        json!([{"role": "incident_lead", "user": "bob"}, {"role": "communications_lead", "user": "carol"}])
    );
    assert_eq!(incident["participants"], json!(["bob", "carol"]));

    let (status, resolved) = app
        .call(
            &bob,
            Method::PATCH,
            &path,
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(resolved["resolved_at"].is_string());

    // Reopening needs a reason; the same status twice is a conflict.
    let (status, err) = app
        .call(
            &bob,
            Method::PATCH,
            &path,
            Some(json!({"status": "investigating"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let (status, _) = app
        .call(
            &bob,
            Method::PATCH,
            &path,
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, reopened) = app
        .call(
            &bob,
            Method::PATCH,
            &path,
            Some(json!({"status": "investigating", "reason": "errors are back"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reopened["resolved_at"], Value::Null);

    let (_, timeline) = app
        .call(&bob, Method::GET, &format!("{path}/timeline"), None)
        .await;
    let kinds: Vec<&str> = timeline
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["kind"].as_str().expect("a kind"))
        .collect();
    assert_eq!(
        kinds,
        [
            "declared",
            "status_changed",
            "role_assigned",
            "participant_added",
            "role_assigned",
            "note",
            "status_changed",
            "status_changed"
        ]
    );
    let last = timeline
        .as_array()
        .and_then(|t| t.last())
        .expect("an entry");
    assert_eq!(
        last["text"],
        "Status changed from resolved to investigating: errors are back"
    );
    assert_eq!(last["actor"], "bob");

    // Only entries after a given one.
    let first_id = timeline[0]["id"].as_i64().expect("an id");
    let (_, later) = app
        .call(
            &bob,
            Method::GET,
            &format!("{path}/timeline?after={first_id}"),
            None,
        )
        .await;
    assert_eq!(later.as_array().map(Vec::len), Some(kinds.len() - 1));
}

async fn lists_filter_by_status_and_severity_and_paginate(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let mut ids = Vec::new();
    for (i, severity) in ["SEV1", "SEV3", "SEV3", "SEV2", "SEV3"].iter().enumerate() {
        ids.push(
            app.declare(
                &bob,
                json!({"title": format!("Incident {i}"), "severity": severity}),
            )
            .await,
        );
    }
    app.call(
        &bob,
        Method::PATCH,
        &format!("/api/v1/incidents/{}", ids[1]),
        Some(json!({"status": "resolved"})),
    )
    .await;

    let list = |query: &'static str| {
        let app = &app;
        let bob = bob.clone();
        async move {
            let (status, page) = app
                .call(
                    &bob,
                    Method::GET,
                    &format!("/api/v1/incidents{query}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let ids: Vec<i64> = page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["id"].as_i64().expect("id"))
                .collect();
            (ids, page["next_cursor"].as_i64())
        }
    };
    assert_eq!(
        list("").await.0,
        vec![ids[4], ids[3], ids[2], ids[1], ids[0]]
    );
    assert_eq!(list("?severity=SEV3").await.0, vec![ids[4], ids[2], ids[1]]);
    assert_eq!(list("?status=resolved").await.0, vec![ids[1]]);
    assert_eq!(
        list("?active=true&severity=SEV3").await.0,
        vec![ids[4], ids[2]]
    );

    let (first, cursor) = list("?limit=2").await;
    assert_eq!(first, vec![ids[4], ids[3]]);
    let cursor = cursor.expect("a next page");
    let (status, page) = app
        .call(
            &bob,
            Method::GET,
            &format!("/api/v1/incidents?limit=2&before={cursor}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["id"].as_i64(), Some(ids[2]));
    // The last page says so: no cursor to a page of nothing.
    let (all, last) = list("?limit=5").await;
    assert_eq!((all.len(), last), (5, None));
    assert_eq!(list("?limit=4").await.1, Some(ids[1]));

    for (query, field) in [
        ("?limit=0", "limit"),
        ("?severity=SEV9", "severity"),
        ("?status=done", "status"),
        ("?colour=red", "colour"),
    ] {
        let (status, err) = app
            .call(
                &bob,
                Method::GET,
                &format!("/api/v1/incidents{query}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {err}");
        assert_eq!(err["error"]["field"], field, "{query}: {err}");
    }
}

async fn bad_input_gets_a_clear_error_naming_the_field(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let cases = [
        (json!({"severity": "SEV1"}), "title"),
        (json!({"title": "  ", "severity": "SEV1"}), "title"),
        (
            json!({"title": "x".repeat(201), "severity": "SEV1"}),
            "title",
        ),
        (
            json!({"title": "Disk full", "severity": "SEV9"}),
            "severity",
        ),
        (
            json!({"title": "Disk full", "severity": "SEV1", "type": "fire"}),
            "type",
        ),
        (
            json!({"title": "Disk full", "severity": "SEV1", "colour": "red"}),
            "colour",
        ),
        (
            json!({"title": "Disk full", "severity": "SEV1", "private": "yes"}),
            "private",
        ),
        (
            json!({"title": "Disk full", "severity": "SEV1", "services": ["no-such"]}),
            "services",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = app
            .call(&bob, Method::POST, "/api/v1/incidents", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["code"], "invalid_field", "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }

    let raw = |body: &'static str, content_type: &'static str| {
        app.http
            .post(format!("{}/api/v1/incidents", app.base))
            .bearer_auth(&bob)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let malformed = raw("{\"title\": ", "application/json")
        .await
        .expect("answer");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: Value = malformed.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_json");
    let wrong_type = raw("title=x", "application/x-www-form-urlencoded")
        .await
        .expect("answer");
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = json!({"title": "big", "severity": "SEV1", "summary": "x".repeat(100_000)});
    let (status, err) = app
        .call(&bob, Method::POST, "/api/v1/incidents", Some(huge))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert_eq!(err["error"]["code"], "payload_too_large");

    let (status, err) = app
        .call("not-a-token", Method::GET, "/api/v1/incidents", None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let anonymous = app
        .http
        .get(format!("{}/api/v1/incidents", app.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let (status, err) = app
        .call(&bob, Method::GET, "/api/v1/incidents/9999", None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, err) = app
        .call(&bob, Method::GET, "/api/v1/incidents/abc", None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_path"))
    );

    let id = app
        .declare(&bob, json!({"title": "Disk full", "severity": "SEV3"}))
        .await;
    let path = format!("/api/v1/incidents/{id}");
    let (status, err) = app
        .call(
            &bob,
            Method::PUT,
            &format!("{path}/roles/boss"),
            Some(json!({"user": "bob"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );
    let (status, err) = app
        .call(
            &bob,
            Method::PUT,
            &format!("{path}/roles/scribe"),
            Some(json!({"user": "nobody"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("user"))
    );
    let (status, err) = app.call(&bob, Method::PATCH, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let (status, err) = app
        .call(
            &bob,
            Method::POST,
            &format!("{path}/timeline"),
            Some(json!({"text": ""})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("text"))
    );

    // Responders cannot manage users; usernames are validated; duplicates conflict.
    let (status, _) = app
        .call(
            &bob,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "eve", "role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, err) = app
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "Eve Smith", "role": "viewer"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("username"))
    );
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "bob", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn a_retried_declaration_with_an_idempotency_key_returns_the_first_incident(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let send = |key: &'static str, title: &'static str| {
        app.http
            .post(format!("{}/api/v1/incidents", app.base))
            .bearer_auth(&bob)
            .header("Idempotency-Key", key)
            .json(&json!({"title": title, "severity": "SEV2"}))
            .send()
    };
    let first = send("retry-1", "Queue backlog").await.expect("answer");
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    let again = send("retry-1", "Queue backlog").await.expect("answer");
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.expect("json");
    assert_eq!(first["id"], again["id"]);

    let (_, page) = app.call(&bob, Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));

    let reused = send("retry-1", "Something else").await.expect("answer");
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = reused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "idempotency_key_reused");

    // Concurrent retries of one request still create one incident.
    let results =
        futures_util::future::join_all((0..8).map(|_| send("retry-2", "Cache stampede"))).await;
    let mut ids = Vec::new();
    for r in results {
        let r = r.expect("answer");
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(r.json::<Value>().await.expect("json")["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry got the same incident");
    let (_, page) = app.call(&bob, Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
}

async fn concurrent_notes_are_all_kept(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let id = app
        .declare(&bob, json!({"title": "Packet loss", "severity": "SEV3"}))
        .await;
    let path = format!("/api/v1/incidents/{id}/timeline");
    let posts = (0..20).map(|i| {
        app.call(
            &bob,
            Method::POST,
            &path,
            Some(json!({"text": format!("check {i}")})),
        )
    });
    for (status, body) in futures_util::future::join_all(posts).await {
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, timeline) = app.call(&bob, Method::GET, &path, None).await;
    let notes = timeline
        .as_array()
        .expect("a list")
        .iter()
        .filter(|e| e["kind"] == "note")
        .count();
    assert_eq!(notes, 20);
}

async fn health_readiness_metrics_and_the_openapi_document(app: TestApp) {
    let get = |path: &'static str| app.http.get(format!("{}{path}", app.base)).send();
    assert_eq!(
        get("/healthz").await.expect("answer").status(),
        StatusCode::OK
    );
    assert_eq!(
        get("/readyz").await.expect("answer").status(),
        StatusCode::OK
    );

    let bob = app.user("bob", "responder").await;
    app.declare(&bob, json!({"title": "Visible", "severity": "SEV2"}))
        .await;
    app.declare(
        &bob,
        json!({"title": "Hidden", "severity": "SEV2", "private": true}),
    )
    .await;
    let metrics = app.metrics().await;
    assert!(metrics.contains("aplomb_http_requests_total{method=\"POST\",route=\"/api/v1/incidents\",status=\"201\"} 2"), "{metrics}");
    // Request duration is a histogram: cumulative buckets ending in +Inf, a sum and a count.
    let series = "aplomb_http_request_duration_seconds";
    let labels = "method=\"POST\",route=\"/api/v1/incidents\",status=\"201\"";
    assert!(
        metrics.contains(&format!("{series}_bucket{{{labels},le=\"+Inf\"}} 2")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("{series}_count{{{labels}}} 2")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("# TYPE {series} histogram")),
        "{metrics}"
    );
    assert!(
        metrics.contains("aplomb_open_incidents{severity=\"SEV2\"} 1"),
        "private incidents are not counted: {metrics}"
    );

    let doc: Value = get("/api/v1/openapi.json")
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/api/v1/incidents/{id}/roles/{role}",
        "/api/v1/incidents/{id}/timeline",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"]["DeclareRequest"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// Reads a server-sent-event stream until `wanted` appears, or gives up after 10 seconds.
pub async fn read_stream_until(response: &mut reqwest::Response, wanted: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(wanted) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} within 10 s; got {seen:?}"))
            .expect("the stream stays open")
            .expect("the stream does not end");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

async fn a_live_stream_announces_each_change(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let id = app
        .declare(&bob, json!({"title": "Slow search", "severity": "SEV3"}))
        .await;
    let mut stream = app
        .http
        .get(format!("{}/api/v1/incidents/{id}/events", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("a stream");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"))
    );
    app.call(
        &bob,
        Method::POST,
        &format!("/api/v1/incidents/{id}/timeline"),
        Some(json!({"text": "on it"})),
    )
    .await;
    let seen = read_stream_until(&mut stream, &format!("data: {id}")).await;
    assert!(seen.contains("event: changed"), "{seen}");
}

async fn viewers_read_but_cannot_change_incidents(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let erin = app.user("erin", "viewer").await;
    let id = app
        .declare(&bob, json!({"title": "Login slow", "severity": "SEV3"}))
        .await;
    let (status, _) = app
        .call(&erin, Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = app
        .call(
            &erin,
            Method::POST,
            &format!("/api/v1/incidents/{id}/timeline"),
            Some(json!({"text": "hi"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = app
        .call(
            &erin,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "x", "severity": "SEV4"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Two instances share one PostgreSQL: a change made through one reaches a live subscriber of
/// the other (LISTEN/NOTIFY), and both serve the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_postgres_see_each_others_changes_live() {
    let Some(first) = TestApp::spawn(crate::helpers::Db::Postgres).await else {
        return;
    };
    let second = first.another_instance().await;
    let bob = first.user("bob", "responder").await;
    let id = first
        .declare(&bob, json!({"title": "Shared state", "severity": "SEV3"}))
        .await;
    let mut stream = second
        .http
        .get(format!("{}/api/v1/incidents/{id}/events", second.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("a stream");
    assert_eq!(stream.status(), StatusCode::OK);
    let (status, _) = first
        .call(
            &bob,
            Method::POST,
            &format!("/api/v1/incidents/{id}/timeline"),
            Some(json!({"text": "from the first"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    read_stream_until(&mut stream, &format!("data: {id}")).await;
    let (_, incident) = second
        .call(&bob, Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(incident["title"], "Shared state");
    second.shutdown().await;
    first.shutdown().await;
}
