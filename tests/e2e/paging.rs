//! Assembling the team, told as stories through the running server with a manual clock:
//! declare → the on-call gets an email (real SMTP server) → no acknowledgement → level 2 is
//! paged by a signed webhook → the signed link in it acknowledges and escalation stops.

use std::sync::Arc;

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;
use aplomb::secret::sign_webhook;
use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Db, TestApp};
use crate::sinks::{SmtpSink, WebhookSink, eventually};

crate::for_both_backends!(
    an_unacknowledged_page_escalates_until_the_signed_link_stops_it,
    the_next_step_fires_exactly_once_after_a_crash,
    a_delivery_leased_by_a_crashed_instance_is_taken_over_when_its_lease_ends,
    a_failing_receiver_is_retried_with_backoff_and_every_attempt_is_visible,
    an_empty_level_is_skipped_rules_engage_and_the_team_assembles,
    chat_sms_and_voice_pages_reach_their_apis,
    email_goes_over_starttls_and_an_untrusted_certificate_is_refused,
    a_removed_contact_method_and_rule_are_no_longer_used,
    an_email_page_without_an_smtp_server_fails_at_once_and_says_why,
    the_first_page_leaves_with_the_commit_that_opens_the_incident,
);
mod definitions {
    use super::*;
    crate::on_both_backends!(schedules_policies_and_the_catalog_refuse_bad_definitions);
}

pub(crate) fn start_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        "2026-03-02T10:00:00Z".parse().expect("a time"),
    ))
}

pub(crate) fn outbound(smtp: Option<&SmtpSink>) -> OutboundConfig {
    OutboundConfig {
        smtp_url: smtp.map(|s| s.url.clone()),
        smtp_from: "aplomb@example.org".into(),
        ..OutboundConfig::default()
    }
}

pub(crate) async fn ok(app: &TestApp, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = app.admin(method, path, Some(body)).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

/// bob is on call (email); carol is level 2 (webhook). Returns carol's webhook signing secret.
pub(crate) async fn checkout_on_call(app: &TestApp, hook_url: &str) -> String {
    app.user("bob", "responder").await;
    app.user("carol", "responder").await;
    app.user("dana", "responder").await;
    ok(
        app,
        Method::POST,
        "/api/v1/users/bob/contact-methods",
        json!({"kind": "email", "address": "bob@example.org"}),
    )
    .await;
    let hook = ok(
        app,
        Method::POST,
        "/api/v1/users/carol/contact-methods",
        json!({"kind": "webhook", "address": hook_url}),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/v1/schedules",
        json!({"name": "checkout-primary", "time_zone": "Europe/Lisbon", "layers": [
            {"name": "weekly", "start": "2026-03-02T09:00", "shift_count": 1, "shift_unit": "weeks", "participants": ["bob"]}
        ]}),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/v1/escalation-policies",
        json!({"name": "checkout", "levels": [
            {"delay_minutes": 5, "targets": [{"type": "schedule", "name": "checkout-primary"}]},
            {"delay_minutes": 5, "targets": [{"type": "responder", "name": "carol"}]}
        ]}),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "checkout-api", "owner_team": "payments"}),
    )
    .await;
    ok(
        app,
        Method::PUT,
        "/api/v1/services/checkout-api/oncall",
        json!({"escalation_policy": "checkout"}),
    )
    .await;
    hook["signing_secret"]
        .as_str()
        .expect("a secret")
        .to_string()
}

/// A service whose escalation policy pages `user` directly.
pub(crate) async fn pages_go_to(app: &TestApp, user: &str, service: &str) {
    let level = json!({"delay_minutes": 5, "targets": [{"type": "responder", "name": user}]});
    ok(
        app,
        Method::POST,
        "/api/v1/escalation-policies",
        json!({"name": user, "levels": [level]}),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/v1/services",
        json!({"name": service}),
    )
    .await;
    let path = format!("/api/v1/services/{service}/oncall");
    ok(app, Method::PUT, &path, json!({"escalation_policy": user})).await;
}

pub(crate) async fn declare_checkout(app: &TestApp) -> i64 {
    let dana = app
        .call(
            ADMIN_TOKEN,
            Method::POST,
            "/api/v1/users/dana/tokens",
            Some(json!({"name": "t"})),
        )
        .await
        .1;
    app.declare(
        dana["token"].as_str().expect("token"),
        json!({"title": "Card payments failing", "severity": "SEV2", "services": ["checkout-api"]}),
    )
    .await
}

pub(crate) async fn timeline_kinds(app: &TestApp, id: i64) -> Vec<String> {
    let (_, timeline) = app
        .admin(
            Method::GET,
            &format!("/api/v1/incidents/{id}/timeline"),
            None,
        )
        .await;
    timeline
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

pub(crate) fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

/// Waits until the incident's timeline holds `n` entries of `kind`.
pub(crate) async fn until_count(app: &TestApp, id: i64, kind: &str, n: usize, what: &str) {
    eventually(what, || async {
        (count(&timeline_kinds(app, id).await, kind) == n).then_some(())
    })
    .await;
}

/// Lets the engine (polling every 20 ms) see the clock's new time.
pub(crate) async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

async fn an_unacknowledged_page_escalates_until_the_signed_link_stops_it(db: Db) {
    let Some(smtp) = SmtpSink::start().await else {
        return;
    };
    let hooks = WebhookSink::start(0).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(Some(&smtp))).await else {
        return;
    };
    let secret = checkout_on_call(&app, &hooks.url).await;
    let id = declare_checkout(&app).await;

    // Level 1: bob, on call in the schedule, gets an email at once.
    let mail = eventually("the email to bob", || async {
        smtp.messages().into_iter().next()
    })
    .await;
    assert!(mail.contains("bob@example.org"), "{mail}");
    assert!(mail.contains("Card payments failing"), "{mail}");
    assert!(
        mail.contains("multipart/alternative"),
        "text and HTML parts: {mail}"
    );
    assert!(hooks.received().is_empty(), "level 2 waits for its delay");
    let kinds = timeline_kinds(&app, id).await;
    assert_eq!(count(&kinds, "escalation_started"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "paged"), 1, "{kinds:?}");

    // The web UI shows who is on call, the policy, and the page on the incident.
    let web = app.web_session("dana").await;
    let (_, oncall) = web.page("/oncall").await;
    assert!(
        oncall.contains("checkout-primary")
            && oncall.contains("On call now: <strong class=\"on-call-now\">bob</strong>"),
        "{oncall}"
    );
    assert!(
        oncall.contains("level 2: responder carol (then 5 min)"),
        "{oncall}"
    );
    let (_, page) = web.page(&format!("/incidents/{id}")).await;
    assert!(
        page.contains("<h2>Paging</h2>")
            && page.contains("email to bob@example.org: sent (1 attempt)"),
        "{page}"
    );

    // Nobody acknowledges; five minutes later level 2 pages carol by webhook.
    clock.advance(SignedDuration::from_mins(5));
    let hook = eventually("the webhook to carol", || async {
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
    assert_eq!(
        signature,
        sign_webhook(&secret, t, &hook.body),
        "the signature verifies"
    );
    let body: Value = serde_json::from_str(&hook.body).expect("JSON");
    assert_eq!(body["type"], "page.created");
    assert_eq!(body["incident"]["id"], id);
    assert!(body["id"].as_str().is_some_and(|i| i.starts_with("dlv_")));
    let ack_url = body["page"]["acknowledge_url"]
        .as_str()
        .expect("an ack link")
        .to_string();

    // The signed link: GET shows a button, POST acknowledges.
    let page = app.http.get(&ack_url).send().await.expect("answer");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("Acknowledge incident")
    );
    let forged = app
        .http
        .post(format!("{ack_url}0"))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        forged.status(),
        StatusCode::NOT_FOUND,
        "a tampered link does nothing"
    );
    let done = app.http.post(&ack_url).send().await.expect("answer");
    assert!(done.text().await.expect("html").contains("Acknowledged"));

    // Escalation stopped: time passes, nobody else is paged, nothing is exhausted.
    clock.advance(SignedDuration::from_mins(30));
    settle().await;
    assert_eq!(hooks.received().len(), 1);
    assert_eq!(smtp.messages().len(), 1);
    let kinds = timeline_kinds(&app, id).await;
    assert_eq!(count(&kinds, "paged"), 2, "{kinds:?}");
    assert_eq!(count(&kinds, "acknowledged"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "escalation_exhausted"), 0, "{kinds:?}");

    // The paging history shows who, how, when, and who acknowledged.
    let (_, pages) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{id}/pages"), None)
        .await;
    let pages = pages.as_array().expect("a list");
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["user"], "bob");
    assert_eq!(pages[0]["deliveries"][0]["kind"], "email");
    assert_eq!(pages[0]["deliveries"][0]["state"], "sent");
    assert_eq!(pages[1]["user"], "carol");
    assert_eq!(pages[1]["deliveries"][0]["attempts"][0]["ok"], true);
    assert!(pages.iter().all(|p| p["acknowledged_at"].is_string()));
    let (_, incident) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert!(
        incident["participants"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("carol")))
    );
    app.shutdown().await;
}

async fn the_next_step_fires_exactly_once_after_a_crash(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    checkout_on_call(&app, &hooks.url).await;
    let id = declare_checkout(&app).await;
    until_count(&app, id, "paged", 1, "level 1 fires").await;

    // The server dies mid-escalation; another starts on the same database.
    let restarted = app.restart_on(clock.clone(), outbound(None)).await;
    app.crash();
    clock.advance(SignedDuration::from_mins(5));
    eventually("level 2 fires after the restart", || async {
        hooks.received().into_iter().next()
    })
    .await;
    // Well past every remaining delay: the policy runs out exactly once, nothing repeats.
    clock.advance(SignedDuration::from_mins(10));
    until_count(
        &restarted,
        id,
        "escalation_exhausted",
        1,
        "the policy runs out",
    )
    .await;
    clock.advance(SignedDuration::from_mins(60));
    settle().await;
    let kinds = timeline_kinds(&restarted, id).await;
    assert_eq!(count(&kinds, "paged"), 2, "{kinds:?}");
    assert_eq!(count(&kinds, "escalation_exhausted"), 1, "{kinds:?}");
    assert_eq!(hooks.received().len(), 1, "carol is paged once");
    restarted.shutdown().await;
}

/// Two instances; the one whose declaration leased the first page crashes while sending it
/// (the receiver has it, unanswered). The other leaves the delivery alone while the lease
/// holds, then takes it over as soon as the lease ends, and records it sent.
async fn a_delivery_leased_by_a_crashed_instance_is_taken_over_when_its_lease_ends(db: Db) {
    let hooks = WebhookSink::start_held().await;
    let clock = start_clock();
    let Some(doomed) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    let survivor = doomed.restart_on(clock.clone(), outbound(None)).await;
    crate::alerts::monitored_service(&doomed, &hooks.url).await;
    let (status, incident) = doomed
        .admin(
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "Search is slow", "severity": "SEV2", "services": ["search"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{incident}");
    let id = incident["id"].as_i64().expect("an id");
    eventually("the first page is being sent", || async {
        hooks.received().into_iter().next()
    })
    .await;
    doomed.crash();

    // Within the lease, the survivor leaves the page to its dead owner.
    clock.advance(SignedDuration::from_secs(30));
    settle().await;
    assert_eq!(hooks.received().len(), 1, "the lease holds");
    hooks.release();
    // The lease ends: the survivor sends it within a few of its passes (`eventually` waits
    // 10 s at most) and records it.
    clock.advance(SignedDuration::from_secs(31));
    let sent = eventually("the survivor sends the page", || async {
        let (_, pages) = survivor
            .admin(Method::GET, &format!("/api/v1/incidents/{id}/pages"), None)
            .await;
        let attempts = pages[0]["deliveries"][0]["attempts"].as_array()?.clone();
        attempts.iter().any(|a| a["ok"] == true).then_some(attempts)
    })
    .await;
    assert_eq!(
        sent.len(),
        1,
        "one recorded attempt, the survivor's: {sent:?}"
    );
    assert_eq!(
        hooks.received().len(),
        2,
        "sent again once, by the survivor"
    );
    survivor.shutdown().await;
}

async fn a_failing_receiver_is_retried_with_backoff_and_every_attempt_is_visible(db: Db) {
    let hooks = WebhookSink::start(2).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    checkout_on_call(&app, &hooks.url).await;
    ok(
        &app,
        Method::POST,
        "/api/v1/escalation-policies",
        json!({"name": "carol-first", "levels": [{"delay_minutes": 10, "targets": [{"type": "responder", "name": "carol"}]}]}),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/services/checkout-api/oncall",
        json!({"escalation_policy": "carol-first"}),
    )
    .await;
    let id = declare_checkout(&app).await;

    let attempts = |n: usize| {
        let app = &app;
        async move {
            let (_, pages) = app
                .admin(Method::GET, &format!("/api/v1/incidents/{id}/pages"), None)
                .await;
            let delivery = pages[0]["deliveries"][0].clone();
            (delivery["attempts"].as_array().map_or(0, Vec::len) == n).then_some(delivery)
        }
    };
    let first = eventually("the first attempt", || attempts(1)).await;
    assert_eq!(first["attempts"][0]["ok"], false);
    assert_eq!(first["attempts"][0]["detail"], "HTTP 500");
    assert_eq!(first["state"], "pending");

    // Backoff: 30 s after the first failure, then 60 s after the second.
    clock.advance(SignedDuration::from_secs(29));
    settle().await;
    assert_eq!(hooks.received().len(), 1, "not retried before its backoff");
    clock.advance(SignedDuration::from_secs(1));
    eventually("the second attempt", || attempts(2)).await;
    clock.advance(SignedDuration::from_secs(60));
    let last = eventually("the third attempt", || attempts(3)).await;
    let oks: Vec<bool> = last["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["ok"] == true)
        .collect();
    assert_eq!(oks, vec![false, false, true]);
    assert_eq!(last["state"], "sent");
    // Every retry carries the same id, so the receiver can deduplicate.
    let ids: Vec<Value> = hooks
        .received()
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).expect("json")["id"].clone())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");

    // Acknowledging from the incident page's button.
    let web = app.web_session("carol").await;
    let csrf = web.csrf().await;
    let r = web
        .post_form(&format!("/incidents/{id}/acknowledge"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = web.page(&format!("/incidents/{id}")).await;
    assert!(page.contains("acknowledged 2026-03-02"), "{page}");
    assert_eq!(count(&timeline_kinds(&app, id).await, "acknowledged"), 1);
    app.shutdown().await;
}

async fn an_empty_level_is_skipped_rules_engage_and_the_team_assembles(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    checkout_on_call(&app, &hooks.url).await;
    app.user("sam", "responder").await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/users/sam/profile",
        json!({"time_zone": "Europe/Lisbon", "skills": ["security"]}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/teams",
        json!({"name": "security", "domain": "security", "members": ["sam"]}),
    )
    .await;
    // Nobody is on call in this schedule until April.
    ok(
        &app,
        Method::POST,
        "/api/v1/schedules",
        json!({"name": "april", "time_zone": "UTC", "layers": [
            {"name": "l", "start": "2026-04-01T00:00", "shift_count": 1, "shift_unit": "days", "participants": ["bob"]}
        ]}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/escalation-policies",
        json!({"name": "skip-empty", "levels": [
            {"delay_minutes": 5, "targets": [{"type": "schedule", "name": "april"}]},
            {"delay_minutes": 5, "targets": [{"type": "responder", "name": "carol"}]}
        ]}),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/services/checkout-api/oncall",
        json!({"escalation_policy": "skip-empty", "tags": ["pci"]}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/engagement-rules",
        json!({"name": "security lead", "when": {"incident_types": ["security"]},
               "engage": {"type": "responder", "name": "dana"}, "engaged_as": "incident_lead"}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/engagement-rules",
        json!({"name": "pci experts", "when": {"tags": ["pci"], "severities": ["SEV1", "SEV2"]},
               "engage": {"type": "team", "name": "security"}, "engaged_as": "expert:security"}),
    )
    .await;
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/engagement-rules",
            Some(json!({"name": "x", "engage": {"type": "team", "name": "nope"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let bob = app
        .call(
            ADMIN_TOKEN,
            Method::POST,
            "/api/v1/users/bob/tokens",
            Some(json!({"name": "t"})),
        )
        .await
        .1;
    let bob = bob["token"].as_str().expect("token").to_string();
    let id = app
        .declare(&bob, json!({"title": "Card data in logs", "severity": "SEV2", "type": "security", "private": true, "services": ["checkout-api"]}))
        .await;

    // The empty level is skipped at once and carol is paged without waiting.
    eventually("carol paged", || async {
        hooks.received().into_iter().next()
    })
    .await;
    let kinds = timeline_kinds(&app, id).await;
    assert_eq!(count(&kinds, "level_skipped"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "engaged"), 2, "{kinds:?}");
    let (_, incident) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert!(
        incident["roles"]
            .as_array()
            .expect("roles")
            .contains(&json!({"role": "incident_lead", "user": "dana"}))
    );
    let participants = incident["participants"].as_array().expect("participants");
    assert!(
        participants.contains(&json!("sam")),
        "engaged people join a private incident: {incident}"
    );
    assert!(!kinds.contains(&"team_assembled".to_string()));

    // The last required role is filled, and four minutes later carol acknowledges from the CLI.
    ok(
        &app,
        Method::PUT,
        &format!("/api/v1/incidents/{id}/roles/communications_lead"),
        json!({"user": "carol"}),
    )
    .await;
    clock.advance(SignedDuration::from_secs(245));
    let carol = app
        .call(
            ADMIN_TOKEN,
            Method::POST,
            "/api/v1/users/carol/tokens",
            Some(json!({"name": "t"})),
        )
        .await
        .1;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(["ack", &id.to_string()])
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", carol["token"].as_str().expect("token"))
        .output()
        .await
        .expect("the CLI runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("escalation stopped"));

    let (_, timeline) = app
        .admin(
            Method::GET,
            &format!("/api/v1/incidents/{id}/timeline"),
            None,
        )
        .await;
    let assembled: Vec<&Value> = timeline
        .as_array()
        .expect("a list")
        .iter()
        .filter(|e| e["kind"] == "team_assembled")
        .collect();
    assert_eq!(assembled.len(), 1, "{timeline}");
    assert_eq!(
        assembled[0]["text"],
        "Team assembled 4 min 5 s after declaration"
    );
    app.shutdown().await;
}

async fn schedules_policies_and_the_catalog_refuse_bad_definitions(app: TestApp) {
    app.user("bob", "responder").await;
    app.user("carol", "responder").await;
    let post = |path: &str, body: Value| {
        let app = &app;
        let path = path.to_string();
        async move { app.admin(Method::POST, &path, Some(body)).await }
    };
    let layer = |participants: Value| json!({"name": "l", "start": "2026-03-06T09:00", "shift_count": 1, "shift_unit": "days", "participants": participants});
    for (body, field) in [
        (
            json!({"name": "s", "time_zone": "Mars/Olympus", "layers": [layer(json!(["bob"]))]}),
            "time_zone",
        ),
        (
            json!({"name": "s", "time_zone": "UTC", "layers": [layer(json!([]))]}),
            "layers.participants",
        ),
        (
            json!({"name": "s", "time_zone": "UTC", "layers": [layer(json!(["nobody"]))]}),
            "layers.participants",
        ),
        (
            json!({"name": "s", "time_zone": "UTC", "layers": []}),
            "layers",
        ),
    ] {
        let (status, err) = post("/api/v1/schedules", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }

    // New York springs forward on 2026-03-08: the 09:00 hand-off moves from 14:00 to 13:00 UTC.
    let (_, created) = post(
        "/api/v1/schedules",
        json!({"name": "ny", "time_zone": "America/New_York", "layers": [layer(json!(["bob", "carol"]))]}),
    )
    .await;
    let sid = created["id"].as_i64().expect("id");
    let (_, view) = app
        .admin(
            Method::GET,
            &format!("/api/v1/schedules/{sid}?at=2026-03-07T12:00:00Z&days=3"),
            None,
        )
        .await;
    let starts: Vec<&str> = view["shifts"]
        .as_array()
        .expect("shifts")
        .iter()
        .map(|s| s["start"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        starts,
        vec![
            "2026-03-07T12:00:00Z",
            "2026-03-07T14:00:00Z",
            "2026-03-08T13:00:00Z",
            "2026-03-09T13:00:00Z"
        ]
    );
    assert_eq!(view["on_call"], "bob");

    // An override beats the rotation; an overlapping one is refused.
    let (status, _) = post(
        &format!("/api/v1/schedules/{sid}/overrides"),
        json!({"user": "carol", "start": "2026-03-07T12:00:00Z", "end": "2026-03-07T13:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, view) = app
        .admin(
            Method::GET,
            &format!("/api/v1/schedules/{sid}?at=2026-03-07T12:30:00Z"),
            None,
        )
        .await;
    assert_eq!(view["on_call"], "carol");
    let (status, err) = post(
        &format!("/api/v1/schedules/{sid}/overrides"),
        json!({"user": "bob", "start": "2026-03-07T12:30:00Z", "end": "2026-03-07T14:00:00Z"}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("start"))
    );
    let (status, err) = post(
        &format!("/api/v1/schedules/{sid}/overrides"),
        json!({"user": "carol", "start": "soon", "end": "later"}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("start"))
    );

    let ics = app
        .http
        .get(format!("{}/api/v1/schedules/{sid}/calendar.ics", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert!(
        ics.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/calendar")
    );
    let ics = ics.text().await.expect("text");
    assert!(
        ics.starts_with("BEGIN:VCALENDAR\r\n")
            && ics.contains("BEGIN:VEVENT")
            && ics.ends_with("END:VCALENDAR\r\n")
    );

    for (body, field) in [
        (json!({"name": "p", "levels": []}), "levels"),
        (
            json!({"name": "p", "levels": [{"delay_minutes": 5, "targets": []}]}),
            "levels",
        ),
        (
            json!({"name": "p", "levels": [{"delay_minutes": 5, "targets": [{"type": "schedule", "name": "nope"}]}]}),
            "levels.targets",
        ),
        (
            json!({"name": "p", "repeat": 99, "levels": [{"delay_minutes": 5, "targets": [{"type": "responder", "name": "bob"}]}]}),
            "repeat",
        ),
    ] {
        let (status, err) = post("/api/v1/escalation-policies", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }

    for name in ["web", "api", "db"] {
        post("/api/v1/services", json!({"name": name})).await;
    }
    ok(
        &app,
        Method::PUT,
        "/api/v1/services/web/oncall",
        json!({"depends_on": ["api"]}),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/services/api/oncall",
        json!({"depends_on": ["db"]}),
    )
    .await;
    let (status, err) = app
        .admin(
            Method::PUT,
            "/api/v1/services/db/oncall",
            Some(json!({"depends_on": ["web"]})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("depends_on"))
    );

    for (body, field) in [
        (json!({"kind": "pigeon", "address": "x"}), "kind"),
        (
            json!({"kind": "email", "address": "not-an-address"}),
            "address",
        ),
        (json!({"kind": "sms", "address": "12345"}), "address"),
    ] {
        let (status, err) = post("/api/v1/users/bob/contact-methods", body.clone()).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }
    let (status, err) = app
        .admin(
            Method::PUT,
            "/api/v1/users/bob/profile",
            Some(json!({"time_zone": "Atlantis/Capital"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("time_zone"))
    );
}

async fn chat_sms_and_voice_pages_reach_their_apis(db: Db) {
    let receiver = WebhookSink::start(0).await;
    let clock = start_clock();
    let config = OutboundConfig {
        twilio: Some(aplomb::engine::channels::TwilioConfig {
            base_url: receiver.base.clone(),
            account_sid: "AC123".into(),
            auth_token: "secret-token".into(),
            from: "+15550001".into(),
        }),
        ..outbound(None)
    };
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), config).await else {
        return;
    };
    app.user("erin", "responder").await;
    for (kind, address) in [
        ("chat", format!("{}/chat", receiver.base)),
        ("sms", "+351910000001".to_string()),
        ("voice", "+351910000001".to_string()),
    ] {
        ok(
            &app,
            Method::POST,
            "/api/v1/users/erin/contact-methods",
            json!({"kind": kind, "address": address}),
        )
        .await;
    }
    pages_go_to(&app, "erin", "wifi").await;
    app.declare(
        ADMIN_TOKEN,
        json!({"title": "Office Wi-Fi down", "severity": "SEV3", "services": ["wifi"]}),
    )
    .await;

    let got = eventually("three deliveries", || async {
        let r = receiver.received();
        (r.len() == 3).then_some(r)
    })
    .await;
    let at = |suffix: &str| {
        got.iter()
            .find(|r| r.path.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix}: {got:?}"))
    };
    let chat: Value = serde_json::from_str(&at("/chat").body).expect("json");
    assert!(
        chat["text"]
            .as_str()
            .is_some_and(|t| t.contains("Office Wi-Fi down") && t.contains("/ack/"))
    );
    let sms = at("/2010-04-01/Accounts/AC123/Messages.json");
    assert!(
        sms.body.contains("To=%2B351910000001") && sms.body.contains("From=%2B15550001"),
        "{}",
        sms.body
    );
    assert!(sms.body.contains("Office+Wi-Fi+down"), "{}", sms.body);
    // HTTP basic auth with the account SID and token.
    assert_eq!(
        sms.headers["authorization"],
        "Basic QUMxMjM6c2VjcmV0LXRva2Vu"
    );
    let call = at("/2010-04-01/Accounts/AC123/Calls.json");
    assert!(
        call.body.contains("Twiml=%3CResponse%3E%3CSay%3E"),
        "{}",
        call.body
    );
    app.shutdown().await;
}

/// A responder changes how they are reached: a contact method they remove (with the rule that
/// used it) is not paged any more, and another user may neither see nor remove theirs.
async fn a_removed_contact_method_and_rule_are_no_longer_used(db: Db) {
    let receiver = WebhookSink::start(0).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    let gil = app.user("gil", "responder").await;
    let hana = app.user("hana", "responder").await;
    let as_gil = |method: Method, path: &str, body: Option<Value>| {
        let (app, gil, path) = (&app, gil.clone(), path.to_string());
        async move { app.call(&gil, method, &path, body).await }
    };
    let mut ids = Vec::new();
    for path in ["/old-pager", "/new-pager"] {
        let (status, method) = as_gil(
            Method::POST,
            "/api/v1/users/gil/contact-methods",
            Some(json!({"kind": "webhook", "address": format!("{}{path}", receiver.base)})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{method}");
        ids.push(method["id"].as_i64().expect("id"));
    }
    let (old, new) = (ids[0], ids[1]);
    let mut rules = Vec::new();
    for (method, delay) in [(old, 0), (new, 0), (new, 10)] {
        let (status, rule) = as_gil(
            Method::POST,
            "/api/v1/users/gil/notification-rules",
            Some(json!({"contact_method_id": method, "delay_minutes": delay})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{rule}");
        rules.push(rule["id"].as_i64().expect("id"));
    }

    // Someone else sees nothing of it and removes nothing.
    let path = format!("/api/v1/users/gil/contact-methods/{old}");
    let (status, _) = app
        .call(
            &hana,
            Method::GET,
            "/api/v1/users/gil/contact-methods",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(&hana, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A method is removed only under its owner's name.
    let (status, err) = app
        .call(
            &hana,
            Method::DELETE,
            &format!("/api/v1/users/hana/contact-methods/{old}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");

    // gil drops the second reminder, then the old pager (and the rule that used it).
    let (status, _) = as_gil(
        Method::DELETE,
        &format!("/api/v1/users/gil/notification-rules/{}", rules[2]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = as_gil(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = as_gil(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already gone");
    let (_, methods) = as_gil(Method::GET, "/api/v1/users/gil/contact-methods", None).await;
    assert_eq!(methods.as_array().map(Vec::len), Some(1), "{methods}");
    assert_eq!(methods[0]["id"], new);
    let (_, left) = as_gil(Method::GET, "/api/v1/users/gil/notification-rules", None).await;
    assert_eq!(
        left,
        json!([{"id": rules[1], "contact_method_id": new, "delay_minutes": 0}])
    );

    // The next page goes to the new pager only, once.
    pages_go_to(&app, "gil", "billing").await;
    app.declare(
        ADMIN_TOKEN,
        json!({"title": "Invoices not sent", "severity": "SEV3", "services": ["billing"]}),
    )
    .await;
    eventually("the page", || async {
        receiver.received().into_iter().next()
    })
    .await;
    // The removed reminder (10 minutes) would have fired by now.
    clock.advance(SignedDuration::from_mins(15));
    settle().await;
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, vec!["/new-pager".to_string()]);
    app.shutdown().await;
}

async fn email_goes_over_starttls_and_an_untrusted_certificate_is_refused(db: Db) {
    let Some((smtp, ca)) = SmtpSink::start_tls().await else {
        return;
    };
    for trusted in [false, true] {
        let clock = start_clock();
        let config = OutboundConfig {
            smtp_ca_file: trusted.then(|| ca.clone()),
            ..outbound(Some(&smtp))
        };
        let Some(app) = TestApp::spawn_paging(db, clock.clone(), config).await else {
            return;
        };
        app.user("fay", "responder").await;
        ok(
            &app,
            Method::POST,
            "/api/v1/users/fay/contact-methods",
            json!({"kind": "email", "address": "fay@example.org"}),
        )
        .await;
        pages_go_to(&app, "fay", "mail").await;
        let id = app
            .declare(
                ADMIN_TOKEN,
                json!({"title": "Queue stuck", "severity": "SEV3", "services": ["mail"]}),
            )
            .await;
        let attempt = eventually("a delivery attempt", || async {
            let (_, pages) = app
                .admin(Method::GET, &format!("/api/v1/incidents/{id}/pages"), None)
                .await;
            let attempt = pages[0]["deliveries"][0]["attempts"][0].clone();
            (!attempt.is_null()).then_some(attempt)
        })
        .await;
        if trusted {
            assert_eq!(attempt["ok"], true, "{attempt}");
            assert!(
                attempt["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("SMTP 250")),
                "{attempt}"
            );
            let mail = eventually("the email over STARTTLS", || async {
                smtp.messages().into_iter().next()
            })
            .await;
            assert!(mail.contains("fay@example.org") && mail.contains("Queue stuck"));
        } else {
            // Without the private CA the certificate is not trusted: nothing is sent in clear.
            assert_eq!(attempt["ok"], false, "{attempt}");
            assert!(smtp.messages().is_empty());
        }
        app.shutdown().await;
    }
}

async fn an_email_page_without_an_smtp_server_fails_at_once_and_says_why(db: Db) {
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    app.user("ivy", "responder").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/users/ivy/contact-methods",
        json!({"kind": "email", "address": "ivy@example.org"}),
    )
    .await;
    pages_go_to(&app, "ivy", "mail-relay").await;
    let id = app
        .declare(
            ADMIN_TOKEN,
            json!({"title": "Mail queue stuck", "severity": "SEV3", "services": ["mail-relay"]}),
        )
        .await;
    // No retry can help: the one attempt fails for good, and the page says why.
    let delivery = eventually("the delivery fails", || async {
        let (_, pages) = app
            .admin(Method::GET, &format!("/api/v1/incidents/{id}/pages"), None)
            .await;
        let delivery = pages[0]["deliveries"][0].clone();
        (delivery["state"] == "failed").then_some(delivery)
    })
    .await;
    assert_eq!(delivery["attempts"].as_array().map(Vec::len), Some(1));
    assert!(
        delivery["attempts"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no SMTP server is configured")),
        "{delivery}"
    );
    let web = app.web_session("ivy").await;
    let (_, page) = web.page(&format!("/incidents/{id}")).await;
    assert!(
        page.contains("email to ivy@example.org: failed (1 attempt, last: no SMTP server"),
        "{page}"
    );
    app.shutdown().await;
}

/// An incident's first escalation step fires in the transaction that opens it and its page is
/// handed straight to the engine: with every pass of the engine failing, the alert-opened and
/// the declared incident still page their on-call.
async fn the_first_page_leaves_with_the_commit_that_opens_the_incident(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    let key = crate::alerts::monitored_service(&app, &hooks.url).await;
    app.app.store.faults().hold("engine.pass");

    let trigger = crate::alerts::trigger(&key, "disk", "critical");
    let (status, _) = crate::alerts::enqueue(&app, "/v2/enqueue", &trigger).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let page = eventually("the alert's page", || async {
        hooks.received().into_iter().next()
    })
    .await;
    let opened: Value = serde_json::from_str(&page.body).expect("JSON");
    let token = app.user("ines", "responder").await;
    let declared = app
        .declare(
            &token,
            json!({"title": "Search down", "severity": "SEV1", "services": ["search"]}),
        )
        .await;
    eventually("the declared incident's page", || async {
        (hooks.received().len() == 2).then_some(())
    })
    .await;
    let body: Value = serde_json::from_str(&hooks.received()[1].body).expect("JSON");
    assert_eq!(body["incident"]["id"], declared);
    assert_ne!(opened["incident"]["id"], declared);
    for id in [opened["incident"]["id"].as_i64().expect("id"), declared] {
        let kinds = timeline_kinds(&app, id).await;
        assert_eq!(count(&kinds, "paged"), 1, "{kinds:?}");
    }

    // Firing a first step may fail without losing the alert: it waits for the engine's pass.
    let billing = crate::alerts::olgas_service(&app, "billing").await;
    app.app.store.faults().arm("fire_opened");
    let (status, _) = crate::alerts::enqueue(
        &app,
        "/v2/enqueue",
        &crate::alerts::trigger(&billing, "cpu", "critical"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let cpu = crate::alerts::listed_alert(&app, "/api/v1/alerts?limit=10", "cpu").await;
    let third = cpu["incident_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("the cpu alert opened an incident: {cpu}"));
    assert_eq!(count(&timeline_kinds(&app, third).await, "paged"), 0);

    // The engine's passes did fail meanwhile: the policy's end, five minutes on, waits for one.
    clock.advance(SignedDuration::from_mins(5));
    settle().await;
    let kinds = timeline_kinds(&app, declared).await;
    assert_eq!(count(&kinds, "escalation_exhausted"), 0, "{kinds:?}");
    app.app.store.faults().release("engine.pass");
    until_count(
        &app,
        declared,
        "escalation_exhausted",
        1,
        "the policy runs out once passes work",
    )
    .await;
    eventually("the third incident's page, from a pass", || async {
        (hooks.received().len() == 3).then_some(())
    })
    .await;
    assert_eq!(count(&timeline_kinds(&app, third).await, "paged"), 1);
    app.shutdown().await;
}
