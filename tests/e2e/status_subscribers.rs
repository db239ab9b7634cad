//! Subscribing to the public status page, through the running server: a reader signs up
//! from the page's form, gets a confirmation at a real SMTP server on loopback (and nothing
//! else before confirming), confirms, hears of each public update of the components chosen
//! (with RFC 8058 one-click unsubscribe headers, read by Python's email parser) and of
//! maintenance, and leaves with one click; an admin's webhook subscriber hears the same,
//! signed; sign-ups are counted per client address.

use std::sync::Arc;

use aplomb::clock::ManualClock;
use aplomb::secret::sign_webhook;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{aplomb, stdout};
use crate::helpers::{ADMIN_TOKEN, Db, TestApp};
use crate::paging::{ok, outbound};
use crate::sinks::{SmtpSink, WebhookSink, eventually};

crate::for_both_backends!(readers_subscribe_confirm_hear_and_leave_with_one_click);

/// A message as Python's standard email parser reads it: its headers unfolded, its text part
/// decoded.
fn parsed(raw: &str) -> Value {
    let script = r#"
import email, email.policy, json, sys
m = email.message_from_string(sys.stdin.read(), policy=email.policy.default)
print(json.dumps({
    "to": str(m["To"]), "subject": str(m["Subject"]),
    "list_unsubscribe": str(m["List-Unsubscribe"] or ""),
    "list_unsubscribe_post": str(m["List-Unsubscribe-Post"] or ""),
    "text": m.get_body(("plain",)).get_content(),
}))
"#;
    crate::sinks::python_reads(script, raw)
}

/// The messages to `to`, parsed, oldest first.
fn mail_to(smtp: &SmtpSink, to: &str) -> Vec<Value> {
    smtp.messages()
        .iter()
        .map(|m| parsed(m))
        .filter(|m| m["to"] == to)
        .collect()
}

/// The link in `text` that starts with `prefix`.
fn link(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {text}"));
    text[start..]
        .split_whitespace()
        .next()
        .expect("a link")
        .to_string()
}

async fn form(app: &TestApp, path: &str, body: &str) -> (StatusCode, String) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .expect("the server answers");
    (r.status(), r.text().await.expect("a body"))
}

async fn readers_subscribe_confirm_hear_and_leave_with_one_click(db: Db) {
    let Some(smtp) = SmtpSink::start().await else {
        return;
    };
    let hooks = WebhookSink::start(0).await;
    let clock = Arc::new(ManualClock::new(
        "2026-12-04T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock, outbound(Some(&smtp))).await else {
        return;
    };
    let lena = app.user("lena", "responder").await;
    let mut ids = Vec::new();
    for name in ["Checkout", "Search"] {
        let c = ok(
            &app,
            Method::POST,
            "/api/v1/status/components",
            json!({"name": name}),
        )
        .await;
        ids.push(c["id"].as_i64().expect("an id"));
    }
    let search = ids[1];

    // Two readers sign up from the page's form: ana to everything, sid to Search only.
    let page = reqwest::get(format!("{}/status", app.base))
        .await
        .expect("the page")
        .text()
        .await
        .expect("HTML");
    assert!(
        page.contains("action=\"/status/subscribe\""),
        "the page has the form"
    );
    let (status, answer) = form(&app, "/status/subscribe", "email=ana%40example.org").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert!(answer.contains("Check your inbox"), "{answer}");
    let (status, _) = form(
        &app,
        "/status/subscribe",
        &format!("email=sid%40example.org&component={search}"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, bad) = form(&app, "/status/subscribe", "email=not-an-address").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    let confirmation = eventually("ana's confirmation", || async {
        mail_to(&smtp, "ana@example.org").into_iter().next()
    })
    .await;
    assert_eq!(
        confirmation["list_unsubscribe"], "",
        "not subscribed yet: nothing to leave"
    );
    let text = confirmation["text"].as_str().expect("text");
    let confirm = link(text, &format!("{}/status/subscribe/confirm/", app.base));
    // Before confirming, a public update reaches nobody.
    let id = app
        .declare(
            &lena,
            json!({"title": "Checkout errors", "severity": "SEV2"}),
        )
        .await;
    let updates = format!("/api/v1/incidents/{id}/updates");
    let publish = async |body: Value| {
        let (status, u) = app.call(&lena, Method::POST, &updates, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{u}");
        u
    };
    publish(json!({"text": "We are looking into failed card payments.", "audiences": ["public"], "publish": true}))
        .await;
    let r = reqwest::get(&confirm).await.expect("confirm");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("HTML").contains("You are subscribed"));
    let sid_confirm = eventually("sid's confirmation", || async {
        let m = mail_to(&smtp, "sid@example.org").into_iter().next()?;
        Some(link(
            m["text"].as_str()?,
            &format!("{}/status/subscribe/confirm/", app.base),
        ))
    })
    .await;
    assert_eq!(
        reqwest::get(&sid_confirm).await.expect("confirm").status(),
        StatusCode::OK
    );
    let forged = format!("{}/status/subscribe/confirm/not-a-token", app.base);
    assert_eq!(
        reqwest::get(&forged).await.expect("404").status(),
        StatusCode::NOT_FOUND
    );

    // An admin adds a webhook subscriber; the list shows all three.
    let (status, hook) = app
        .admin(
            Method::POST,
            "/api/v1/status/subscribers",
            Some(json!({"kind": "webhook", "address": hooks.url})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["signing_secret"]
        .as_str()
        .expect("its secret, once")
        .to_string();
    let (_, listed) = app
        .admin(Method::GET, "/api/v1/status/subscribers", None)
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    assert!(listed[0].get("signing_secret").is_none(), "{listed}");
    let table = stdout(&aplomb(&app, ADMIN_TOKEN, &["status-subscriber", "list"]).await);
    assert!(
        table.contains("ana@example.org") && table.contains(&hooks.url),
        "{table}"
    );
    let (status, _) = app
        .call(&lena, Method::GET, "/api/v1/status/subscribers", None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "subscribers are the admins' to see"
    );

    // A public update about Checkout: ana and the webhook hear of it once; sid, who chose
    // Search, does not.
    publish(
        json!({"text": "Card payments fail for some customers. We are rolling back a change.",
        "phase": "identified", "audiences": ["public"],
        "components": [{"name": "Checkout", "status": "partial_outage"}], "publish": true}),
    )
    .await;
    let told = eventually("ana hears of the update", || async {
        mail_to(&smtp, "ana@example.org").into_iter().find(|m| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.contains("rolling back"))
        })
    })
    .await;
    assert_eq!(
        told["subject"],
        "[Service status] Checkout errors: Identified"
    );
    let leave = format!("{}/status/unsubscribe/", app.base);
    let unsubscribe = told["list_unsubscribe"].as_str().expect("a header");
    assert!(
        unsubscribe.starts_with(&format!("<{leave}")) && unsubscribe.ends_with('>'),
        "{unsubscribe}"
    );
    assert_eq!(told["list_unsubscribe_post"], "List-Unsubscribe=One-Click");
    assert!(
        told["text"]
            .as_str()
            .is_some_and(|t| t.contains(&format!("{}/status/incidents/{id}", app.base))),
        "{told}"
    );
    let event = eventually("the webhook hears of it", || async {
        hooks
            .received()
            .into_iter()
            .find(|h| h.body.contains("rolling back"))
    })
    .await;
    let signature = event.headers["aplomb-signature"].to_str().expect("ascii");
    let t: i64 = signature
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("a timestamp");
    assert_eq!(signature, sign_webhook(&secret, t, &event.body), "signed");
    let body: Value = serde_json::from_str(&event.body).expect("JSON");
    assert_eq!(body["type"], "status_update.published");
    assert_eq!(body["incident_update"]["status"], "identified");
    assert_eq!(body["incident"]["id"], id.to_string());

    // Words for stakeholders reach no reader.
    publish(json!({"text": "Finance: refunds may be needed.", "audiences": ["stakeholders"], "publish": true}))
        .await;

    // ana leaves with one click, as her mail client would.
    let url = unsubscribe.trim_start_matches('<').trim_end_matches('>');
    let r = reqwest::get(url).await.expect("the unsubscribe page");
    assert!(
        r.text()
            .await
            .expect("HTML")
            .contains("id=\"confirm-action\"")
    );
    let (status, left) = form(
        &app,
        url.trim_start_matches(&app.base),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert!(left.contains("You are unsubscribed"), "{left}");

    // A maintenance of Search: sid and the webhook hear of it, ana no longer.
    let (status, m) = app
        .admin(
            Method::POST,
            "/api/v1/maintenances",
            Some(
                json!({"title": "Search index rebuild", "scheduled_for": "2026-12-05T02:00:00Z",
                "scheduled_until": "2026-12-05T03:00:00Z", "components": ["Search"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let announced = eventually("sid hears of the maintenance", || async {
        mail_to(&smtp, "sid@example.org").into_iter().find(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.contains("Search index rebuild"))
        })
    })
    .await;
    assert_eq!(
        announced["subject"],
        "[Service status] Scheduled maintenance scheduled: Search index rebuild"
    );
    eventually("the webhook hears of the maintenance", || async {
        hooks
            .received()
            .into_iter()
            .find(|h| h.body.contains("\"maintenance.scheduled\""))
    })
    .await;
    let mail = smtp.messages();
    let ana: Vec<Value> = mail
        .iter()
        .map(|m| parsed(m))
        .filter(|m| m["to"] == "ana@example.org")
        .collect();
    // Sorted: the maildir's file names do not keep the order within one second.
    let mut subjects: Vec<&str> = ana.iter().filter_map(|m| m["subject"].as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        [
            "Confirm your subscription to Service status",
            "[Service status] Checkout errors: Identified"
        ],
        "ana heard the confirmation, then the one update after confirming: not the one before, \
         not the stakeholders', not the maintenance after leaving"
    );
    assert!(
        mail.iter()
            .map(|m| parsed(m))
            .filter(|m| m["to"] == "sid@example.org")
            .all(|m| !m["text"].as_str().unwrap_or("").contains("rolling back")),
        "sid chose Search"
    );

    // Sign-ups are counted per client address.
    let mut limited = None;
    for n in 0..10 {
        let (status, answer) = form(
            &app,
            "/status/subscribe",
            &format!("email=r{n}%40example.org"),
        )
        .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(answer);
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    let limited = limited.expect("the sign-ups are limited");
    assert!(limited.contains("try again in"), "{limited}");
    app.shutdown().await;
}
