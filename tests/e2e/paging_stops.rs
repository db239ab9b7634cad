//! When paging stops, told as stories with a manual clock and real webhook receivers: resolving
//! ends an incident's escalation and cancels what was queued, from a person or from alerts; a
//! page already on its way when someone acknowledges is recorded as what it was; a declaration
//! commits with its assembly or not at all; one failed record does not strand the other pages.

use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::alerts::{enqueue, monitored_service, trigger};
use crate::helpers::{ADMIN_TOKEN, Db, TestApp};
use crate::paging::{count, ok, outbound, settle, start_clock, timeline_kinds, until_count};
use crate::sinks::{WebhookSink, eventually};

crate::for_both_backends!(
    resolving_ends_the_escalation_and_a_reopened_incident_pages_nobody,
    quiet_alerts_resolve_the_incident_they_opened_but_not_one_a_person_declared,
    a_page_on_its_way_during_an_acknowledgement_is_recorded_as_sent_after_it,
    a_declaration_that_fails_before_its_commit_leaves_nothing_half_done,
    one_failed_delivery_record_does_not_hold_back_the_other_pages,
);

/// The policy: `ann` at level 1, `otto` at level 2 a minute later, on service `web`.
/// ann has a second pager that a notification rule reaches 5 minutes after a page.
async fn two_levels_a_minute_apart(app: &TestApp, hooks: &WebhookSink) {
    for user in ["ann", "otto"] {
        app.user(user, "responder").await;
        ok(
            app,
            Method::POST,
            &format!("/api/v1/users/{user}/contact-methods"),
            json!({"kind": "webhook", "address": format!("{}/{user}", hooks.base)}),
        )
        .await;
    }
    let reminder = ok(
        app,
        Method::POST,
        "/api/v1/users/ann/contact-methods",
        json!({"kind": "webhook", "address": format!("{}/ann-reminder", hooks.base)}),
    )
    .await;
    let (_, methods) = app
        .admin(Method::GET, "/api/v1/users/ann/contact-methods", None)
        .await;
    for (method, delay) in [(methods[0]["id"].clone(), 0), (reminder["id"].clone(), 5)] {
        ok(
            app,
            Method::POST,
            "/api/v1/users/ann/notification-rules",
            json!({"contact_method_id": method, "delay_minutes": delay}),
        )
        .await;
    }
    ok(
        app,
        Method::POST,
        "/api/v1/escalation-policies",
        json!({"name": "fast", "levels": [
            {"delay_minutes": 1, "targets": [{"type": "responder", "name": "ann"}]},
            {"delay_minutes": 1, "targets": [{"type": "responder", "name": "otto"}]}
        ]}),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "web"}),
    )
    .await;
    ok(
        app,
        Method::PUT,
        "/api/v1/services/web/oncall",
        json!({"escalation_policy": "fast"}),
    )
    .await;
}

fn paths(hooks: &WebhookSink) -> Vec<String> {
    hooks.received().into_iter().map(|r| r.path).collect()
}

async fn patch(app: &TestApp, id: i64, body: Value) {
    ok(app, Method::PATCH, &format!("/api/v1/incidents/{id}"), body).await;
}

async fn pages(app: &TestApp, id: i64) -> Vec<Value> {
    let (_, pages) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{id}/pages"), None)
        .await;
    pages.as_array().cloned().unwrap_or_default()
}

async fn resolving_ends_the_escalation_and_a_reopened_incident_pages_nobody(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    two_levels_a_minute_apart(&app, &hooks).await;
    let id = app
        .declare(
            ADMIN_TOKEN,
            json!({"title": "Site is down", "severity": "SEV1", "services": ["web"]}),
        )
        .await;
    eventually("level 1 pages ann", || async {
        (paths(&hooks) == ["/ann"]).then_some(())
    })
    .await;

    // Resolved a second later; then time runs past every level and ann's reminder.
    clock.advance(SignedDuration::from_secs(1));
    patch(&app, id, json!({"status": "resolved"})).await;
    for minutes in [1, 5, 30] {
        clock.advance(SignedDuration::from_mins(minutes));
        settle().await;
    }
    assert_eq!(paths(&hooks), ["/ann"], "nobody more is paged");
    let kinds = timeline_kinds(&app, id).await;
    assert_eq!(count(&kinds, "paged"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "escalation_exhausted"), 0, "{kinds:?}");
    let ann = &pages(&app, id).await[0];
    assert_eq!(ann["deliveries"][0]["state"], "sent");
    let reminder = &ann["deliveries"][1];
    assert_eq!(reminder["state"], "cancelled", "{ann}");
    assert_eq!(reminder["stopped_by"], "resolved", "{ann}");
    assert!(reminder["stopped_at"].is_string(), "{ann}");

    // Reopened: the response goes on, but paging does not start again by itself.
    patch(
        &app,
        id,
        json!({"status": "investigating", "reason": "errors are back"}),
    )
    .await;
    for minutes in [1, 5, 30] {
        clock.advance(SignedDuration::from_mins(minutes));
        settle().await;
    }
    assert_eq!(paths(&hooks), ["/ann"]);
    assert_eq!(count(&timeline_kinds(&app, id).await, "paged"), 1);
    app.shutdown().await;
}

async fn quiet_alerts_resolve_the_incident_they_opened_but_not_one_a_person_declared(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    let key = monitored_service(&app, &hooks.url).await;

    // A person declares an incident on the service; an alert then joins it and resolves.
    let declared = app
        .declare(
            ADMIN_TOKEN,
            json!({"title": "Search results are stale", "severity": "SEV2", "services": ["search"]}),
        )
        .await;
    let send = |body: Value| {
        let app = &app;
        async move {
            let (status, answer) = enqueue(app, "/v2/enqueue", &body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        }
    };
    send(trigger(&key, "lag", "critical")).await;
    send(json!({"routing_key": key, "event_action": "resolve", "dedup_key": "lag"})).await;
    let (_, incident) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{declared}"), None)
        .await;
    assert_eq!(
        incident["status"], "triage",
        "a person's incident stays open when its alerts go quiet"
    );
    patch(&app, declared, json!({"status": "resolved"})).await;

    // An incident an alert opened resolves with its alerts, and its paging ends with it.
    send(trigger(&key, "disk", "critical")).await;
    let (_, list) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    let opened = list["items"][0]["id"].as_i64().expect("an incident");
    assert_ne!(opened, declared);
    // Her first page was for the incident declared above.
    eventually("olga is paged", || async {
        (hooks.received().len() == 2).then_some(())
    })
    .await;
    assert_eq!(count(&timeline_kinds(&app, opened).await, "paged"), 1);
    send(json!({"routing_key": key, "event_action": "resolve", "dedup_key": "disk"})).await;
    let (_, incident) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{opened}"), None)
        .await;
    assert_eq!(incident["status"], "resolved");
    // The policy would repeat nothing, but its final wait would record an exhaustion.
    clock.advance(SignedDuration::from_mins(30));
    settle().await;
    let kinds = timeline_kinds(&app, opened).await;
    assert_eq!(count(&kinds, "escalation_exhausted"), 0, "{kinds:?}");
    assert_eq!(hooks.received().len(), 2);

    // A service whose rules ask for it resolves people's incidents that way too.
    ok(
        &app,
        Method::PUT,
        "/api/v1/services/search/alert-rules",
        json!({"auto_resolve_declared": true}),
    )
    .await;
    let declared = app
        .declare(
            ADMIN_TOKEN,
            json!({"title": "Search is slow", "severity": "SEV3", "services": ["search"]}),
        )
        .await;
    send(trigger(&key, "slow", "critical")).await;
    send(json!({"routing_key": key, "event_action": "resolve", "dedup_key": "slow"})).await;
    let (_, incident) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{declared}"), None)
        .await;
    assert_eq!(incident["status"], "resolved");
    app.shutdown().await;
}

async fn a_page_on_its_way_during_an_acknowledgement_is_recorded_as_sent_after_it(db: Db) {
    let hooks = WebhookSink::start_held().await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    let key = monitored_service(&app, &hooks.url).await;
    enqueue(&app, "/v2/enqueue", &trigger(&key, "a", "critical")).await;
    let (_, list) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    let id = list["items"][0]["id"].as_i64().expect("an incident");

    // The webhook has reached olga's receiver, which has not answered yet; she acknowledges.
    eventually("the page reaches the receiver", || async {
        hooks.received().into_iter().next()
    })
    .await;
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    hooks.release();

    // The timeline entry commits with the delivery's record.
    until_count(
        &app,
        id,
        "sent_after_stop",
        1,
        "the late delivery is on the timeline",
    )
    .await;
    let delivery = &pages(&app, id).await[0]["deliveries"][0];
    assert_eq!(delivery["state"], "sent", "{delivery}");
    assert_eq!(delivery["stopped_by"], "acknowledged", "{delivery}");
    assert_eq!(delivery["attempts"][0]["ok"], true, "{delivery}");
    let web = app.web_session("olga").await;
    let (_, page) = web.page(&format!("/incidents/{id}")).await;
    assert!(
        page.contains("sent, after the acknowledgement at"),
        "{page}"
    );
    assert!(
        page.contains("was already on its way and arrived after the acknowledgement"),
        "{page}"
    );
    app.shutdown().await;
}

async fn a_declaration_that_fails_before_its_commit_leaves_nothing_half_done(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    two_levels_a_minute_apart(&app, &hooks).await;
    let declare = |app: &TestApp| {
        app.http
            .post(format!("{}/api/v1/incidents", app.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("Idempotency-Key", "site-down-1")
            .json(&json!({"title": "Site is down", "severity": "SEV1", "services": ["web"]}))
            .send()
    };

    // The server fails after storing the incident and assembling its team, before the commit.
    app.app.store.faults().arm("declare.before_commit");
    let failed = declare(&app).await.expect("an answer");
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let restarted = app.restart_on(clock.clone(), outbound(None)).await;
    app.crash();
    let (_, list) = restarted
        .admin(Method::GET, "/api/v1/incidents", None)
        .await;
    assert_eq!(list["items"], json!([]), "no incident without its paging");
    settle().await;
    assert!(hooks.received().is_empty());

    // The client retries with the same key: one incident, paged.
    let created = declare(&restarted).await.expect("an answer");
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("an id");
    eventually("level 1 pages ann", || async {
        (paths(&hooks) == ["/ann"]).then_some(())
    })
    .await;
    let kinds = timeline_kinds(&restarted, id).await;
    assert_eq!(count(&kinds, "escalation_started"), 1, "{kinds:?}");
    restarted.shutdown().await;
}

async fn one_failed_delivery_record_does_not_hold_back_the_other_pages(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    for user in ["ann", "otto"] {
        app.user(user, "responder").await;
        ok(
            &app,
            Method::POST,
            &format!("/api/v1/users/{user}/contact-methods"),
            json!({"kind": "webhook", "address": format!("{}/{user}", hooks.base)}),
        )
        .await;
    }
    ok(
        &app,
        Method::POST,
        "/api/v1/escalation-policies",
        json!({"name": "both", "levels": [{"delay_minutes": 5, "targets": [
            {"type": "responder", "name": "ann"}, {"type": "responder", "name": "otto"}]}]}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "web"}),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/services/web/oncall",
        json!({"escalation_policy": "both"}),
    )
    .await;

    // Recording the first of the two sent pages fails once.
    app.app.store.faults().arm("finish_delivery");
    let id = app
        .declare(
            ADMIN_TOKEN,
            json!({"title": "Site is down", "severity": "SEV1", "services": ["web"]}),
        )
        .await;
    let states = eventually("both pages go out and one is recorded", || async {
        let pages = pages(&app, id).await;
        let states: Vec<String> = pages
            .iter()
            .map(|p| {
                p["deliveries"][0]["state"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        (hooks.received().len() == 2 && states.iter().any(|s| s == "sent")).then_some(states)
    })
    .await;
    assert_eq!(states.len(), 2);
    assert_eq!(
        states.iter().filter(|s| *s == "sent").count(),
        1,
        "the unrecorded page waits for its lease: {states:?}"
    );
    app.shutdown().await;
}
