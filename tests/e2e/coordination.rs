//! Coordinating the response, through the running server: tasks by domain with check-ins, an
//! overdue one reminding its assignee through a real webhook receiver (on a controllable
//! clock) and marked for the lead, each responder's work across incidents, and the tasks panel
//! through plain forms.

use std::sync::Arc;

use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;

use crate::helpers::{Db, TestApp};
use crate::paging::{count, ok, settle, timeline_kinds, until_count};
use crate::sinks::{WebhookSink, eventually};

crate::on_both_backends!(bad_task_input_is_refused_naming_the_field);
/// Stories that set their own clock.
mod clocked {
    use super::an_overdue_check_in_reminds_its_assignee_and_shows_for_the_lead;
    crate::for_both_backends!(an_overdue_check_in_reminds_its_assignee_and_shows_for_the_lead);
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

/// Reminders the receiver got about `task`.
fn reminders(hooks: &WebhookSink, task: &Value) -> Vec<Value> {
    hooks
        .received()
        .into_iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .filter(|b| b["type"] == "task.check_in_due" && b["task"]["id"] == task["id"])
        .collect()
}

async fn an_overdue_check_in_reminds_its_assignee_and_shows_for_the_lead(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = Arc::new(ManualClock::new(
        "2026-12-04T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await
    else {
        return;
    };
    let lead = app.user("lena", "responder").await;
    let olga = app.user("olga", "responder").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/users/olga/contact-methods",
        json!({"kind": "webhook", "address": hooks.url}),
    )
    .await;
    let id = app
        .declare(
            &lead,
            json!({"title": "Edge packet loss", "severity": "SEV2"}),
        )
        .await;
    let tasks = format!("/api/v1/incidents/{id}/tasks");
    let task = expect(
        &app,
        &lead,
        Method::POST,
        &tasks,
        json!({"title": "Check the edge routers' BGP sessions", "skill": "Network",
               "assignee": "olga", "check_in_minutes": 15}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(task["status"], "open");
    assert_eq!(task["skill"], "network", "{task}");
    assert_eq!(task["check_in_due_at"], "2026-12-04T10:15:00Z", "{task}");
    assert_eq!(task["overdue"], false);
    let (_, incident) = app
        .call(&lead, Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert!(
        incident["participants"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("olga"))),
        "the assignee joins: {incident}"
    );
    // olga's work across incidents holds the task.
    let work = expect(
        &app,
        &olga,
        Method::GET,
        "/api/v1/me/work",
        Value::Null,
        StatusCode::OK,
    )
    .await;
    assert_eq!(work["tasks"][0]["task"]["id"], task["id"], "{work}");
    assert_eq!(work["tasks"][0]["incident"]["id"], id);

    // Not yet due: nobody is reminded.
    clock.advance(SignedDuration::from_mins(14));
    settle().await;
    assert!(reminders(&hooks, &task).is_empty());

    // Overdue: olga's webhook hears of it, once, and the lead sees it marked.
    clock.advance(SignedDuration::from_mins(2));
    let first = eventually("the reminder reaches olga's webhook", || async {
        reminders(&hooks, &task).into_iter().next()
    })
    .await;
    assert_eq!(
        first["task"]["title"],
        "Check the edge routers' BGP sessions"
    );
    assert_eq!(first["incident"]["id"], id);
    assert!(
        first["task"]["check_in_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/incidents/{id}#task-{}", task["id"]))),
        "{first}"
    );
    let signed = hooks.received().into_iter().any(|r| {
        r.headers
            .get("aplomb-signature")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("t="))
    });
    assert!(signed, "the reminder is signed like any webhook");
    until_count(&app, id, "check_in_overdue", 1, "the timeline records it").await;
    let listed = expect(
        &app,
        &lead,
        Method::GET,
        &tasks,
        Value::Null,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed[0]["overdue"], true, "{listed}");
    let (_, html) = app
        .web_session("lena")
        .await
        .page(&format!("/incidents/{id}"))
        .await;
    assert!(html.contains("Check-in overdue"), "the page marks it");

    // Once per interval while it stays overdue, not once per engine pass.
    clock.advance(SignedDuration::from_mins(5));
    settle().await;
    assert_eq!(reminders(&hooks, &task).len(), 1);
    clock.advance(SignedDuration::from_mins(11));
    eventually("a second reminder a period later", || async {
        (reminders(&hooks, &task).len() == 2).then_some(())
    })
    .await;
    // The paging history keeps the reminders apart from pages: they ask for a check-in, not
    // an acknowledgement.
    let pages = expect(
        &app,
        &lead,
        Method::GET,
        &format!("/api/v1/incidents/{id}/pages"),
        Value::Null,
        StatusCode::OK,
    )
    .await;
    let about_task: Vec<_> = pages
        .as_array()
        .expect("a list")
        .iter()
        .filter(|p| p["task_id"] == task["id"])
        .collect();
    assert_eq!(about_task.len(), 2, "{pages}");
    let (_, html) = app
        .web_session("lena")
        .await
        .page(&format!("/incidents/{id}"))
        .await;
    assert!(html.contains("reminded of a check-in"), "the page says so");

    // Only whoever answers for the task checks in on it: another responder may not (a
    // check-in stops the reminders), and their page offers no check-in form.
    let path = format!("{tasks}/{}", task["id"]);
    let piet = app.user("piet", "responder").await;
    let refused = expect(
        &app,
        &piet,
        Method::POST,
        &format!("{path}/check-ins"),
        json!({"note": "Looks fine to me"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("assignee")),
        "{refused}"
    );
    let check_in_form = format!("id=\"task-{}-check-in\"", task["id"]);
    let (_, html) = app
        .web_session("piet")
        .await
        .page(&format!("/incidents/{id}"))
        .await;
    assert!(!html.contains(&check_in_form), "no form for piet");
    let done_button = format!("id=\"task-{}-done\"", task["id"]);
    assert!(!html.contains(&done_button), "no status buttons for piet");
    // Nor may piet stop the reminders another way: finish the task, take it over, unassign
    // it or change its interval. Its wording is anyone's to improve.
    for body in [
        json!({"status": "done"}),
        json!({"assignee": "piet"}),
        json!({"assignee": ""}),
        json!({"check_in_minutes": 60}),
    ] {
        let refused = expect(
            &app,
            &piet,
            Method::PATCH,
            &path,
            body.clone(),
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(
            refused["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("assignee")),
            "{body}: {refused}"
        );
    }
    let reworded = expect(
        &app,
        &piet,
        Method::PATCH,
        &path,
        json!({"skill": "networking"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(reworded["check_in_due_at"], task["check_in_due_at"]);
    let (_, html) = app
        .web_session("olga")
        .await
        .page(&format!("/incidents/{id}"))
        .await;
    assert!(html.contains(&check_in_form), "a form for the assignee");

    // olga checks in: the task is in progress and due an interval from now.
    let checked = expect(
        &app,
        &olga,
        Method::POST,
        &format!("{path}/check-ins"),
        json!({"note": "Two of four sessions flapping; checking the peering router"}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(checked["status"], "in_progress");
    assert_eq!(checked["overdue"], false);
    assert_eq!(
        checked["check_in_due_at"], "2026-12-04T10:47:00Z",
        "{checked}"
    );
    assert_eq!(checked["check_ins"][0]["user"], "olga");
    let kinds = timeline_kinds(&app, id).await;
    assert_eq!(count(&kinds, "task_checked_in"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "task_status_changed"), 1, "{kinds:?}");

    // Done: no more check-ins expected, no more reminders, gone from olga's work.
    let done = expect(
        &app,
        &olga,
        Method::PATCH,
        &path,
        json!({"status": "done"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["check_in_due_at"], Value::Null);
    clock.advance(SignedDuration::from_mins(60));
    settle().await;
    assert_eq!(reminders(&hooks, &task).len(), 2);
    let work = expect(
        &app,
        &olga,
        Method::GET,
        "/api/v1/me/work",
        Value::Null,
        StatusCode::OK,
    )
    .await;
    assert_eq!(work["tasks"], json!([]), "{work}");

    // The lead holds a role: it is in their work until the incident resolves.
    expect(
        &app,
        &lead,
        Method::PUT,
        &format!("/api/v1/incidents/{id}/roles/incident_lead"),
        json!({"user": "lena"}),
        StatusCode::OK,
    )
    .await;
    let work = expect(
        &app,
        &lead,
        Method::GET,
        "/api/v1/me/work",
        Value::Null,
        StatusCode::OK,
    )
    .await;
    assert_eq!(work["roles"][0]["role"], "incident_lead", "{work}");
    assert_eq!(work["roles"][0]["incident"]["id"], id);

    // The tasks panel through plain forms: add, check in, mark done.
    let web = app.web_session("lena").await;
    let csrf = web.csrf().await;
    let page = format!("/incidents/{id}");
    let posted = web
        .post_form(
            &format!("{page}/tasks"),
            &[
                ("csrf", &csrf),
                ("title", "Fail over to <b>the</b> standby link"),
                ("skill", "network"),
                ("assignee", "olga"),
                ("check_in_minutes", "10"),
            ],
        )
        .await;
    assert_eq!(posted.headers()["location"], format!("{page}?done=task"));
    let listed = expect(
        &app,
        &lead,
        Method::GET,
        &tasks,
        Value::Null,
        StatusCode::OK,
    )
    .await;
    let second = listed[1]["id"].as_i64().expect("an id");
    let posted = web
        .post_form(
            &format!("{page}/tasks/{second}/check-ins"),
            &[("csrf", &csrf), ("note", "Standby link carrying traffic")],
        )
        .await;
    assert_eq!(
        posted.headers()["location"],
        format!("{page}?done=checked-in")
    );
    let (_, html) = web.page(&format!("{page}?done=checked-in")).await;
    assert!(html.contains("Checked in"), "the notice says what happened");
    assert!(html.contains("Standby link carrying traffic"));
    assert!(
        html.contains("Fail over to &lt;b&gt;the&lt;/b&gt; standby link")
            || html.contains("Fail over to &#60;b&#62;the&#60;/b&#62; standby link"),
        "titles are escaped"
    );
    let posted = web
        .post_form(
            &format!("{page}/tasks/{second}/status"),
            &[("csrf", &csrf), ("status", "done")],
        )
        .await;
    assert_eq!(
        posted.headers()["location"],
        format!("{page}?done=task-done")
    );
    let (_, mine) = app.web_session("olga").await.page("/me/work").await;
    assert!(
        mine.contains("No active task is assigned to you."),
        "{mine}"
    );

    // A resolved incident's tasks remind nobody, even one given or taken up after it resolved.
    let third = expect(
        &app,
        &lead,
        Method::POST,
        &tasks,
        json!({"title": "Watch the error rate", "assignee": "olga", "check_in_minutes": 5}),
        StatusCode::CREATED,
    )
    .await;
    expect(
        &app,
        &lead,
        Method::PATCH,
        &format!("/api/v1/incidents/{id}"),
        json!({"status": "resolved"}),
        StatusCode::OK,
    )
    .await;
    let late = expect(
        &app,
        &lead,
        Method::POST,
        &tasks,
        json!({"title": "Write up the timeline", "assignee": "olga", "check_in_minutes": 5}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(late["check_in_due_at"], Value::Null, "{late}");
    let taken_up = expect(
        &app,
        &olga,
        Method::POST,
        &format!("{tasks}/{}/check-ins", third["id"]),
        json!({"note": "Flat since the failover"}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(taken_up["check_in_due_at"], Value::Null, "{taken_up}");
    clock.advance(SignedDuration::from_mins(30));
    settle().await;
    assert!(reminders(&hooks, &third).is_empty());
    assert!(reminders(&hooks, &late).is_empty());
    app.shutdown().await;
}

async fn bad_task_input_is_refused_naming_the_field(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let vic = app.user("vic", "viewer").await;
    let id = app
        .declare(&bob, json!({"title": "Queue backlog", "severity": "SEV3"}))
        .await;
    let tasks = format!("/api/v1/incidents/{id}/tasks");
    for (body, field) in [
        (json!({"title": " "}), "title"),
        (json!({"title": "a\nb"}), "title"),
        (
            json!({"title": "x", "check_in_minutes": 1441}),
            "check_in_minutes",
        ),
        (
            json!({"title": "x", "check_in_minutes": -1}),
            "check_in_minutes",
        ),
        (json!({"title": "x", "assignee": "nobody"}), "assignee"),
        (json!({"title": "x", "assignee": "vic"}), "assignee"),
        (json!({"title": "x", "skill": "y".repeat(41)}), "skill"),
    ] {
        let err = expect(
            &app,
            &bob,
            Method::POST,
            &tasks,
            body.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    let refused = expect(
        &app,
        &vic,
        Method::POST,
        &tasks,
        json!({"title": "x"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(refused["error"]["message"].is_string());
    let task = expect(
        &app,
        &bob,
        Method::POST,
        &tasks,
        json!({"title": "Drain the dead-letter queue"}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        task["check_in_due_at"],
        Value::Null,
        "no interval, no check-ins"
    );
    let path = format!("{tasks}/{}", task["id"]);
    let err = expect(
        &app,
        &bob,
        Method::PATCH,
        &path,
        json!({"status": "finished"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["error"]["field"], "status");
    expect(
        &app,
        &bob,
        Method::PATCH,
        &path,
        json!({"status": "open"}),
        StatusCode::CONFLICT,
    )
    .await;
    expect(
        &app,
        &bob,
        Method::PATCH,
        &path,
        json!({}),
        StatusCode::CONFLICT,
    )
    .await;
    expect(
        &app,
        &bob,
        Method::PATCH,
        &path,
        json!({"status": "cancelled"}),
        StatusCode::OK,
    )
    .await;
    let err = expect(
        &app,
        &bob,
        Method::POST,
        &format!("{path}/check-ins"),
        json!({"note": "still here"}),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("reopen")),
        "{err}"
    );
    let err = expect(
        &app,
        &bob,
        Method::POST,
        &format!("{path}/check-ins"),
        json!({"note": ""}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["error"]["field"], "note");
    let missing = expect(
        &app,
        &bob,
        Method::PATCH,
        &format!("{tasks}/999999"),
        json!({"status": "done"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(missing["error"]["message"], "task not found");
    expect(
        &app,
        &bob,
        Method::POST,
        &tasks,
        json!({"title": "x", "colour": "red"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    app.shutdown().await;
}
