//! Credentials are shown to the people they belong to and to nobody else: routing keys to
//! admins only (never in an alert's payload), a webhook's signing secret once, to its owner.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use aplomb::secret::sign_webhook;

use crate::alerts::{enqueue, trigger};
use crate::helpers::TestApp;
use crate::sinks::{WebhookSink, eventually};

crate::on_both_backends!(routing_keys_are_shown_to_admins_only_and_never_in_alert_payloads);

/// Stories that need the paging engine's deliveries, on a server of their own.
mod signing {
    crate::for_both_backends!(
        a_rotated_signing_secret_signs_the_next_webhook_and_the_old_one_no_longer_verifies
    );

    async fn a_rotated_signing_secret_signs_the_next_webhook_and_the_old_one_no_longer_verifies(
        db: crate::helpers::Db,
    ) {
        let clock = std::sync::Arc::new(aplomb::clock::ManualClock::new(
            "2026-03-02T10:00:00Z".parse().expect("time"),
        ));
        let outbound = aplomb::engine::channels::OutboundConfig::default();
        let Some(app) = crate::helpers::TestApp::spawn_paging(db, clock, outbound).await else {
            return;
        };
        super::a_rotated_signing_secret_signs_the_next_webhook_and_the_old_one_no_longer_verifies(
            app,
        )
        .await;
    }
}

/// The `v1=` signature a receiver computes with `secret` for a delivery, and the one it got.
fn signatures(hook: &crate::sinks::Received, secret: &str) -> (String, String) {
    let header = hook.headers["aplomb-signature"]
        .to_str()
        .expect("ascii")
        .to_string();
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("a timestamp");
    (sign_webhook(secret, t, &hook.body), header)
}

async fn a_rotated_signing_secret_signs_the_next_webhook_and_the_old_one_no_longer_verifies(
    app: TestApp,
) {
    let wendy = app.user("wendy", "responder").await;
    let hooks = WebhookSink::start(0).await;
    let (status, method) = app
        .call(
            &wendy,
            Method::POST,
            "/api/v1/users/wendy/contact-methods",
            Some(json!({"kind": "webhook", "address": hooks.url})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{method}");
    let id = method["id"].as_i64().expect("id");
    let first_secret = method["signing_secret"]
        .as_str()
        .expect("a secret")
        .to_string();
    // The secret is answered once; a list does not repeat it.
    let (_, listed) = app
        .call(
            &wendy,
            Method::GET,
            "/api/v1/users/wendy/contact-methods",
            None,
        )
        .await;
    assert!(listed[0].get("signing_secret").is_none(), "{listed}");
    assert!(!listed.to_string().contains(&first_secret), "{listed}");

    let level = json!({"delay_minutes": 5, "targets": [{"type": "responder", "name": "wendy"}]});
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/apply",
            Some(json!({
                "escalation_policies": [{"name": "vault", "levels": [level]}],
                "services": [{"name": "vault", "escalation_policy": "vault"}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page = |n: usize| {
        let hooks = &hooks;
        async move {
            eventually("a webhook page", || async {
                hooks.received().get(n).cloned()
            })
            .await
        }
    };
    let declare = json!({"title": "Vault sealed", "severity": "SEV3", "services": ["vault"]});
    app.declare(crate::helpers::ADMIN_TOKEN, declare.clone())
        .await;
    let (expected, got) = signatures(&page(0).await, &first_secret);
    assert_eq!(
        expected, got,
        "the first page verifies with the first secret"
    );

    // Wendy rotates the secret from the CLI: printed once, in plain output.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(["contact", "rotate-secret", &id.to_string()])
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", &wendy)
        .output()
        .await
        .expect("the CLI runs");
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let second_secret = printed
        .lines()
        .find_map(|l| l.strip_prefix("signing secret: "))
        .unwrap_or_else(|| panic!("{printed}"))
        .to_string();
    assert_ne!(second_secret, first_secret);

    app.declare(crate::helpers::ADMIN_TOKEN, declare.clone())
        .await;
    let hook = page(1).await;
    let (expected, got) = signatures(&hook, &second_secret);
    assert_eq!(expected, got, "the next page verifies with the new secret");
    let (stale, _) = signatures(&hook, &first_secret);
    assert_ne!(stale, got, "and no longer with the old one");

    // On the Responders page, a button makes a new one and shows it once.
    let web = app.web_session("wendy").await;
    let (_, responders) = web.page("/responders").await;
    let action = format!("/responders/me/contact-methods/{id}/rotate-secret");
    assert!(responders.contains(&action), "{responders}");
    let csrf = web.csrf().await;
    let html = web
        .post_form(&action, &[("csrf", &csrf)])
        .await
        .text()
        .await
        .expect("html");
    let third_secret = html
        .split("<pre class=\"code\" id=\"signing-secret\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("{html}"))
        .to_string();
    assert_eq!(third_secret.len(), 64, "{html}");
    app.declare(crate::helpers::ADMIN_TOKEN, declare).await;
    let (expected, got) = signatures(&page(2).await, &third_secret);
    assert_eq!(expected, got);

    // Only the owner (or an admin) rotates, and only a webhook has a secret.
    let other = app.user("otto", "responder").await;
    let path = format!("/api/v1/users/wendy/contact-methods/{id}/rotate-secret");
    let (status, _) = app.call(&other, Method::POST, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            &wendy,
            Method::POST,
            "/api/v1/users/wendy/contact-methods/999999/rotate-secret",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, email) = app
        .call(
            &wendy,
            Method::POST,
            "/api/v1/users/wendy/contact-methods",
            Some(json!({"kind": "email", "address": "wendy@example.org"})),
        )
        .await;
    let email_path = format!(
        "/api/v1/users/wendy/contact-methods/{}/rotate-secret",
        email["id"]
    );
    let (status, _) = app
        .call(&wendy, Method::POST, &email_path, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Adding a webhook from the CLI prints its secret in plain output too.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args([
            "contact",
            "add",
            "webhook",
            "https://hooks.example.org/otto",
        ])
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", &other)
        .output()
        .await
        .expect("the CLI runs");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.lines().any(|l| l
            .strip_prefix("signing secret: ")
            .is_some_and(|s| s.len() == 64)),
        "{printed}"
    );
}

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
