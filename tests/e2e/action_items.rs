//! Action items, through the running server: decided in a review with an owner, a due time and
//! the team owning the incident's service; sent to the tracker (signed) on creation and on each
//! change; their owner reminded a day before, at the due time and daily after, until done; bad
//! input refused by field; the overview by owner and team through the API, the CLI and the
//! page; and a private incident's items kept from those who may not see it.

use std::sync::Arc;

use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;

use crate::helpers::{Db, TestApp};
use crate::paging::{ok, settle, timeline_kinds};
use crate::sinks::{WebhookSink, eventually};

crate::on_both_backends!(
    a_private_incidents_action_items_stay_with_those_who_see_it,
    the_review_page_adds_and_finishes_action_items,
);
mod clocked {
    use super::action_items_are_reminded_until_done_and_told_to_the_tracker;
    crate::for_both_backends!(action_items_are_reminded_until_done_and_told_to_the_tracker);
}

const TRACKER_SECRET: &str = "tracker-secret-0123456789";

/// The webhook events a sink received, by their `type`, in order.
fn events(sink: &WebhookSink) -> Vec<Value> {
    sink.received()
        .iter()
        .map(|r| serde_json::from_str(&r.body).expect("a JSON event"))
        .collect()
}

fn types(sink: &WebhookSink) -> Vec<String> {
    events(sink)
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("").to_string())
        .collect()
}

/// olga (responder, webhook contact method) in team `database`, which owns service `orders`.
async fn database_team(app: &TestApp, hook: &str) -> String {
    let olga = app.user("olga", "responder").await;
    ok(
        app,
        Method::POST,
        "/api/v1/users/olga/contact-methods",
        json!({"kind": "webhook", "address": hook}),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/v1/teams",
        json!({"name": "database", "domain": "database", "members": ["olga"]}),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "orders"}),
    )
    .await;
    ok(
        app,
        Method::PUT,
        "/api/v1/services/orders/oncall",
        json!({"team": "database"}),
    )
    .await;
    olga
}

async fn action_items_are_reminded_until_done_and_told_to_the_tracker(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let tracker = WebhookSink::start(0).await;
    let config = tempfile::NamedTempFile::new().expect("a config file");
    std::fs::write(
        config.path(),
        format!(
            "[tracker]\nurl = \"{}\"\nsecret = \"{TRACKER_SECRET}\"\n",
            tracker.url
        ),
    )
    .expect("the config is written");
    let clock = Arc::new(ManualClock::new(
        "2026-12-07T10:00:00Z".parse().expect("time"),
    ));
    let path = config.path().to_path_buf();
    let Some(app) = TestApp::spawn_configured(db, clock.clone(), OutboundConfig::default(), |o| {
        o.config = Some(path)
    })
    .await
    else {
        return;
    };
    let olga = database_team(&app, &hooks.url).await;
    let lena = app.user("lena", "responder").await;
    let vera = app.user("vera", "viewer").await;
    let id = app
        .declare(
            &lena,
            json!({"title": "Orders stalled", "severity": "SEV3", "services": ["orders"]}),
        )
        .await;
    let items = format!("/api/v1/incidents/{id}/review/action-items");

    // Refused input names its field; a viewer may not decide on items.
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"title": "x", "priority": "urgent"}), "priority"),
        (json!({"title": "x", "section": "luck"}), "section"),
        (json!({"title": "x", "owner": "nobody"}), "owner"),
        (json!({"title": "x", "owner": "vera"}), "owner"),
        (json!({"title": "x", "team": "ghosts"}), "team"),
        (
            json!({"title": "x", "due_at": "2026-12-07T09:00:00Z"}),
            "due_at",
        ),
        (json!({"title": "x", "due_at": "soon"}), "due_at"),
    ] {
        let (status, answer) = app.call(&lena, Method::POST, &items, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (status, _) = app
        .call(&vera, Method::POST, &items, Some(json!({"title": "x"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Decided: owned by olga, due in three days, on the team owning the service.
    let (status, item) = app
        .call(
            &lena,
            Method::POST,
            &items,
            Some(json!({"title": "Alert on replication lag", "owner": "olga",
                        "due_at": "2026-12-10T10:00:00Z", "priority": "high",
                        "section": "prevention"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    let item_id = item["id"].as_i64().expect("an id");
    assert_eq!(item["team"], "database");
    assert_eq!(item["state"], "open");
    assert_eq!(item["remind_at"], "2026-12-09T10:00:00Z");
    assert_eq!(item["overdue"], false);
    let kinds = timeline_kinds(&app, id).await;
    assert!(
        kinds.contains(&"action_item_added".to_string()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"participant_added".to_string()),
        "olga joins: {kinds:?}"
    );

    // The tracker hears of it, signed with its secret.
    eventually("the tracker hears of the new item", || async {
        (tracker.received().len() == 1).then_some(())
    })
    .await;
    let created = &tracker.received()[0];
    let signature = created.headers["aplomb-signature"]
        .to_str()
        .expect("a signature");
    let t: i64 = signature
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("a time in the signature");
    assert_eq!(
        signature,
        aplomb::secret::sign_webhook(TRACKER_SECRET, t, &created.body)
    );
    let event = &events(&tracker)[0];
    assert_eq!(event["type"], "action_item.created");
    assert_eq!(event["action_item"]["id"], item_id);
    assert_eq!(event["action_item"]["owner"], "olga");
    assert_eq!(event["action_item"]["priority"], "high");

    // A day before it is due, olga is reminded; at the due time again, as overdue.
    clock.advance(SignedDuration::from_hours(47));
    settle().await;
    assert!(
        events(&hooks).is_empty(),
        "nothing before the reminder time"
    );
    clock.advance(SignedDuration::from_hours(1));
    eventually("olga is reminded a day before", || async {
        (types(&hooks) == ["action_item.due"]).then_some(())
    })
    .await;
    assert_eq!(events(&hooks)[0]["action_item"]["id"], item_id);
    clock.advance(SignedDuration::from_hours(24));
    eventually("olga is reminded at the due time", || async {
        (types(&hooks) == ["action_item.due", "action_item.overdue"]).then_some(())
    })
    .await;
    let (_, mine) = app
        .call(&olga, Method::GET, "/api/v1/action-items?owner=olga", None)
        .await;
    assert_eq!(mine[0]["id"], item_id);
    assert_eq!(mine[0]["overdue"], true);

    // Moves refused by rule; then done, which stops the reminders and tells the tracker.
    let one = format!("/api/v1/action-items/{item_id}");
    let (status, answer) = app
        .call(
            &olga,
            Method::PATCH,
            &one,
            Some(json!({"state": "wont_do"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "reason");
    let (status, answer) = app
        .call(&olga, Method::PATCH, &one, Some(json!({"state": "open"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, _) = app
        .call(&vera, Method::PATCH, &one, Some(json!({"state": "done"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, done) = app
        .call(&olga, Method::PATCH, &one, Some(json!({"state": "done"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "done");
    assert_eq!(done["done_at"], "2026-12-10T10:00:00Z");
    assert_eq!(done["remind_at"], Value::Null);
    eventually("the tracker hears it is done", || async {
        (tracker.received().len() == 2).then_some(())
    })
    .await;
    let event = &events(&tracker)[1];
    assert_eq!(event["type"], "action_item.updated");
    assert_eq!(event["action_item"]["state"], "done");
    assert!(
        timeline_kinds(&app, id)
            .await
            .contains(&"action_item_changed".to_string())
    );
    clock.advance(SignedDuration::from_hours(48));
    settle().await;
    assert_eq!(types(&hooks).len(), 2, "a done item reminds nobody");

    // The overview shows what is still to do by default; every state on asking.
    let (_, open) = app
        .call(&vera, Method::GET, "/api/v1/action-items", None)
        .await;
    assert_eq!(open, json!([]));
    let (_, all) = app
        .call(&vera, Method::GET, "/api/v1/action-items?state=", None)
        .await;
    assert_eq!(all[0]["id"], item_id);
    let (status, answer) = app
        .call(&vera, Method::GET, "/api/v1/action-items?state=later", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "state");
    let listed = crate::cli::stdout(
        &crate::cli::aplomb(
            &app,
            &vera,
            &["action-item", "list", "--state", "", "--team", "database"],
        )
        .await,
    );
    assert!(listed.contains("Alert on replication lag"), "{listed}");
    assert!(listed.contains("done"), "{listed}");
}

async fn a_private_incidents_action_items_stay_with_those_who_see_it(app: TestApp) {
    let lena = app.user("lena", "responder").await;
    let otto = app.user("otto", "responder").await;
    let id = app
        .declare(
            &lena,
            json!({"title": "Leaked keys", "severity": "SEV2", "private": true}),
        )
        .await;
    let out = crate::cli::stdout(
        &crate::cli::aplomb(
            &app,
            &lena,
            &[
                "action-item",
                "add",
                &id.to_string(),
                "Rotate the signing keys",
                "--owner",
                "lena",
                "--due",
                "2036-01-01T00:00:00Z",
            ],
        )
        .await,
    );
    let item_id: i64 = out.trim().parse().expect("the CLI prints the id");
    let (_, mine) = app
        .call(&lena, Method::GET, "/api/v1/action-items", None)
        .await;
    assert_eq!(mine[0]["id"], item_id);
    assert_eq!(mine[0]["incident_title"], "Leaked keys");
    let (_, theirs) = app
        .call(&otto, Method::GET, "/api/v1/action-items", None)
        .await;
    assert_eq!(theirs, json!([]), "an outsider's overview leaves it out");
    let one = format!("/api/v1/action-items/{item_id}");
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"state": "done"}))),
    ] {
        let (status, answer) = app.call(&otto, method, &one, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
        assert_eq!(answer["error"]["message"], "action item not found");
    }
    let (status, _) = app
        .call(
            &otto,
            Method::GET,
            &format!("/api/v1/incidents/{id}/review/action-items"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(&otto, Method::GET, "/api/v1/action-items/999999", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let shown = crate::cli::stdout(
        &crate::cli::aplomb(&app, &lena, &["action-item", "show", &item_id.to_string()]).await,
    );
    assert!(shown.contains("Rotate the signing keys"), "{shown}");
    let set = crate::cli::stdout(
        &crate::cli::aplomb(
            &app,
            &lena,
            &[
                "action-item",
                "set",
                &item_id.to_string(),
                "--state",
                "wont_do",
                "--reason",
                "the keys were retired instead",
            ],
        )
        .await,
    );
    assert!(set.contains("wont_do"), "{set}");
    let (_, item) = app.call(&lena, Method::GET, &one, None).await;
    assert_eq!(item["reason"], "the keys were retired instead");
}

async fn the_review_page_adds_and_finishes_action_items(app: TestApp) {
    let hooks = WebhookSink::start(0).await;
    database_team(&app, &hooks.url).await;
    let lena = app.user("lena", "responder").await;
    let playbook = crate::paging::ok(
        &app,
        Method::POST,
        "/api/v1/playbooks",
        json!({"incident_type": "outage", "steps": ["Check replication lag"]}),
    )
    .await;
    let pid = playbook["id"].to_string();
    let id = app
        .declare(
            &lena,
            json!({"title": "Orders stalled", "severity": "SEV3", "services": ["orders"]}),
        )
        .await;
    let web = app.web_session("lena").await;
    let csrf = web.csrf().await;
    let review = format!("/incidents/{id}/review");
    let (status, html) = web.page(&review).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"add-action-item\""),
        "the form is offered"
    );
    assert!(html.contains("None decided yet."));
    let added = web
        .post_form(
            &format!("{review}/action-items"),
            &[
                ("csrf", &csrf),
                ("title", "Alert on replication lag"),
                ("owner", "olga"),
                ("due_at", "2036-01-05T09:30"),
                ("priority", "high"),
                ("section", "prevention"),
                ("playbook", &pid),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let (_, html) = web.page(&review).await;
    assert!(html.contains("Alert on replication lag"), "{html}");
    assert!(
        html.contains("2036-01-05 09:30:00 UTC"),
        "the due time as typed, in UTC"
    );
    let (_, items) = app
        .call(
            &lena,
            Method::GET,
            &format!("/api/v1/incidents/{id}/review/action-items"),
            None,
        )
        .await;
    let item_id = items[0]["id"].as_i64().expect("an item");
    assert_eq!(items[0]["section"], "prevention");
    assert_eq!(
        items[0]["playbook"].to_string(),
        pid,
        "the playbook it would change"
    );
    let (_, html) = web.page(&review).await;
    assert!(
        html.contains(&format!("href=\"/playbooks/{pid}\" class=\"tag\"")),
        "{html}"
    );

    // The overview groups it under the team, with olga's count.
    let (status, overview) = web.page("/action-items").await;
    assert_eq!(status, StatusCode::OK);
    assert!(overview.contains("<h2>database</h2>"), "{overview}");
    assert!(overview.contains("olga: 1 to do"), "{overview}");
    assert!(overview.contains(&format!("id=\"item-{item_id}\"")));

    // A refused change comes back as a message; a good one moves it.
    let refused = web
        .post_form(
            &format!("/action-items/{item_id}"),
            &[("csrf", &csrf), ("state", "wont_do"), ("back", "overview")],
        )
        .await;
    let to = refused
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(to.starts_with("/action-items?error="), "{to}");
    let done = web
        .post_form(
            &format!("/action-items/{item_id}"),
            &[("csrf", &csrf), ("state", "done"), ("back", "review")],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let (_, item) = app
        .call(
            &lena,
            Method::GET,
            &format!("/api/v1/action-items/{item_id}"),
            None,
        )
        .await;
    assert_eq!(item["state"], "done");
    let (_, overview) = web.page("/action-items").await;
    assert!(overview.contains("No action items match."), "{overview}");
    let (_, everything) = web.page("/action-items?state=").await;
    assert!(everything.contains("Alert on replication lag"));
}
