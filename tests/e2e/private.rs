//! "Private means private": an outsider learns nothing of a private incident through any list,
//! page, live stream, API response or metric; participants and admins see it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::api::read_stream_until;
use crate::helpers::TestApp;

crate::on_both_backends!(a_private_incident_is_seen_only_by_participants_and_admins);

async fn a_private_incident_is_seen_only_by_participants_and_admins(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let mallory = app.user("mallory", "responder").await;
    let carol = app.user("carol", "responder").await;
    let dana = app.user("dana", "responder").await;
    let public = app
        .declare(&bob, json!({"title": "Public hiccup", "severity": "SEV4"}))
        .await;
    let secret = app
        .declare(&bob, json!({"title": "Credential leak in build logs", "severity": "SEV1", "type": "security", "private": true}))
        .await;
    let path = format!("/api/v1/incidents/{secret}");

    // The outsider's live stream is open before anything happens to the private incident.
    let mallory_web = app.web_session("mallory").await;
    let mut mallory_events = mallory_web.get("/events").await;
    assert_eq!(mallory_events.status(), StatusCode::OK);

    // API: list, show, timeline, every change, and the per-incident stream.
    let (_, page) = app
        .call(&mallory, Method::GET, "/api/v1/incidents", None)
        .await;
    let seen: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert_eq!(seen, vec![public]);
    let (_, page) = app
        .call(
            &mallory,
            Method::GET,
            "/api/v1/incidents?severity=SEV1",
            None,
        )
        .await;
    assert_eq!(page["items"], json!([]));
    // The investigation holds what the incident is about: none of it reaches the outsider.
    let (status, evidence) = app
        .call(
            &bob,
            Method::POST,
            &format!("{path}/evidence"),
            Some(json!({"kind": "log", "summary": "Credential seen in build 4411's log"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{evidence}");
    let (status, hypothesis) = app
        .call(
            &bob,
            Method::POST,
            &format!("{path}/hypotheses"),
            Some(json!({"statement": "Credential printed by the deploy script"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hypothesis}");
    let (status, change) = app
        .call(&bob, Method::POST, &format!("{path}/changes"),
            Some(json!({"system": "ci", "description": "Rotated the Credential", "reason": "it leaked"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{change}");
    let (status, task) = app
        .call(&bob, Method::POST, &format!("{path}/tasks"),
            Some(json!({"title": "Find every Credential in the logs", "assignee": "dana", "check_in_minutes": 15})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    // dana, given the task, joined the incident and sees it in her work; the outsider does not.
    let (_, danas) = app.call(&dana, Method::GET, "/api/v1/me/work", None).await;
    assert_eq!(danas["tasks"][0]["task"]["id"], task["id"], "{danas}");
    let (_, mallorys) = app
        .call(&mallory, Method::GET, "/api/v1/me/work", None)
        .await;
    assert_eq!(mallorys, json!({"roles": [], "tasks": []}));
    let task_item = format!("/tasks/{}", task["id"]);
    let task_check_ins = format!("{task_item}/check-ins");
    let change_item = format!("/changes/{}", change["id"]);
    let evidence_item = format!("/evidence/{}", evidence["id"]);
    let hypothesis_item = format!("/hypotheses/{}", hypothesis["id"]);
    let hypothesis_tests = format!("{hypothesis_item}/tests");
    for (method, suffix, body) in [
        (Method::GET, "/evidence", None),
        (
            Method::POST,
            "/evidence",
            Some(json!({"kind": "other", "summary": "peek"})),
        ),
        (
            Method::PATCH,
            evidence_item.as_str(),
            Some(json!({"pinned": true})),
        ),
        (Method::DELETE, evidence_item.as_str(), None),
        (Method::GET, "/hypotheses", None),
        (
            Method::POST,
            "/hypotheses",
            Some(json!({"statement": "peek"})),
        ),
        (
            Method::PATCH,
            hypothesis_item.as_str(),
            Some(json!({"state": "testing"})),
        ),
        (
            Method::POST,
            hypothesis_tests.as_str(),
            Some(json!({"description": "peek", "result": "peek"})),
        ),
        (Method::GET, "/changes", None),
        (
            Method::POST,
            "/changes",
            Some(json!({"system": "x", "description": "peek", "reason": "peek"})),
        ),
        (
            Method::PATCH,
            change_item.as_str(),
            Some(json!({"state": "rolled_back"})),
        ),
        (Method::GET, "/recent-changes", None),
        (Method::GET, "/tasks", None),
        (Method::POST, "/tasks", Some(json!({"title": "peek"}))),
        (
            Method::PATCH,
            task_item.as_str(),
            Some(json!({"status": "done"})),
        ),
        (
            Method::POST,
            task_check_ins.as_str(),
            Some(json!({"note": "peek"})),
        ),
    ] {
        let (status, err) = app
            .call(&mallory, method.clone(), &format!("{path}{suffix}"), body)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {suffix}: {err}");
        assert!(!err.to_string().contains("Credential"), "{err}");
    }
    let mallory_csrf = mallory_web.csrf().await;
    let posted = mallory_web
        .post_form(
            &format!("/incidents/{secret}/evidence"),
            &[
                ("csrf", &mallory_csrf),
                ("kind", "other"),
                ("summary", "peek"),
            ],
        )
        .await;
    let answer = posted.text().await.unwrap_or_default();
    assert!(!answer.contains("Credential"), "{answer}");
    let (_, evidence_now) = app
        .call(&bob, Method::GET, &format!("{path}/evidence"), None)
        .await;
    assert_eq!(
        evidence_now.as_array().map(Vec::len),
        Some(1),
        "nothing was added: {evidence_now}"
    );

    for (method, suffix, body) in [
        (Method::GET, "", None),
        (Method::GET, "/timeline", None),
        (Method::GET, "/events", None),
        (Method::PATCH, "", Some(json!({"status": "resolved"}))),
        (Method::POST, "/timeline", Some(json!({"text": "peek"}))),
        (
            Method::PUT,
            "/roles/scribe",
            Some(json!({"user": "mallory"})),
        ),
        (
            Method::POST,
            "/participants",
            Some(json!({"user": "mallory"})),
        ),
    ] {
        let (status, err) = app
            .call(&mallory, method.clone(), &format!("{path}{suffix}"), body)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {suffix}: {err}");
        assert!(!err.to_string().contains("Credential"), "{err}");
    }

    // Web pages: list, incident page, live fragment.
    let (_, list_html) = mallory_web.page("/incidents").await;
    assert!(list_html.contains("Public hiccup"));
    assert!(!list_html.contains("Credential leak"));
    let (_, fragment) = mallory_web.page("/incidents/list").await;
    assert!(!fragment.contains("Credential leak"));
    for page in [
        format!("/incidents/{secret}"),
        format!("/incidents/{secret}/live"),
        format!("/incidents/{secret}/events"),
    ] {
        let (status, html) = mallory_web.page(&page).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
        assert!(!html.contains("Credential leak"));
    }

    // Live: changes to the private incident are not announced to the outsider; the next
    // public change is the first thing the stream carries.
    app.call(
        &bob,
        Method::POST,
        &format!("{path}/timeline"),
        Some(json!({"text": "rotating keys"})),
    )
    .await;
    app.call(
        &bob,
        Method::POST,
        &format!("/api/v1/incidents/{public}/timeline"),
        Some(json!({"text": "fine now"})),
    )
    .await;
    let seen = read_stream_until(&mut mallory_events, &format!("data: {public}")).await;
    assert!(!seen.contains(&format!("data: {secret}\n")), "{seen}");

    // Admins see everything; a participant added by hand sees it too.
    let (status, _) = app.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(&carol, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .call(
            &bob,
            Method::POST,
            &format!("{path}/participants"),
            Some(json!({"user": "carol"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, incident) = app.call(&carol, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(incident["participants"], json!(["bob", "carol", "dana"]));
    let (_, page) = app
        .call(&carol, Method::GET, "/api/v1/incidents", None)
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));

    // Metrics count only non-private incidents.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("aplomb_open_incidents{severity=\"SEV1\"} 0"),
        "{metrics}"
    );
}
