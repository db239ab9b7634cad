//! Stakeholders' subscriptions to status updates, through the running server: people
//! subscribe (by the API and the CLI) to every incident, a service's or a severity's; an
//! update published to stakeholders reaches each one it covers once, by email at a real SMTP
//! server on loopback and by signed webhook, tracked on the update; updates to other
//! audiences, and a private incident's updates to those who may not see it, reach nobody. A
//! predetermined channel (the response team's chat room, here a webhook) is a user of its own,
//! subscribed to the updates written for responders.

use std::sync::Arc;

use aplomb::clock::ManualClock;
use aplomb::secret::sign_webhook;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{aplomb, stdout};
use crate::helpers::{Db, TestApp};
use crate::paging::{ok, outbound};
use crate::sinks::{SmtpSink, WebhookSink, eventually};

crate::for_both_backends!(a_published_update_reaches_each_subscribed_stakeholder_once);

async fn a_published_update_reaches_each_subscribed_stakeholder_once(db: Db) {
    let Some(smtp) = SmtpSink::start().await else {
        return;
    };
    let hooks = WebhookSink::start(0).await;
    let team_room = WebhookSink::start(0).await;
    let clock = Arc::new(ManualClock::new(
        "2026-12-04T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock, outbound(Some(&smtp))).await else {
        return;
    };
    for service in ["checkout-api", "search"] {
        ok(
            &app,
            Method::POST,
            "/api/v1/services",
            json!({"name": service}),
        )
        .await;
    }
    let lena = app.user("lena", "responder").await;
    let mia = app.user("mia", "viewer").await;
    app.user("sam", "responder").await;
    app.user("pat", "viewer").await;
    app.user("response-room", "viewer").await;
    let contact = async |user: &str, kind: &str, address: &str| {
        ok(
            &app,
            Method::POST,
            &format!("/api/v1/users/{user}/contact-methods"),
            json!({"kind": kind, "address": address}),
        )
        .await
    };
    contact("mia", "email", "mia@example.org").await;
    let sam_hook = contact("sam", "webhook", &hooks.url).await;
    let pat_mail = contact("pat", "email", "pat@example.org").await;
    let room_hook = contact("response-room", "webhook", &team_room.url).await;

    // mia, a manager, subscribes herself by the CLI: SEV2 or worse, by email.
    let added = stdout(
        &aplomb(
            &app,
            &mia,
            &[
                "subscription",
                "add",
                "mia",
                "--severity",
                "SEV2",
                "--via",
                "email",
            ],
        )
        .await,
    );
    assert!(
        added.contains("mia hears of SEV2 or worse incidents by email"),
        "{added}"
    );
    let subscribe = async |user: &str, body: Value| {
        app.admin(
            Method::POST,
            &format!("/api/v1/users/{user}/subscriptions"),
            Some(body),
        )
        .await
    };
    let (status, sub) = subscribe(
        "sam",
        json!({"scope": "service", "service": "checkout-api", "contact_method_id": sam_hook["id"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    subscribe(
        "pat",
        json!({"scope": "service", "service": "search", "contact_method_id": pat_mail["id"]}),
    )
    .await;
    let (status, room) = subscribe(
        "response-room",
        json!({"scope": "all", "audience": "responders", "contact_method_id": room_hook["id"]}),
    )
    .await;
    assert_eq!(
        (status, &room["audience"]),
        (StatusCode::CREATED, &json!("responders")),
        "{room}"
    );
    for (body, field) in [
        (
            json!({"scope": "service", "service": "nope", "contact_method_id": pat_mail["id"]}),
            "service",
        ),
        (
            json!({"scope": "severity", "severity": "P1", "contact_method_id": pat_mail["id"]}),
            "severity",
        ),
        (
            json!({"scope": "team", "contact_method_id": pat_mail["id"]}),
            "scope",
        ),
        (
            json!({"scope": "all", "contact_method_id": sam_hook["id"]}),
            "contact_method_id",
        ),
        (
            json!({"scope": "all", "audience": "public", "contact_method_id": pat_mail["id"]}),
            "audience",
        ),
    ] {
        let (status, answer) = subscribe("pat", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {answer}"
        );
        assert_eq!(answer["error"]["field"], field, "{body} → {answer}");
    }
    let (status, _) = app
        .call(&mia, Method::GET, "/api/v1/users/pat/subscriptions", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "subscriptions are personal");
    let listed = stdout(&aplomb(&app, &mia, &["subscription", "list", "mia"]).await);
    assert!(listed.contains("SEV2 or worse incidents"), "{listed}");

    // A SEV2 on checkout-api: mia (by severity) and sam (by service) hear of it; pat does not.
    let id = app
        .declare(
            &lena,
            json!({"title": "Checkout errors", "severity": "SEV2", "services": ["checkout-api"]}),
        )
        .await;
    let updates = format!("/api/v1/incidents/{id}/updates");
    let words = "Some customers cannot pay by card. We are rolling back a change. Next update by 10:30 UTC.";
    let (status, u) = app
        .call(
            &lena,
            Method::POST,
            &updates,
            Some(json!({"text": words, "phase": "identified",
                "audiences": ["public", "stakeholders"], "publish": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    let mut told: Vec<(&str, &str)> = u["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .filter_map(|d| Some((d["user"].as_str()?, d["channel"].as_str()?)))
        .collect();
    told.sort_unstable();
    assert_eq!(told, [("mia", "email"), ("sam", "webhook")], "{u}");

    let mail = eventually("the email to mia", || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.contains("mia@example.org"))
    })
    .await;
    assert!(
        mail.contains("Update on incident #") && mail.contains("cannot pay by card"),
        "{mail}"
    );
    let hook = eventually("the webhook to sam", || async {
        hooks.received().into_iter().next()
    })
    .await;
    let signature = hook.headers["aplomb-signature"]
        .to_str()
        .expect("ascii")
        .to_string();
    let t: i64 = signature
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("a timestamp");
    let secret = sam_hook["signing_secret"].as_str().expect("a secret");
    assert_eq!(signature, sign_webhook(secret, t, &hook.body), "signed");
    let event: Value = serde_json::from_str(&hook.body).expect("JSON");
    assert_eq!(event["type"], "status_update.published");
    assert_eq!(
        (
            &event["status_update"]["text"],
            &event["status_update"]["phase"],
            &event["incident"]["id"]
        ),
        (&json!(words), &json!("Identified"), &json!(id))
    );
    eventually("both deliveries recorded as sent", || async {
        let (_, list) = app.call(&lena, Method::GET, &updates, None).await;
        let sent = list[0]["sent"].as_array()?.clone();
        sent.iter().all(|d| d["state"] == "sent").then_some(())
    })
    .await;
    let (_, page) = app
        .web_session("lena")
        .await
        .page(&format!("/incidents/{id}"))
        .await;
    assert!(
        page.contains("Sent to mia by email: sent, sam by webhook: sent")
            || page.contains("Sent to sam by webhook: sent, mia by email: sent"),
        "the incident page says who the update went to"
    );

    // An update to the responders alone reaches their room only; a resolution sent as the
    // incident resolves still goes out.
    let (_, inner) = app
        .call(
            &lena,
            Method::POST,
            &updates,
            Some(json!({"text": "Rollback of build 2231 started.", "audiences": ["responders"], "publish": true})),
        )
        .await;
    let sent = inner["sent"].as_array().expect("sent");
    assert_eq!(
        (sent.len(), &sent[0]["user"], &sent[0]["channel"]),
        (1, &json!("response-room"), &json!("webhook")),
        "{inner}"
    );
    let in_the_room = eventually("the update reaches the response room", || async {
        team_room.received().into_iter().next()
    })
    .await;
    assert!(
        in_the_room.body.contains("Rollback of build 2231 started."),
        "{}",
        in_the_room.body
    );
    assert_eq!(
        team_room.received().len(),
        1,
        "the room heard only its audience's update"
    );
    let (_, resolved) = app
        .call(
            &lena,
            Method::POST,
            &updates,
            Some(
                json!({"text": "Card payments work again. This incident is resolved.",
                "phase": "resolved", "audiences": ["stakeholders"], "publish": true}),
            ),
        )
        .await;
    assert_eq!(
        resolved["sent"].as_array().map(Vec::len),
        Some(2),
        "{resolved}"
    );
    let (status, _) = app
        .call(
            &lena,
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually("the resolution reaches mia", || async {
        let mails = smtp.messages();
        mails
            .iter()
            .any(|m| m.contains("mia@example.org") && m.contains("Card payments work again"))
            .then_some(())
    })
    .await;
    assert!(
        smtp.messages()
            .iter()
            .all(|m| !m.contains("pat@example.org")),
        "pat subscribed to search only"
    );

    // A private incident is told only to subscribers who may see it: here, nobody.
    let private = app
        .declare(
            &lena,
            json!({"title": "Suspicious logins", "severity": "SEV1", "services": ["checkout-api"], "private": true}),
        )
        .await;
    let (_, secret_update) = app
        .call(
            &lena,
            Method::POST,
            &format!("/api/v1/incidents/{private}/updates"),
            Some(json!({"text": "We are looking into unusual sign-ins.", "audiences": ["stakeholders"], "publish": true})),
        )
        .await;
    assert_eq!(secret_update["sent"], json!([]), "{secret_update}");

    let removed = stdout(&aplomb(&app, &mia, &["subscription", "list", "mia", "--json"]).await);
    let mine: Value = serde_json::from_str(&removed).expect("JSON");
    let sub_id = mine[0]["id"].to_string();
    stdout(&aplomb(&app, &mia, &["subscription", "remove", "mia", &sub_id]).await);
    let (_, left) = app
        .call(&mia, Method::GET, "/api/v1/users/mia/subscriptions", None)
        .await;
    assert_eq!(left, json!([]));
    app.shutdown().await;
}
