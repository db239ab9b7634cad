//! Credentials are shown to the people they belong to and to nobody else: routing keys to
//! admins only (never in an alert's payload), a webhook's signing secret once, to its owner.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::alerts::{enqueue, trigger};
use crate::helpers::TestApp;

crate::on_both_backends!(routing_keys_are_shown_to_admins_only_and_never_in_alert_payloads);

async fn routing_keys_are_shown_to_admins_only_and_never_in_alert_payloads(app: TestApp) {
    let viewer = app.user("vera", "viewer").await;
    let responder = app.user("rui", "responder").await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/services",
            Some(json!({"name": "search"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, created) = app
        .admin(
            Method::POST,
            "/api/v1/services/search/integrations",
            Some(json!({"kind": "events_v2"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["routing_key"].as_str().expect("a key").to_string();

    // Admins see the key; a viewer and a responder see the integration without it.
    let path = "/api/v1/services/search/integrations";
    let (_, listed) = app.admin(Method::GET, path, None).await;
    assert_eq!(listed[0]["routing_key"], key.as_str(), "{listed}");
    for token in [&viewer, &responder] {
        let (status, listed) = app.call(token, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert_eq!(listed[0]["id"], created["id"], "{listed}");
        assert!(listed[0].get("routing_key").is_none(), "{listed}");
        assert_eq!(listed[0]["key_hint"], &key[key.len() - 4..], "{listed}");
        assert!(!listed.to_string().contains(&key), "{listed}");
    }
    // So does the CLI.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(["integration", "list", "search"])
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", &viewer)
        .output()
        .await
        .expect("the CLI runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        table.contains("events_v2") && !table.contains(&key),
        "{table}"
    );

    // An event carries its routing key; the alert shown to anyone does not.
    let (status, body) = enqueue(&app, "/v2/enqueue", &trigger(&key, "disk-1", "warning")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, alerts) = app
        .call(&responder, Method::GET, "/api/v1/alerts", None)
        .await;
    let alert = &alerts[0];
    assert_eq!(alert["payload"]["event_action"], "trigger", "{alerts}");
    assert!(alert["payload"].get("routing_key").is_none(), "{alerts}");
    let id = alert["id"].as_i64().expect("id");
    for token in [
        &viewer,
        &responder,
        &crate::helpers::ADMIN_TOKEN.to_string(),
    ] {
        for path in ["/api/v1/alerts".to_string(), format!("/api/v1/alerts/{id}")] {
            let (status, body): (StatusCode, Value) =
                app.call(token, Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(!body.to_string().contains(&key), "{path}: {body}");
        }
    }
    let (status, acked) = app
        .call(
            &responder,
            Method::POST,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert!(!acked.to_string().contains(&key), "{acked}");
    // Nor do the web pages.
    let web = app.web_session("vera").await;
    for page in ["/alerts".to_string(), format!("/alerts/{id}")] {
        let (status, html) = web.page(&page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page == "/alerts" || html.contains("event_action"),
            "{page}: {html}"
        );
        assert!(!html.contains(&key), "{page} shows the routing key");
    }
}
