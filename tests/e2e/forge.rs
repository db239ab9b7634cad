//! Response changes from code forges, through the running server: GitHub pushes and merged pull
//! requests, GitLab merge requests and aplomb's own signed shape each record a change on the
//! incident they name, once however often they are delivered; a webhook that does not prove
//! its secret is refused and records nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use aplomb::secret::{hmac_hex, sign_webhook};

use std::sync::Arc;

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;

use crate::helpers::{Db, TestApp};
use crate::paging::ok;

crate::on_both_backends!(
    a_forge_records_the_changes_that_name_an_incident_once,
    a_forge_webhook_that_does_not_prove_its_secret_records_nothing
);
/// Stories that set their own clock.
mod clocked {
    use super::delivery_ids_are_forgotten_after_a_month;
    crate::for_both_backends!(delivery_ids_are_forgotten_after_a_month);
}

/// A forge integration on `service`: its routing key and signing secret.
async fn forge(app: &TestApp, service: &str) -> (String, String) {
    ok(
        app,
        Method::POST,
        "/api/v1/services",
        json!({"name": service}),
    )
    .await;
    let integration = ok(
        app,
        Method::POST,
        &format!("/api/v1/services/{service}/integrations"),
        json!({"kind": "forge"}),
    )
    .await;
    let text = |field: &str| {
        integration[field]
            .as_str()
            .unwrap_or_else(|| panic!("a forge integration has a {field}: {integration}"))
            .to_string()
    };
    (text("routing_key"), text("signing_secret"))
}

/// Posts `body` to the forge endpoint with `headers`; the status and the JSON answer.
async fn deliver(
    app: &TestApp,
    key: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .post(format!("{}/integrations/forge/{key}", app.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    (status, response.json().await.expect("a JSON answer"))
}

/// A GitHub push to main of two commits: one names `incident`, and one names `also`.
fn github_push(incident: i64, also: i64) -> String {
    json!({
        "ref": "refs/heads/main", "after": "b2c3",
        "repository": {"full_name": "acme/edge-config"},
        "commits": [
            {"id": "a1b2", "message": "Tidy the README",
             "url": "https://github.com/acme/edge-config/commit/a1b2", "author": {"name": "Olga"}},
            {"id": "b2c3", "message": format!("Raise the upstream timeout to 60 s\n\nincident: {incident}, Incident-{also}"),
             "url": "https://github.com/acme/edge-config/commit/b2c3", "author": {"name": "Olga"}}
        ]
    })
    .to_string()
}

/// GitHub's headers for an event, its delivery id and its signature.
fn github(event: &str, delivery: &str, signature: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-github-event", event.to_string()),
        ("x-github-delivery", delivery.to_string()),
        ("x-hub-signature-256", signature.to_string()),
    ]
}

async fn changes(app: &TestApp, incident: i64) -> Vec<Value> {
    let (status, list) = app
        .admin(
            Method::GET,
            &format!("/api/v1/incidents/{incident}/changes"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().expect("a list").clone()
}

async fn a_forge_records_the_changes_that_name_an_incident_once(app: TestApp) {
    let (key, secret) = forge(&app, "edge").await;
    let lead = app.user("lena", "responder").await;
    let id = app
        .declare(&lead, json!({"title": "Edge timeouts", "severity": "SEV2"}))
        .await;
    let unknown = id + 1000;

    // A GitHub push: the commit naming the incident is recorded, the README commit is not,
    // and the incident that does not exist is named back.
    let push = github_push(id, unknown);
    let signature = format!("sha256={}", hmac_hex(&secret, &push));
    let send = async |headers: Vec<(&'static str, String)>, body: &str| {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        deliver(&app, &key, &headers, body).await
    };
    let (status, first) = send(github("push", "d-1", &signature), &push).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(
        first["recorded"].as_array().map(Vec::len),
        Some(1),
        "{first}"
    );
    assert_eq!(first["recorded"][0]["incident_id"], id);
    assert_eq!(first["unknown_incidents"], json!([unknown]));
    assert_eq!(first["redelivery"], false);
    let recorded = changes(&app, id).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let change = &recorded[0];
    assert_eq!(change["id"], first["recorded"][0]["change_id"]);
    assert_eq!(change["system"], "acme/edge-config");
    assert_eq!(
        change["description"],
        "Pushed to main: Raise the upstream timeout to 60 s"
    );
    assert_eq!(
        change["reference"],
        "https://github.com/acme/edge-config/commit/b2c3"
    );
    // No hypothesis is supported: the change came in without a finding, and the review sees it.
    assert_eq!(
        change["reason"],
        "recorded from a GitHub push without a finding"
    );
    let kinds = crate::paging::timeline_kinds(&app, id).await;
    for kind in ["response_change_recorded", "acted_without_finding"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }

    // GitHub redelivers the same delivery: nothing is looked at again.
    let (status, again) = send(github("push", "d-1", &signature), &push).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["redelivery"], true);
    assert_eq!(again["recorded"], json!([]));
    // The same commits in another delivery (a push to a second branch, say) are recognised by
    // their reference.
    let (status, later) = send(github("push", "d-2", &signature), &push).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{later}");
    assert_eq!(later["recorded"], json!([]));
    assert_eq!(later["already_recorded"], first["recorded"]);
    assert_eq!(changes(&app, id).await.len(), 1);

    // A pull request records nothing until it is merged; merged, it is one change.
    let pull = |action: &str, merged: bool| {
        json!({"action": action, "number": 812, "repository": {"full_name": "acme/edge-config"},
            "pull_request": {"title": "Pin the resolver", "body": "Follow-up.", "merged": merged,
                "merge_commit_sha": "c3d4", "html_url": "https://github.com/acme/edge-config/pull/812",
                "labels": [{"name": format!("incident-{id}")}]}})
        .to_string()
    };
    for (action, merged, delivery, recorded) in
        [("opened", false, "d-3", 0), ("closed", true, "d-4", 1)]
    {
        let body = pull(action, merged);
        let signature = format!("sha256={}", hmac_hex(&secret, &body));
        let (status, answer) = send(github("pull_request", delivery, &signature), &body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(
            answer["recorded"].as_array().map(Vec::len),
            Some(recorded),
            "{action}: {answer}"
        );
    }

    // A GitLab merge request, proven by its token.
    let merge = json!({"object_kind": "merge_request",
        "project": {"path_with_namespace": "acme/dns"},
        "object_attributes": {"iid": 9, "title": format!("Lower the TTL (incident: {id})"),
            "description": "", "url": "https://gitlab.example/acme/dns/-/merge_requests/9",
            "state": "merged", "merge_commit_sha": "e5f6"},
        "labels": []})
    .to_string();
    let headers = vec![
        ("x-gitlab-event", "Merge Request Hook".to_string()),
        ("x-gitlab-token", secret.clone()),
        ("x-gitlab-event-uuid", "g-1".to_string()),
    ];
    let (status, answer) = send(headers, &merge).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["recorded"][0]["incident_id"], id, "{answer}");

    // aplomb's own shape, signed as aplomb signs its webhooks, with how to undo it.
    let own = json!({"incident_id": id, "system": "edge-lb", "description": "Failed over to the standby pair",
        "reference": "deploy-4411", "rollback": "Fail back once the primary is healthy"})
    .to_string();
    let t = app.app.now().as_second();
    let headers = vec![("aplomb-signature", sign_webhook(&secret, t, &own))];
    let (status, answer) = send(headers, &own).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let all = changes(&app, id).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let descriptions: Vec<&str> = all
        .iter()
        .filter_map(|c| c["description"].as_str())
        .collect();
    for expected in [
        "Merged #812: Pin the resolver",
        "Merged !9: Lower the TTL (incident: ",
        "Failed over to the standby pair",
    ] {
        assert!(
            descriptions.iter().any(|d| d.starts_with(expected)),
            "{expected} in {descriptions:?}"
        );
    }
    let own = all
        .iter()
        .find(|c| c["system"] == "edge-lb")
        .expect("the signed change");
    assert_eq!(own["rollback"], "Fail back once the primary is healthy");
    assert_eq!(
        own["reason"],
        "recorded from a signed webhook without a finding"
    );

    // The same signed request sent again (a replay within its five minutes) records nothing,
    // even with no reference to recognise its change by.
    let bare = json!({"incident_id": id, "system": "edge-lb", "description": "Drained edge-03"})
        .to_string();
    let signed = sign_webhook(&secret, t, &bare);
    let (_, first) = send(vec![("aplomb-signature", signed.clone())], &bare).await;
    assert_eq!(
        first["recorded"].as_array().map(Vec::len),
        Some(1),
        "{first}"
    );
    let (_, replay) = send(vec![("aplomb-signature", signed)], &bare).await;
    assert_eq!(replay["redelivery"], true, "{replay}");
    assert_eq!(changes(&app, id).await.len(), 5);

    // A private incident takes nothing from a forge, and is answered as one that does not exist.
    let private = app
        .declare(
            &lead,
            json!({"title": "Signing key leaked", "severity": "SEV1", "private": true}),
        )
        .await;
    let body = json!({"incident_id": private, "system": "vault", "description": "Rotated the key",
        "reference": "rotate-77"})
    .to_string();
    let (status, answer) = send(
        vec![("aplomb-signature", sign_webhook(&secret, t, &body))],
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["unknown_incidents"], json!([private]), "{answer}");
    assert_eq!(answer["recorded"], json!([]));
    assert_eq!(changes(&app, private).await, Vec::<Value>::new());
}

async fn a_forge_webhook_that_does_not_prove_its_secret_records_nothing(app: TestApp) {
    let (key, secret) = forge(&app, "edge").await;
    let lead = app.user("lena", "responder").await;
    let id = app
        .declare(&lead, json!({"title": "Edge timeouts", "severity": "SEV2"}))
        .await;
    let push = github_push(id, id);
    let good = format!("sha256={}", hmac_hex(&secret, &push));
    let wrong = format!("sha256={}", hmac_hex("a guessed secret", &push));
    let refused = |answer: &Value| answer["error"]["code"] == "bad_signature";
    for (signature, what) in [
        (Some(wrong.as_str()), "another secret's signature"),
        (Some(&good[7..]), "a signature without sha256="),
        (None, "no signature"),
    ] {
        let mut headers = vec![("x-github-event", "push"), ("x-github-delivery", "d-1")];
        headers.extend(signature.map(|s| ("x-hub-signature-256", s)));
        let (status, answer) = deliver(&app, &key, &headers, &push).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
        assert!(refused(&answer), "{what}: {answer}");
    }
    // The signature is over the exact bytes: a body changed on the way is refused.
    let tampered = push.replace("60 s", "90 s");
    let headers = [
        ("x-github-event", "push"),
        ("x-github-delivery", "d-1"),
        ("x-hub-signature-256", good.as_str()),
    ];
    let (status, _) = deliver(&app, &key, &headers, &tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = deliver(
        &app,
        &key,
        &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "guess")],
        &push,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "bad_signature", "{answer}");
    // aplomb's own signature, made more than five minutes ago, is a replay.
    let own =
        json!({"incident_id": id, "system": "dns", "description": "Lowered the TTL"}).to_string();
    let stale = sign_webhook(&secret, app.app.now().as_second() - 600, &own);
    let (status, answer) = deliver(&app, &key, &[("aplomb-signature", &stale)], &own).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("five minutes")),
        "{answer}"
    );
    assert!(changes(&app, id).await.is_empty());

    // The refused delivery id was not taken: sent again properly, it records its change.
    let headers = [
        ("x-github-event", "push"),
        ("x-github-delivery", "d-1"),
        ("x-hub-signature-256", good.as_str()),
    ];
    let (status, answer) = deliver(&app, &key, &headers, &push).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(changes(&app, id).await.len(), 1);

    // A well-signed body that is not JSON names the body; a push without its repository names
    // the field.
    for (body, field) in [
        ("not json", "body"),
        (r#"{"commits": []}"#, "repository.full_name"),
    ] {
        let signature = format!("sha256={}", hmac_hex(&secret, body));
        let headers = [
            ("x-github-event", "push"),
            ("x-hub-signature-256", signature.as_str()),
        ];
        let (status, answer) = deliver(&app, &key, &headers, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }

    // Keys that are not a live forge integration's are not found: an unknown key, a monitoring
    // integration's key, a revoked forge key. And a forge key takes no monitoring events.
    let monitoring = crate::crash::service_with_integration(&app.http, &app.base, "checkout").await;
    let (status, _) = deliver(&app, "no-such-key", &headers, &push).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = deliver(&app, &monitoring, &headers, &push).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let event = app
        .http
        .post(format!("{}/v2/enqueue", app.base))
        .json(&json!({"routing_key": key, "event_action": "trigger",
            "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"}}))
        .send()
        .await
        .expect("the server answers");
    // PagerDuty's answer to a key it does not know.
    assert_eq!(
        event.status(),
        StatusCode::BAD_REQUEST,
        "a forge key took an alert"
    );
    let (_, alerts) = app.admin(Method::GET, "/api/v1/alerts", None).await;
    assert_eq!(alerts, json!([]), "no alert was stored");
    let (_, list) = app
        .admin(Method::GET, "/api/v1/services/edge/integrations", None)
        .await;
    let integration = list[0]["id"].as_i64().expect("an id");
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/integrations/{integration}"),
            None,
        )
        .await;
    assert!(status.is_success());
    let (status, _) = deliver(&app, &key, &headers, &push).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The OpenAPI document says all of this, and offers no Idempotency-Key (deliveries are
    // deduplicated by their own ids).
    let (_, doc) = app.admin(Method::GET, "/api/v1/openapi.json", None).await;
    let post = &doc["paths"]["/integrations/forge/{routing_key}"]["post"];
    for status in ["202", "401", "404", "413", "422", "500", "503"] {
        assert!(post["responses"][status].is_object(), "{status}: {post}");
    }
    assert!(
        post["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().all(|p| p["name"] != "Idempotency-Key")),
        "{post}"
    );
}

/// A delivery id is remembered for a month: redelivered within it, nothing is looked at again;
/// after it (the forge's next delivery forgets the old ids), it is taken like a new one, and
/// what it reports is still recognised by its reference.
async fn delivery_ids_are_forgotten_after_a_month(db: Db) {
    let clock = Arc::new(ManualClock::new(
        "2026-03-02T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await
    else {
        return;
    };
    let (key, secret) = forge(&app, "edge").await;
    let lead = app.user("lena", "responder").await;
    let id = app
        .declare(&lead, json!({"title": "Edge timeouts", "severity": "SEV2"}))
        .await;
    let push = github_push(id, id);
    let signature = format!("sha256={}", hmac_hex(&secret, &push));
    let send = async |delivery: &str| {
        let headers = github("push", delivery, &signature);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, answer) = deliver(&app, &key, &headers, &push).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        answer
    };
    assert_eq!(send("d-1").await["redelivery"], false);
    clock.advance(jiff::SignedDuration::from_hours(24 * 29));
    assert_eq!(
        send("d-1").await["redelivery"],
        true,
        "remembered for a month"
    );
    clock.advance(jiff::SignedDuration::from_hours(24 * 2));
    assert_eq!(send("d-2").await["redelivery"], false);
    let late = send("d-1").await;
    assert_eq!(late["redelivery"], false, "forgotten after a month: {late}");
    assert_eq!(late["recorded"], json!([]));
    assert_eq!(
        late["already_recorded"].as_array().map(Vec::len),
        Some(1),
        "{late}"
    );
    assert_eq!(changes(&app, id).await.len(), 1);
    app.shutdown().await;
}
