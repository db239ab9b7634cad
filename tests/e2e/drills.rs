//! Drills, through the running server: a scenario starts a practice incident marked as a
//! drill that pages only the people it names (or, as it says, everyone, "DRILL" first), plays
//! its script into the incident on time (and no more once resolved), stays off the status
//! page and out of the metrics, and is scored against its playbook and targets in its review;
//! a bad scenario is refused saying where; the CLI starts, lists and shows drills.

use std::sync::Arc;

use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use aplomb::clock::{ManualClock, SystemClock};
use aplomb::engine::channels::OutboundConfig;

use crate::cli::{aplomb, stdout};
use crate::helpers::{Db, TestApp};
use crate::paging::{ok, pages_go_to, settle, timeline_kinds};
use crate::sinks::{WebhookSink, eventually};

mod clocked {
    use super::{
        a_drill_for_everyone_says_drill_first_and_bad_scenarios_are_refused,
        a_drill_pages_only_its_people_plays_its_script_and_is_scored,
    };
    crate::for_both_backends!(
        a_drill_pages_only_its_people_plays_its_script_and_is_scored,
        a_drill_for_everyone_says_drill_first_and_bad_scenarios_are_refused,
    );
}

const SCENARIO: &str = r#"
title = "Checkout times out after a failover"
type = "outage"
severity = "SEV2"
service = "checkout-api"
participants = ["olga"]

[targets]
time_to_acknowledge = "5m"
time_to_finding = "30m"

[[events]]
after = "0s"
kind = "alert"
text = "checkout-api p99 above 5 s"

[[events]]
after = "2m"
kind = "user_report"
text = "The order page times out"

[[events]]
after = "4m"
kind = "change"
text = "orders-db failed over to zone b"

[[events]]
after = "6m"
kind = "note"
text = "The pool still points at the old primary"

[[events]]
after = "1h"
kind = "alert"
text = "checkout-api error rate above 20%"
"#;

/// Chat messages a sink received at `path`, by their text.
fn chats(sink: &WebhookSink, path: &str) -> Vec<String> {
    sink.received()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).expect("a JSON chat message");
            body["text"].as_str().unwrap_or("").to_string()
        })
        .collect()
}

/// `user` is reached by chat at `{sink}/{user}`.
async fn chat_to(app: &TestApp, sink: &WebhookSink, user: &str) {
    ok(
        app,
        Method::POST,
        &format!("/api/v1/users/{user}/contact-methods"),
        json!({"kind": "chat", "address": format!("{}/{user}", sink.base)}),
    )
    .await;
}

async fn drill(app: &TestApp, token: &str, id: i64) -> Value {
    let (status, d) = app
        .call(token, Method::GET, &format!("/api/v1/drills/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    d
}

fn played(d: &Value) -> usize {
    d["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| !e["played_at"].is_null())
        .count()
}

async fn a_drill_pages_only_its_people_plays_its_script_and_is_scored(db: Db) {
    let sink = WebhookSink::start(0).await;
    let clock = Arc::new(ManualClock::new(
        "2026-12-07T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await
    else {
        return;
    };
    let lena = app.user("lena", "responder").await;
    let olga = app.user("olga", "responder").await;
    app.user("ivan", "responder").await;
    chat_to(&app, &sink, "olga").await;
    chat_to(&app, &sink, "ivan").await;
    // ivan is who a real incident of checkout-api pages.
    pages_go_to(&app, "ivan", "checkout-api").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/playbooks",
        json!({"incident_type": "outage", "steps": ["Page the database on-call", "Post a first update"],
               "roles": ["incident_lead"], "guidance": ""}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/status/components",
        json!({"name": "Checkout", "services": ["checkout-api"]}),
    )
    .await;

    let real = app
        .declare(&lena, json!({"title": "A real one", "severity": "SEV4"}))
        .await;
    let (status, started) = app
        .call(
            &lena,
            Method::POST,
            "/api/v1/drills",
            Some(json!({"scenario": SCENARIO})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["incident_id"]
        .as_i64()
        .expect("the drill's incident");
    assert_eq!(started["paging"], "participants");
    assert_eq!(started["events"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        started["targets"],
        json!([{"duration": "time_to_acknowledge", "seconds": 300},
               {"duration": "time_to_finding", "seconds": 1800}])
    );

    // olga, and only olga, is paged, "DRILL" first; the script's first event plays at once.
    let olga_heard = eventually("olga is paged", || async {
        chats(&sink, "/olga").into_iter().next()
    })
    .await;
    assert!(
        olga_heard.starts_with(&format!("DRILL [aplomb] SEV2 incident #{id}:")),
        "{olga_heard}"
    );
    eventually("the first event plays", || async {
        (played(&drill(&app, &lena, id).await) == 1).then_some(())
    })
    .await;
    settle().await;
    assert!(
        chats(&sink, "/ivan").is_empty(),
        "the usual on-call is left alone"
    );
    let (_, incident) = app
        .call(&lena, Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(incident["drill"], true, "{incident}");
    assert!(
        incident["participants"]
            .as_array()
            .expect("people")
            .contains(&json!("olga"))
    );
    let (_, listed) = app
        .call(&lena, Method::GET, "/api/v1/incidents", None)
        .await;
    assert_eq!(listed["items"][0]["drill"], true, "{listed}");
    assert_eq!(listed["items"][1]["drill"], false, "{listed}");
    let kinds = timeline_kinds(&app, id).await;
    for kind in [
        "drill_started",
        "engaged",
        "playbook_applied",
        "drill_event_played",
    ] {
        assert!(kinds.contains(&kind.to_string()), "{kind} in {kinds:?}");
    }

    // Two minutes in, the user report plays; both leave evidence.
    clock.advance(SignedDuration::from_mins(2));
    eventually("the user report plays", || async {
        (played(&drill(&app, &lena, id).await) == 2).then_some(())
    })
    .await;
    let (_, evidence) = app
        .call(
            &lena,
            Method::GET,
            &format!("/api/v1/incidents/{id}/evidence"),
            None,
        )
        .await;
    let kinds: Vec<&str> = evidence
        .as_array()
        .expect("evidence")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds.len(), 2, "{evidence}");
    assert!(
        kinds.contains(&"alert") && kinds.contains(&"user_report"),
        "{kinds:?}"
    );

    // A public update is practised, and stays off the status page.
    let (status, update) = app
        .call(
            &lena,
            Method::POST,
            &format!("/api/v1/incidents/{id}/updates"),
            Some(json!({"text": "Checkout is slow for some customers. We are investigating and will update by 10:30 UTC.",
                        "phase": "investigating", "audiences": ["public"], "publish": true,
                        "components": [{"name": "Checkout", "status": "major_outage"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{update}");
    // The real incident's update is published after the drill's: once the page shows it, it
    // has been rendered since the drill's, and shows only the real one.
    let (status, real_update) = app
        .call(
            &lena,
            Method::POST,
            &format!("/api/v1/incidents/{real}/updates"),
            Some(json!({"text": "Some pages load slowly. We are looking into it and will update by 11:00 UTC.",
                        "phase": "investigating", "audiences": ["public"], "publish": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{real_update}");
    let summary = eventually("the real update reaches the status page", || async {
        let summary: Value = reqwest::get(format!("{}/status/api/v2/summary.json", app.base))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (summary["incidents"].as_array().map(Vec::len) == Some(1)).then_some(summary)
    })
    .await;
    assert_eq!(summary["incidents"][0]["name"], "A real one", "{summary}");
    assert_eq!(
        summary["components"][0]["status"], "operational",
        "the drill's major outage is not shown: {summary}"
    );
    let (_, metrics) = app
        .call(&lena, Method::GET, "/api/v1/metrics/response", None)
        .await;
    assert_eq!(
        metrics["incidents"], 1,
        "only the real one counts: {metrics}"
    );

    // olga acknowledges a minute later, leads, checks one step; the drill is resolved.
    clock.advance(SignedDuration::from_mins(1));
    let path = format!("/api/v1/incidents/{id}");
    let (status, answer) = app
        .call(&olga, Method::POST, &format!("{path}/acknowledge"), None)
        .await;
    assert!(status.is_success(), "{answer}");
    let (status, answer) = app
        .call(
            &olga,
            Method::PUT,
            &format!("{path}/roles/incident_lead"),
            Some(json!({"user": "olga"})),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    let (status, answer) = app
        .call(
            &olga,
            Method::PUT,
            &format!("{path}/checklist/1"),
            Some(json!({"checked": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = app
        .call(
            &olga,
            Method::PATCH,
            &path,
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // Resolved, the rest of the script no longer plays.
    clock.advance(SignedDuration::from_hours(2));
    settle().await;
    let d = drill(&app, &lena, id).await;
    assert_eq!(played(&d), 2, "{d}");
    let criteria: Vec<(String, bool, String)> = d["score"]["criteria"]
        .as_array()
        .expect("criteria")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["met"] == true,
                c["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        criteria,
        [
            (
                "Checklist: Page the database on-call".into(),
                true,
                "checked".into()
            ),
            (
                "Checklist: Post a first update".into(),
                false,
                "not checked".into()
            ),
            ("Role filled: Incident lead".into(), true, "filled".into()),
            (
                "Time to acknowledge within 5 min 0 s".into(),
                true,
                "took 3 min 0 s".into()
            ),
            (
                "Time to finding within 30 min 0 s".into(),
                false,
                "did not happen".into()
            ),
        ]
    );
    assert_eq!(
        (&d["score"]["met"], &d["score"]["total"]),
        (&json!(3), &json!(5))
    );

    // The review shows the same score, and exports it.
    let (_, review) = app
        .call(&lena, Method::GET, &format!("{path}/review"), None)
        .await;
    assert_eq!(review["drill_score"]["met"], 3, "{review}");
    assert_eq!(
        (
            &review["impact"]["alerts"],
            &review["impact"]["user_reports"]
        ),
        (&json!(1), &json!(1)),
        "the script's alert and user report count as real ones: {review}"
    );
    let (status, item) = app
        .call(
            &lena,
            Method::POST,
            &format!("{path}/review/action-items"),
            Some(json!({"title": "Rehearse the failover runbook"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(
        item["drill"], true,
        "an item decided in a drill says so: {item}"
    );
    assert_eq!(
        (
            &review["playbook"]["version"],
            &review["playbook"]["steps"],
            &review["playbook"]["checked"]
        ),
        (&json!(1), &json!(2), &json!(1)),
        "{review}"
    );
    assert_eq!(
        review["playbook"]["unchecked"],
        json!(["Post a first update"])
    );
    assert_eq!(review["durations"]["time_to_acknowledge"], 180, "{review}");
    let (_, real) = app
        .call(
            &lena,
            Method::GET,
            &format!("/api/v1/incidents/{real}/review"),
            None,
        )
        .await;
    assert!(real.get("drill_score").is_none_or(Value::is_null), "{real}");
    let md = reqwest::Client::new()
        .get(format!("{}{path}/review.md", app.base))
        .bearer_auth(&lena)
        .send()
        .await
        .expect("the export")
        .text()
        .await
        .expect("text");
    assert!(md.contains("## Drill score\n\n3 of 5 met"), "{md}");
    assert!(
        md.contains("## Playbook\n\nThe incident ran version 1 of playbook"),
        "{md}"
    );
    assert!(md.contains("- [ ] Post a first update"), "{md}");
    assert!(
        md.contains("- [ ] Time to finding within 30 min 0 s (did not happen)"),
        "{md}"
    );

    // The review page shows the score; the drill's page shows the script played.
    let web = app.web_session("lena").await;
    let (status, html) = web.page(&format!("/incidents/{id}/review")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Drill score: 3 of 5") && html.contains("id=\"drill-score\""),
        "{html}"
    );
    assert!(html.contains("1 of 2 checklist steps checked"), "{html}");
    assert!(
        html.contains("id=\"review-unchecked\""),
        "the steps never checked: {html}"
    );
    let (_, html) = web.page(&format!("/drills/{id}")).await;
    assert!(
        html.contains("Score: 3 of 5") && !html.contains("so far"),
        "{html}"
    );
    assert!(html.contains("not yet"), "unplayed events say so");

    // The CLI lists and shows it, and marks it among incidents and in its review.
    let listed = aplomb(&app, &lena, &["drill", "list"]).await;
    let out = stdout(&listed);
    assert!(
        out.contains("2/5") && out.contains("3/5") && out.contains("resolved"),
        "{out}"
    );
    let listed = aplomb(&app, &lena, &["incident", "list"]).await;
    assert!(
        stdout(&listed).contains("DRILL Checkout times out"),
        "{}",
        stdout(&listed)
    );
    let review = aplomb(&app, &lena, &["review", "show", &id.to_string()]).await;
    let out = stdout(&review);
    assert!(
        out.contains("drill score: 3 of 5") && out.contains("[ ] Post a first update"),
        "{out}"
    );
    let shown = aplomb(&app, &lena, &["drill", "show", &id.to_string()]).await;
    let out = stdout(&shown);
    assert!(out.contains("Score: 3/5"), "{out}");
    assert!(
        out.contains("[x] ") && out.contains("user_report: The order page times out"),
        "{out}"
    );
}

async fn a_drill_for_everyone_says_drill_first_and_bad_scenarios_are_refused(db: Db) {
    let sink = WebhookSink::start(0).await;
    let clock = Arc::new(SystemClock);
    let Some(app) = TestApp::spawn_paging(db, clock, OutboundConfig::default()).await else {
        return;
    };
    let lena = app.user("lena", "responder").await;
    let vera = app.user("vera", "viewer").await;
    app.user("ivan", "responder").await;
    chat_to(&app, &sink, "ivan").await;
    pages_go_to(&app, "ivan", "checkout-api").await;
    let start = |token: String, scenario: String| {
        let app = &app;
        async move {
            app.call(
                &token,
                Method::POST,
                "/api/v1/drills",
                Some(json!({ "scenario": scenario })),
            )
            .await
        }
    };
    let base = "title = \"Practice\"\nseverity = \"SEV3\"\n";
    for (scenario, says) in [
        (
            format!("{base}participants = [\"nobody\"]"),
            "participants: no user named \"nobody\"",
        ),
        (
            format!("{base}participants = [\"vera\"]"),
            "participants: vera is a viewer",
        ),
        (
            format!("{base}paging = \"everyone\"\nservice = \"nowhere\""),
            "service: no service named \"nowhere\"",
        ),
        (
            format!("{base}paging = \"everyone\"\ntype = \"picnic\""),
            "type: ",
        ),
        (
            format!(
                "{base}paging = \"everyone\"\n[[events]]\nafter = \"later\"\nkind = \"alert\"\ntext = \"x\""
            ),
            "events[0].after",
        ),
        (
            format!("{base}paging = \"everyone\"\nextra = 1"),
            "is not a drill scenario",
        ),
        (String::new(), "must not be empty"),
    ] {
        let (status, answer) = start(lena.clone(), scenario.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{scenario}: {answer}"
        );
        assert_eq!(answer["error"]["field"], "scenario", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{scenario}: {message}");
    }
    let (status, _) = start(vera.clone(), format!("{base}paging = \"everyone\"")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(&lena, Method::GET, "/api/v1/drills/99999", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Everyone: the service's usual on-call is paged, told first that it is a drill.
    let (status, everyone) = start(
        lena.clone(),
        format!("{base}paging = \"everyone\"\nservice = \"checkout-api\""),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{everyone}");
    let heard = eventually("ivan is paged", || async {
        chats(&sink, "/ivan").into_iter().next()
    })
    .await;
    assert!(
        heard.starts_with("DRILL [aplomb] SEV3 incident #"),
        "{heard}"
    );

    // The page starts one from the form, and marks it everywhere it shows.
    let web = app.web_session("lena").await;
    let (_, html) = web.page("/drills").await;
    assert!(
        html.contains("checkout requests time out after a database failover"),
        "the outage example fills the form"
    );
    let (_, html) = web.page("/drills?example=breach").await;
    assert!(
        html.contains("an access key for the orders database"),
        "{html}"
    );
    let csrf = web.csrf().await;
    let scenario = format!(
        "{base}paging = \"everyone\"\r\n[[events]]\r\nafter = \"1m\"\r\nkind = \"note\"\r\ntext = \"Typed in a browser\"\r\n"
    );
    let answer = web
        .post_form("/drills", &[("csrf", &csrf), ("scenario", &scenario)])
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()["location"]
        .to_str()
        .expect("a location")
        .to_string();
    let (_, html) = web.page(&location).await;
    assert!(html.contains("id=\"drill-banner\""), "{html}");
    let (_, html) = web.page("/incidents").await;
    assert!(html.contains("tag drill"), "{html}");
    let (_, html) = web.page("/drills").await;
    assert!(
        html.contains("0/1") && html.contains(&format!("/drills/{}", everyone["incident_id"])),
        "{html}"
    );
    let answer = web
        .post_form("/drills", &[("csrf", &csrf), ("scenario", "title = 1")])
        .await;
    let (_, html) = web
        .page(answer.headers()["location"].to_str().expect("back"))
        .await;
    assert!(html.contains("is not a drill scenario"), "{html}");

    // The CLI starts a shipped example (written for the demo's people and services).
    let failed = aplomb(&app, &lena, &["drill", "start", "--example", "outage"]).await;
    assert!(!failed.status.success(), "bob and carol do not exist yet");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("no user named \"bob\""),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    app.user("bob", "responder").await;
    app.user("carol", "responder").await;
    let started = aplomb(&app, &lena, &["drill", "start", "--example", "outage"]).await;
    let id: i64 = stdout(&started).trim().parse().expect("the drill's id");
    let d = drill(&app, &lena, id).await;
    assert_eq!(
        d["title"],
        "checkout requests time out after a database failover"
    );
    let example = aplomb(&app, &lena, &["drill", "example", "breach"]).await;
    assert!(stdout(&example).contains("[[events]]"));
    let unknown = aplomb(&app, &lena, &["drill", "example", "flood"]).await;
    assert_eq!(unknown.status.code(), Some(2));
}
