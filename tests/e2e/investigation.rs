//! Investigating before reacting, through the running server: evidence, hypotheses tested,
//! one refuted and one supported, and only then `identified`; acting without a finding is
//! possible with a reason, which the timeline keeps.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use std::sync::Arc;

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;

use crate::alerts::{enqueue, listed_alert, trigger};
use crate::helpers::{Db, TestApp};

crate::on_both_backends!(
    evidence_and_tested_hypotheses_lead_to_a_finding_before_identified,
    acting_without_a_finding_needs_a_reason_the_timeline_keeps,
    bad_investigation_input_is_refused_naming_the_field,
    the_board_works_through_plain_forms_and_reaches_other_pages_live,
    response_changes_are_tracked_with_reference_reason_and_rollback,
    the_lead_hands_over_with_a_note_on_the_timeline,
    a_private_incidents_alert_cannot_be_linked_by_an_outsider,
);
/// Stories that set their own clock.
mod clocked {
    use super::recent_changes_reach_through_dependencies;
    crate::for_both_backends!(recent_changes_reach_through_dependencies);
}

/// A service with an events_v2 integration and no paging; returns the routing key.
async fn edge_service(app: &TestApp) -> String {
    let (s, b) = app
        .admin(
            Method::POST,
            "/api/v1/services",
            Some(json!({"name": "edge"})),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let (s, integration) = app
        .admin(
            Method::POST,
            "/api/v1/services/edge/integrations",
            Some(json!({"kind": "events_v2"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{integration}");
    integration["routing_key"]
        .as_str()
        .expect("a key")
        .to_string()
}

/// `call` that must answer `want`; returns the body.
async fn expect(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
    want: StatusCode,
) -> Value {
    let body = (!body.is_null()).then_some(body);
    let (status, answer) = app.call(token, method.clone(), path, body).await;
    assert_eq!(status, want, "{method} {path}: {answer}");
    answer
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("an id in {v}"))
}

async fn timeline_kinds(app: &TestApp, token: &str, incident: &str) -> Vec<String> {
    let (_, timeline) = app
        .call(
            token,
            Method::GET,
            &format!("{incident}/timeline?limit=1000"),
            None,
        )
        .await;
    timeline
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn evidence_and_tested_hypotheses_lead_to_a_finding_before_identified(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let key = edge_service(&app).await;
    let (status, _) = enqueue(&app, "/v2/enqueue", &trigger(&key, "edge-5xx", "critical")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let alert = listed_alert(&app, "/api/v1/alerts?service=edge", "edge-5xx").await;
    let incident = alert["incident_id"]
        .as_i64()
        .expect("the alert opened an incident");
    let path = format!("/api/v1/incidents/{incident}");
    let (ok, created) = (StatusCode::OK, StatusCode::CREATED);

    // Knowing nothing yet, the incident cannot be called identified without saying why.
    let refused = expect(
        &app,
        &bob,
        Method::PATCH,
        &path,
        json!({"status": "identified"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["error"]["field"], "reason", "{refused}");

    // Evidence: the alert linked in one action, a pinned metric, a log excerpt.
    let evidence = format!("{path}/evidence");
    let linked = expect(
        &app,
        &bob,
        Method::POST,
        &evidence,
        json!({"kind": "alert", "alert_id": alert["id"]}),
        created,
    )
    .await;
    assert_eq!(
        linked["summary"], alert["summary"],
        "the alert's summary: {linked}"
    );
    assert_eq!(linked["alert_id"], alert["id"]);
    let twice = expect(
        &app,
        &bob,
        Method::POST,
        &evidence,
        json!({"kind": "alert", "alert_id": alert["id"], "summary": "Again"}),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        twice["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("already evidence {}", id(&linked)))),
        "linking it again names the evidence it is: {twice}"
    );
    assert!(
        linked["observed_at"].is_string(),
        "the alert's time: {linked}"
    );
    let metric = expect(
        &app,
        &bob,
        Method::POST,
        &evidence,
        json!({
        "kind": "metric", "summary": "Edge 5xx at 12% since 14:02",
        "source_url": "https://grafana.example/d/edge", "pinned": true,
        "observed_at": "2026-12-03T14:02:00Z"}),
        created,
    )
    .await;
    let log = expect(
        &app,
        &bob,
        Method::POST,
        &evidence,
        json!({
        "kind": "log", "summary": "Upstream timeouts after exactly 1 s",
        "excerpt": "14:02:07 upstream timed out (1.000 s) while reading response header"}),
        created,
    )
    .await;
    let listed = expect(&app, &bob, Method::GET, &evidence, Value::Null, ok).await;
    let order: Vec<i64> = listed.as_array().expect("a list").iter().map(id).collect();
    assert_eq!(
        order,
        vec![id(&metric), id(&log), id(&linked)],
        "pinned first, then newest"
    );
    assert_eq!(listed[0]["author"], "bob");

    // H1: refuted, after a test (an untested hypothesis is not judged).
    let hypotheses = format!("{path}/hypotheses");
    let h1 = expect(
        &app,
        &bob,
        Method::POST,
        &hypotheses,
        json!({
        "statement": "The database is overloaded", "evidence_against": [id(&log)]}),
        created,
    )
    .await;
    assert_eq!(
        (h1["state"].as_str(), h1["evidence_against"].clone()),
        (Some("open"), json!([id(&log)]))
    );
    let h1_path = format!("{hypotheses}/{}", id(&h1));
    let untested = expect(
        &app,
        &bob,
        Method::PATCH,
        &h1_path,
        json!({"state": "refuted"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(untested["error"]["field"], "state", "{untested}");
    let tested = expect(&app, &bob, Method::POST, &format!("{h1_path}/tests"), json!({
        "description": "Checked database CPU and the slow-query log", "result": "CPU at 20%, no slow queries"}), created).await;
    assert_eq!(
        tested["state"], "testing",
        "a test starts testing: {tested}"
    );
    assert_eq!(tested["tests"][0]["result"], "CPU at 20%, no slow queries");
    let refuted = expect(
        &app,
        &bob,
        Method::PATCH,
        &h1_path,
        json!({"state": "refuted"}),
        ok,
    )
    .await;
    assert_eq!(
        (refuted["state"].as_str(), refuted["finding"].as_bool()),
        (Some("refuted"), Some(false))
    );
    let still = expect(
        &app,
        &bob,
        Method::PATCH,
        &path,
        json!({"status": "identified"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        still["error"]["field"], "reason",
        "a refuted hypothesis is no finding: {still}"
    );

    // H2: reproduced on staging, supported: a finding.
    let h2 = expect(
        &app,
        &bob,
        Method::POST,
        &hypotheses,
        json!({
        "statement": "The 14:00 config push lowered the upstream timeout to 1 s", "owner": "bob",
        "evidence_for": [id(&metric), id(&log)]}),
        created,
    )
    .await;
    assert_eq!(h2["owner"], "bob");
    let h2_path = format!("{hypotheses}/{}", id(&h2));
    expect(
        &app,
        &bob,
        Method::POST,
        &format!("{h2_path}/tests"),
        json!({
        "description": "Replayed the 14:00 config on staging under production load",
        "result": "Reproduced: 11% 5xx within a minute"}),
        created,
    )
    .await;
    let supported = expect(
        &app,
        &bob,
        Method::PATCH,
        &h2_path,
        json!({"state": "supported"}),
        ok,
    )
    .await;
    assert_eq!(supported["finding"], true, "{supported}");

    // Now identified rests on a finding and needs no reason.
    let identified = expect(
        &app,
        &bob,
        Method::PATCH,
        &path,
        json!({"status": "identified"}),
        ok,
    )
    .await;
    assert_eq!(identified["status"], "identified");
    let kinds = timeline_kinds(&app, &bob, &path).await;
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert_eq!(count("evidence_added"), 3, "{kinds:?}");
    assert_eq!(count("hypothesis_proposed"), 2);
    assert_eq!(count("hypothesis_tested"), 2);
    assert_eq!(
        count("hypothesis_state_changed"),
        4,
        "two to testing, refuted, supported: {kinds:?}"
    );
    assert_eq!(count("acted_without_finding"), 0);
    assert_eq!(kinds.last().map(String::as_str), Some("status_changed"));

    // Unpinning, and removing evidence takes it off the hypotheses it was on.
    let unpinned = expect(
        &app,
        &bob,
        Method::PATCH,
        &format!("{evidence}/{}", id(&metric)),
        json!({"pinned": false}),
        ok,
    )
    .await;
    assert_eq!(unpinned["pinned"], false);
    let nothing = expect(
        &app,
        &bob,
        Method::PATCH,
        &format!("{evidence}/{}", id(&metric)),
        json!({"pinned": false}),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        nothing["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing"),
        "{nothing}"
    );
    expect(
        &app,
        &bob,
        Method::DELETE,
        &format!("{evidence}/{}", id(&log)),
        Value::Null,
        StatusCode::NO_CONTENT,
    )
    .await;
    let listed = expect(&app, &bob, Method::GET, &hypotheses, Value::Null, ok).await;
    assert_eq!(listed[1]["evidence_for"], json!([id(&metric)]), "{listed}");
    assert_eq!(listed[0]["evidence_against"], json!([]), "{listed}");
    assert!(
        timeline_kinds(&app, &bob, &path)
            .await
            .contains(&"evidence_removed".to_string())
    );

    // A viewer reads the investigation but adds nothing to it.
    let vic = app.user("vic", "viewer").await;
    let seen = expect(&app, &vic, Method::GET, &evidence, Value::Null, ok).await;
    assert_eq!(seen.as_array().map(Vec::len), Some(2));
    expect(
        &app,
        &vic,
        Method::POST,
        &evidence,
        json!({"kind": "other", "summary": "a viewer's hunch"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    app.shutdown().await;
}

async fn acting_without_a_finding_needs_a_reason_the_timeline_keeps(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let incident = app
        .declare(&bob, json!({"title": "Orders failing", "severity": "SEV1"}))
        .await;
    let path = format!("/api/v1/incidents/{incident}");
    let blank = json!({"status": "identified", "reason": "   "});
    let refused = expect(
        &app,
        &bob,
        Method::PATCH,
        &path,
        blank,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["error"]["field"], "reason");
    let reason =
        "acting without a finding: orders are failing, rolling back the 14:00 deploy first";
    let body = json!({"status": "identified", "reason": reason});
    expect(&app, &bob, Method::PATCH, &path, body, StatusCode::OK).await;
    let (_, timeline) = app
        .call(&bob, Method::GET, &format!("{path}/timeline"), None)
        .await;
    let entry = timeline
        .as_array()
        .and_then(|all| all.iter().find(|e| e["kind"] == "acted_without_finding"))
        .cloned()
        .unwrap_or_else(|| panic!("recorded: {timeline}"));
    assert_eq!(entry["data"]["reason"], reason);
    assert_eq!(entry["data"]["action"], "identified");
    assert_eq!(entry["actor"], "bob");
    assert!(
        entry["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Acted without a finding"),
        "{entry}"
    );
    app.shutdown().await;
}

async fn bad_investigation_input_is_refused_naming_the_field(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let incident = app
        .declare(&bob, json!({"title": "Search slow", "severity": "SEV3"}))
        .await;
    let other = app
        .declare(&bob, json!({"title": "Another", "severity": "SEV4"}))
        .await;
    let evidence = format!("/api/v1/incidents/{incident}/evidence");
    let theirs = expect(
        &app,
        &bob,
        Method::POST,
        &format!("/api/v1/incidents/{other}/evidence"),
        json!({"kind": "other", "summary": "elsewhere"}),
        StatusCode::CREATED,
    )
    .await;
    let long = "x".repeat(501);
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    for (body, field) in [
        (json!({"kind": "rumour", "summary": "x"}), "kind"),
        (json!({"kind": "log"}), "summary"),
        (json!({"kind": "log", "summary": long}), "summary"),
        (
            json!({"kind": "log", "summary": "x", "source_url": "javascript:alert(1)"}),
            "source_url",
        ),
        (
            json!({"kind": "log", "summary": "x", "observed_at": "yesterday"}),
            "observed_at",
        ),
        (
            json!({"kind": "log", "summary": "x", "alert_id": 1}),
            "alert_id",
        ),
        (json!({"kind": "alert", "alert_id": 999_999}), "alert_id"),
        (json!({"kind": "change", "change_id": 999_999}), "change_id"),
        (
            json!({"kind": "log", "summary": "x", "colour": "red"}),
            "colour",
        ),
    ] {
        let err = expect(&app, &bob, Method::POST, &evidence, body.clone(), invalid).await;
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    let hypotheses = format!("/api/v1/incidents/{incident}/hypotheses");
    let mine = expect(
        &app,
        &bob,
        Method::POST,
        &evidence,
        json!({"kind": "log", "summary": "ours"}),
        StatusCode::CREATED,
    )
    .await;
    for (body, field) in [
        (json!({"statement": ""}), "statement"),
        (json!({"statement": "x", "owner": "nobody"}), "owner"),
        (
            json!({"statement": "x", "evidence_for": [id(&theirs)]}),
            "evidence_for",
        ),
        (
            json!({"statement": "x", "evidence_for": [id(&mine), id(&mine)]}),
            "evidence_for",
        ),
        (
            json!({"statement": "x", "evidence_for": [id(&mine)], "evidence_against": [id(&mine)]}),
            "evidence_against",
        ),
    ] {
        let err = expect(&app, &bob, Method::POST, &hypotheses, body.clone(), invalid).await;
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    let h = expect(
        &app,
        &bob,
        Method::POST,
        &hypotheses,
        json!({"statement": "The cache is cold"}),
        StatusCode::CREATED,
    )
    .await;
    let h_path = format!("{hypotheses}/{}", id(&h));
    let err = expect(
        &app,
        &bob,
        Method::PATCH,
        &h_path,
        json!({"state": "proven"}),
        invalid,
    )
    .await;
    assert_eq!(err["error"]["field"], "state");
    let err = expect(
        &app,
        &bob,
        Method::POST,
        &format!("{h_path}/tests"),
        json!({"description": "x", "result": ""}),
        invalid,
    )
    .await;
    assert_eq!(err["error"]["field"], "result");
    expect(
        &app,
        &bob,
        Method::PATCH,
        &h_path,
        json!({"state": "open"}),
        StatusCode::CONFLICT,
    )
    .await;
    let missing = expect(
        &app,
        &bob,
        Method::PATCH,
        &format!("{hypotheses}/999999"),
        json!({"state": "testing"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(missing["error"]["message"], "hypothesis not found");
    let missing = expect(
        &app,
        &bob,
        Method::PATCH,
        &format!("{evidence}/{}", id(&theirs)),
        json!({"pinned": true}),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        missing["error"]["message"], "evidence not found",
        "another incident's evidence is not this one's"
    );
    expect(
        &app,
        &bob,
        Method::DELETE,
        &format!("{evidence}/999999"),
        Value::Null,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect(
        &app,
        &bob,
        Method::GET,
        "/api/v1/incidents/999999/evidence",
        Value::Null,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.shutdown().await;
}

/// The board's forms work without JavaScript (post, redirect, page), a refused move comes back
/// as the page's error, and the live fragment every open page fetches carries the board.
async fn the_board_works_through_plain_forms_and_reaches_other_pages_live(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    app.user("carol", "responder").await;
    let incident = app
        .declare(&bob, json!({"title": "Search slow", "severity": "SEV3"}))
        .await;
    let web = app.web_session("bob").await;
    let csrf = web.csrf().await;
    let page = format!("/incidents/{incident}");
    let posted = web
        .post_form(
            &format!("{page}/evidence"),
            &[
                ("csrf", &csrf),
                ("kind", "anomaly"),
                ("summary", "p99 <b>tripled</b> at 09:10"),
                ("excerpt", ""),
                ("source_url", ""),
                ("pinned", "1"),
            ],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        posted.headers()["location"],
        format!("{page}?done=evidence")
    );
    let posted = web
        .post_form(
            &format!("{page}/hypotheses"),
            &[("csrf", &csrf), ("statement", "The cache was flushed")],
        )
        .await;
    assert_eq!(
        posted.headers()["location"],
        format!("{page}?done=hypothesis")
    );
    let (_, hypotheses) = app
        .call(
            &bob,
            Method::GET,
            &format!("/api/v1{page}/hypotheses"),
            None,
        )
        .await;
    let hid = id(&hypotheses[0]);

    // Supporting an untested hypothesis is refused, and the page says why.
    let refused = web
        .post_form(
            &format!("{page}/hypotheses/{hid}/state"),
            &[("csrf", &csrf), ("state", "supported")],
        )
        .await;
    let back = refused.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(back.starts_with(&format!("{page}?error=")), "{back}");
    let (_, html) = web.page(&back).await;
    assert!(
        html.contains("judged on a test"),
        "the page shows the refusal"
    );
    let tested = web
        .post_form(
            &format!("{page}/hypotheses/{hid}/tests"),
            &[
                ("csrf", &csrf),
                ("description", "Read the cache's flush log"),
                ("result", "Flushed at 09:09 by a cron job"),
            ],
        )
        .await;
    assert_eq!(tested.headers()["location"], format!("{page}?done=tested"));
    let judged = web
        .post_form(
            &format!("{page}/hypotheses/{hid}/state"),
            &[("csrf", &csrf), ("state", "supported")],
        )
        .await;
    assert_eq!(
        judged.headers()["location"],
        format!("{page}?done=hypothesis-supported")
    );
    let (_, html) = web.page(&format!("{page}?done=hypothesis-supported")).await;
    assert!(
        html.contains("Hypothesis supported: it is a finding."),
        "announced"
    );
    assert!(
        html.contains("p99 &#60;b&#62;tripled&#60;/b&#62;")
            || html.contains("p99 &lt;b&gt;tripled&lt;/b&gt;"),
        "escaped"
    );
    assert!(!html.contains("<b>tripled</b>"));

    let hid_text = hid.to_string();
    let recorded = web
        .post_form(
            &format!("{page}/changes"),
            &[
                ("csrf", &csrf),
                ("system", "cache"),
                ("description", "Disabled the nightly flush job"),
                ("reference", "https://git.example/ops/commit/9a1b"),
                ("hypothesis_id", &hid_text),
                ("reason", ""),
                ("rollback", "Re-enable the cron entry"),
            ],
        )
        .await;
    assert_eq!(
        recorded.headers()["location"],
        format!("{page}?done=change")
    );

    // Carol's open page fetches the live fragment: the board is in it.
    let carol = app.web_session("carol").await;
    let (status, fragment) = carol.page(&format!("{page}/live")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        fragment.contains("Flushed at 09:09 by a cron job") && fragment.contains("1 finding"),
        "{fragment}"
    );
    assert!(
        fragment.contains(&format!("id=\"hypothesis-{hid}-state\">supported")),
        "{fragment}"
    );
    assert!(
        fragment.contains("Disabled the nightly flush job")
            && fragment.contains(&format!("acts on H{hid}"))
            && fragment.contains("To undo: Re-enable the cron entry"),
        "{fragment}"
    );
    app.shutdown().await;
}

/// A service with an events_v2 integration depending on `depends_on`; returns its routing key.
pub(crate) async fn service_depending_on(app: &TestApp, name: &str, depends_on: &[&str]) -> String {
    let (s, b) = app
        .admin(
            Method::POST,
            "/api/v1/services",
            Some(json!({"name": name})),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let (s, b) = app
        .admin(
            Method::PUT,
            &format!("/api/v1/services/{name}/oncall"),
            Some(json!({"depends_on": depends_on})),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let (s, integration) = app
        .admin(
            Method::POST,
            &format!("/api/v1/services/{name}/integrations"),
            Some(json!({"kind": "events_v2"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{integration}");
    integration["routing_key"]
        .as_str()
        .expect("a key")
        .to_string()
}

/// checkout depends on payments, which depends on ledger; search stands apart. The incident
/// affects checkout: a change to ledger two levels down is among its recent changes, marked
/// with the way it came, and one click makes it evidence.
async fn recent_changes_reach_through_dependencies(db: Db) {
    let clock = Arc::new(ManualClock::new(
        "2026-03-02T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock, OutboundConfig::default()).await else {
        return;
    };
    let bob = app.user("bob", "responder").await;
    let ledger = service_depending_on(&app, "ledger", &[]).await;
    service_depending_on(&app, "payments", &["ledger"]).await;
    let checkout = service_depending_on(&app, "checkout", &["payments"]).await;
    let search = service_depending_on(&app, "search", &[]).await;
    for (key, summary, at) in [
        (
            &ledger,
            "Ledger schema migration 42",
            "2026-03-02T08:00:00Z",
        ),
        (&ledger, "Ledger 1.9 rollout", "2026-02-27T10:00:00Z"),
        (&checkout, "Checkout 7.1 deployed", "2026-03-02T09:55:00Z"),
        (&search, "Search reindex", "2026-03-02T09:00:00Z"),
    ] {
        let change = json!({"routing_key": key, "payload": {"summary": summary, "source": "ci", "timestamp": at}});
        assert_eq!(
            enqueue(&app, "/v2/change/enqueue", &change).await.0,
            StatusCode::ACCEPTED
        );
    }
    let incident = app
        .declare(
            &bob,
            json!({"title": "Checkout errors", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await;
    let path = format!("/api/v1/incidents/{incident}/recent-changes");
    let ok = StatusCode::OK;
    let changes = expect(&app, &bob, Method::GET, &path, Value::Null, ok).await;
    let seen: Vec<(&str, Value)> = changes
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| (c["summary"].as_str().unwrap_or_default(), c["via"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("Checkout 7.1 deployed", json!(["checkout"])),
            (
                "Ledger schema migration 42",
                json!(["checkout", "payments", "ledger"])
            ),
        ],
        "newest first, the last day only, nothing from search: {changes}"
    );
    let week = expect(
        &app,
        &bob,
        Method::GET,
        &format!("{path}?window=7d"),
        Value::Null,
        ok,
    )
    .await;
    assert_eq!(week.as_array().map(Vec::len), Some(3), "{week}");
    let err = expect(
        &app,
        &bob,
        Method::GET,
        &format!("{path}?window=forever"),
        Value::Null,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["error"]["field"], "window");

    // On the page, the ledger change says how it came, and its button makes it evidence.
    let web = app.web_session("bob").await;
    let (_, html) = web.page(&format!("/incidents/{incident}")).await;
    assert!(
        html.contains("ledger (via checkout \u{2192} payments): Ledger schema migration 42"),
        "{html}"
    );
    let ledger_change = changes[1]["id"].as_i64().expect("an id").to_string();
    let csrf = web.csrf().await;
    let added = web
        .post_form(
            &format!("/incidents/{incident}/evidence"),
            &[
                ("csrf", &csrf),
                ("kind", "change"),
                ("change_id", &ledger_change),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert!(
        added.headers()["location"]
            .to_str()
            .unwrap_or_default()
            .ends_with("done=evidence")
    );
    let evidence = expect(
        &app,
        &bob,
        Method::GET,
        &format!("/api/v1/incidents/{incident}/evidence"),
        Value::Null,
        ok,
    )
    .await;
    assert_eq!(
        evidence[0]["summary"], "Ledger schema migration 42",
        "{evidence}"
    );
    assert_eq!(evidence[0]["change_id"].to_string(), ledger_change);
    assert_eq!(evidence[0]["observed_at"], "2026-03-02T08:00:00Z");
    app.shutdown().await;
}

async fn response_changes_are_tracked_with_reference_reason_and_rollback(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let incident = app
        .declare(&bob, json!({"title": "Edge 5xx", "severity": "SEV2"}))
        .await;
    let other = app
        .declare(&bob, json!({"title": "Elsewhere", "severity": "SEV4"}))
        .await;
    let changes = format!("/api/v1/incidents/{incident}/changes");
    let push = json!({"system": "edge-proxy", "description": "Raised the upstream timeout to 30 s",
        "reference": "https://git.example/edge/pull/812", "rollback": "git revert 3f2c1d0"});

    // Changing production without a finding needs a reason, which the timeline keeps.
    let refused = expect(
        &app,
        &bob,
        Method::POST,
        &changes,
        push.clone(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["error"]["field"], "reason", "{refused}");
    let mut urgent = push.clone();
    urgent["reason"] = json!("acting without a finding: half of checkouts fail");
    let first = expect(
        &app,
        &bob,
        Method::POST,
        &changes,
        urgent,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        (first["state"].as_str(), first["author"].as_str()),
        (Some("applied"), Some("bob"))
    );
    let kinds = timeline_kinds(&app, &bob, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        kinds.iter().rev().take(2).collect::<Vec<_>>(),
        ["acted_without_finding", "response_change_recorded"],
        "{kinds:?}"
    );

    // With a finding, a change acting on it needs no reason; a hypothesis of another incident
    // is refused.
    let hypotheses = format!("/api/v1/incidents/{incident}/hypotheses");
    let h = expect(
        &app,
        &bob,
        Method::POST,
        &hypotheses,
        json!({"statement": "The timeout is too short"}),
        StatusCode::CREATED,
    )
    .await;
    let h_path = format!("{hypotheses}/{}", id(&h));
    expect(
        &app,
        &bob,
        Method::POST,
        &format!("{h_path}/tests"),
        json!({"description": "Raised it on one node", "result": "Errors stopped there"}),
        StatusCode::CREATED,
    )
    .await;
    expect(
        &app,
        &bob,
        Method::PATCH,
        &h_path,
        json!({"state": "supported"}),
        StatusCode::OK,
    )
    .await;
    let theirs = expect(
        &app,
        &bob,
        Method::POST,
        &format!("/api/v1/incidents/{other}/hypotheses"),
        json!({"statement": "x"}),
        StatusCode::CREATED,
    )
    .await;
    let mut wrong = push.clone();
    wrong["hypothesis_id"] = json!(id(&theirs));
    let err = expect(
        &app,
        &bob,
        Method::POST,
        &changes,
        wrong,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["error"]["field"], "hypothesis_id");
    let mut acting = push.clone();
    acting["hypothesis_id"] = json!(id(&h));
    acting["description"] = json!("Raised the upstream timeout on every node");
    let second = expect(
        &app,
        &bob,
        Method::POST,
        &changes,
        acting,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(second["hypothesis_id"], id(&h));

    // Rolled back once; the list is newest first.
    let first_path = format!("{changes}/{}", id(&first));
    let rolled = expect(
        &app,
        &bob,
        Method::PATCH,
        &first_path,
        json!({"state": "rolled_back"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(rolled["state"], "rolled_back");
    assert!(rolled["rolled_back_at"].is_string());
    expect(
        &app,
        &bob,
        Method::PATCH,
        &first_path,
        json!({"state": "rolled_back"}),
        StatusCode::CONFLICT,
    )
    .await;
    let err = expect(
        &app,
        &bob,
        Method::PATCH,
        &first_path,
        json!({"state": "applied"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["error"]["field"], "state");
    expect(
        &app,
        &bob,
        Method::PATCH,
        &format!("{changes}/999999"),
        json!({"state": "rolled_back"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    let listed = expect(
        &app,
        &bob,
        Method::GET,
        &changes,
        Value::Null,
        StatusCode::OK,
    )
    .await;
    let order: Vec<i64> = listed.as_array().expect("a list").iter().map(id).collect();
    assert_eq!(order, vec![id(&second), id(&first)]);
    assert_eq!(listed[1]["rollback"], "git revert 3f2c1d0");
    let kinds = timeline_kinds(&app, &bob, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "acted_without_finding")
            .count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("response_change_rolled_back")
    );
    app.shutdown().await;
}

/// Roles in motion: the lead hands over with a note the timeline keeps; an empty note is none.
async fn the_lead_hands_over_with_a_note_on_the_timeline(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    app.user("carol", "responder").await;
    let incident = app
        .declare(&bob, json!({"title": "Queue backlog", "severity": "SEV2"}))
        .await;
    let lead = format!("/api/v1/incidents/{incident}/roles/incident_lead");
    expect(
        &app,
        &bob,
        Method::PUT,
        &lead,
        json!({"user": "bob", "note": "  "}),
        StatusCode::OK,
    )
    .await;
    let note = "Consumers scaled to 40; the backlog drains at 2k/s. Watch the DLQ.";
    expect(
        &app,
        &bob,
        Method::PUT,
        &lead,
        json!({"user": "carol", "note": note}),
        StatusCode::OK,
    )
    .await;
    let long = "x".repeat(20_000);
    let err = expect(
        &app,
        &bob,
        Method::PUT,
        &lead,
        json!({"user": "bob", "note": long}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["error"]["field"], "note", "{err}");
    let (_, timeline) = app
        .call(
            &bob,
            Method::GET,
            &format!("/api/v1/incidents/{incident}/timeline"),
            None,
        )
        .await;
    let handed: Vec<&Value> = timeline
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["kind"] == "role_assigned")
        .collect();
    assert_eq!(handed.len(), 2, "{timeline}");
    assert!(
        handed[0]["data"].get("note").is_none(),
        "an empty note is none: {}",
        handed[0]
    );
    assert_eq!(handed[1]["data"]["note"], note);
    assert_eq!(
        handed[1]["text"],
        format!("Incident lead handed from bob to carol: {note}")
    );

    // The incident page's role form carries the note too.
    let web = app.web_session("carol").await;
    let csrf = web.csrf().await;
    let posted = web
        .post_form(
            &format!("/incidents/{incident}/roles"),
            &[
                ("csrf", &csrf),
                ("role", "scribe"),
                ("user", "carol"),
                ("note", "Taking notes from 10:40"),
            ],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let (_, html) = web.page(&format!("/incidents/{incident}")).await;
    assert!(
        html.contains("carol is scribe: Taking notes from 10:40"),
        "{html}"
    );
    app.shutdown().await;
}

/// An alert is as private as the incident it joined: linking it as evidence elsewhere is
/// answered as if it did not exist, to anyone who may not see that incident.
async fn a_private_incidents_alert_cannot_be_linked_by_an_outsider(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let mallory = app.user("mallory", "responder").await;
    let key = edge_service(&app).await;
    let secret = app
        .declare(
            &bob,
            json!({"title": "Badge server compromised", "severity": "SEV1",
            "private": true, "services": ["edge"]}),
        )
        .await;
    let (status, _) = enqueue(&app, "/v2/enqueue", &trigger(&key, "badge", "critical")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let alert = listed_alert(&app, "/api/v1/alerts?service=edge", "badge").await;
    assert_eq!(
        alert["incident_id"], secret,
        "the alert joined the private incident: {alert}"
    );
    let public = app
        .declare(&mallory, json!({"title": "Doors slow", "severity": "SEV4"}))
        .await;
    let link = json!({"kind": "alert", "alert_id": alert["id"]});
    let path = format!("/api/v1/incidents/{public}/evidence");
    let hidden = expect(
        &app,
        &mallory,
        Method::POST,
        &path,
        link.clone(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let missing = expect(
        &app,
        &mallory,
        Method::POST,
        &path,
        json!({"kind": "alert", "alert_id": 999_999}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(hidden["error"]["field"], "alert_id");
    assert_eq!(
        hidden["error"]["message"]
            .as_str()
            .map(|m| m.replace(&alert["id"].to_string(), "N")),
        missing["error"]["message"]
            .as_str()
            .map(|m| m.replace("999999", "N")),
        "hidden and missing read alike"
    );
    assert!(!hidden.to_string().contains("Search latency"), "{hidden}");
    // Bob, who takes part in it, may link it.
    let bobs = expect(
        &app,
        &bob,
        Method::POST,
        &format!("/api/v1/incidents/{secret}/evidence"),
        link,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(bobs["alert_id"], alert["id"]);
    app.shutdown().await;
}
