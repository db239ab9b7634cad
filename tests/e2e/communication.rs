//! Communicating calmly, through the running server: status updates drafted, checked,
//! published and corrected through the API, the CLI and the incident page, never public for a
//! private incident; and the tone check of a draft by the API and the CLI.

use std::sync::Arc;

use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;

use crate::helpers::{Db, TestApp};
use crate::paging::{count, ok, settle, timeline_kinds, until_count};
use crate::sinks::{WebhookSink, eventually};

crate::on_both_backends!(
    the_tone_check_flags_an_alarmed_draft_and_passes_its_calm_rewrite,
    the_cli_checks_a_draft_from_an_argument_or_standard_input,
    an_update_is_drafted_checked_published_and_corrected,
    the_page_drafts_and_publishes_and_says_whether_users_were_told,
    no_cadence_is_snoozed_and_bad_snoozes_name_the_field,
    an_update_starts_from_the_template_for_its_audience_phase_and_type,
    managers_are_briefed_on_open_incidents_worst_first,
);
/// Stories that set their own clock.
mod clocked {
    use super::an_overdue_update_reminds_the_communications_lead_and_the_timeline_keeps_score;
    crate::for_both_backends!(
        an_overdue_update_reminds_the_communications_lead_and_the_timeline_keeps_score
    );
}

/// Overdue-update reminders the receiver got about incident `id`.
fn update_reminders(hooks: &WebhookSink, id: i64) -> Vec<Value> {
    hooks
        .received()
        .into_iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .filter(|b| b["type"] == "incident.update_due" && b["incident"]["id"] == id)
        .collect()
}

async fn an_overdue_update_reminds_the_communications_lead_and_the_timeline_keeps_score(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = Arc::new(ManualClock::new(
        "2026-12-04T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await
    else {
        return;
    };
    let lena = app.user("lena", "responder").await;
    app.user("cora", "responder").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/users/cora/contact-methods",
        json!({"kind": "webhook", "address": hooks.url}),
    )
    .await;
    let id = app
        .declare(
            &lena,
            json!({"title": "Checkout errors", "severity": "SEV1"}),
        )
        .await;
    let path = format!("/api/v1/incidents/{id}");
    let get = async |p: &str| {
        let (status, body) = app.call(&lena, Method::GET, p, None).await;
        assert_eq!(status, StatusCode::OK, "{p}: {body}");
        body
    };
    let send = async |method: Method, p: &str, body: Value| {
        let (status, answer) = app.call(&lena, method, p, Some(body)).await;
        assert!(status.is_success(), "{p}: {status} {answer}");
        answer
    };
    let cadence = format!("{path}/cadence");
    // SEV1: the first update within 5 minutes of the declaration.
    let due = get(&cadence).await;
    assert_eq!(
        (
            &due["due_at"],
            &due["first"],
            &due["overdue"],
            &due["every_minutes"]
        ),
        (
            &json!("2026-12-04T10:05:00Z"),
            &json!(true),
            &json!(false),
            &json!(20)
        ),
        "{due}"
    );
    send(
        Method::PUT,
        &format!("{path}/roles/communications_lead"),
        json!({"user": "cora"}),
    )
    .await;

    // Not yet due: nobody is reminded. Then overdue: cora hears of it, once.
    clock.advance(SignedDuration::from_mins(4));
    settle().await;
    assert!(update_reminders(&hooks, id).is_empty());
    clock.advance(SignedDuration::from_mins(2));
    let first = eventually("the reminder reaches cora's webhook", || async {
        update_reminders(&hooks, id).into_iter().next()
    })
    .await;
    assert!(
        first["update"]["compose_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/incidents/{id}#updates"))),
        "{first}"
    );
    until_count(&app, id, "update_overdue", 1, "the timeline records it").await;
    assert_eq!(get(&cadence).await["overdue"], true);
    let (_, html) = app
        .web_session("lena")
        .await
        .page(&format!("/incidents/{id}"))
        .await;
    assert!(html.contains("First update due"), "the page counts down");
    assert!(html.contains("overdue by 1 min"), "and says it is late");
    assert!(
        html.contains("reminded of an overdue update"),
        "the paging history says so"
    );
    let pages = get(&format!("{path}/pages")).await;
    assert!(
        pages
            .as_array()
            .expect("pages")
            .iter()
            .any(|p| p["purpose"] == "update_due" && p["user"] == "cora"),
        "{pages}"
    );

    // Once per period (20 minutes), not once per engine pass; a snooze holds the next one.
    clock.advance(SignedDuration::from_mins(5)); // 10:11
    settle().await;
    assert_eq!(update_reminders(&hooks, id).len(), 1);
    let snoozed = send(
        Method::POST,
        &format!("{cadence}/snooze"),
        json!({"minutes": 25}),
    )
    .await;
    assert_eq!(
        snoozed["snoozed_until"], "2026-12-04T10:36:00Z",
        "{snoozed}"
    );
    assert_eq!(
        snoozed["due_at"], "2026-12-04T10:05:00Z",
        "the update stays due"
    );
    clock.advance(SignedDuration::from_mins(15)); // 10:26, past the second period's start
    settle().await;
    assert_eq!(update_reminders(&hooks, id).len(), 1, "snoozed");
    clock.advance(SignedDuration::from_mins(11)); // 10:37
    eventually("a second reminder once the snooze ends", || async {
        (update_reminders(&hooks, id).len() == 2).then_some(())
    })
    .await;

    // An update for the responders alone does not count; one to stakeholders does, late.
    let updates = format!("{path}/updates");
    send(
        Method::POST,
        &updates,
        json!({"text": "Rolling back the 09:50 deploy.", "audiences": ["responders"], "publish": true}),
    )
    .await;
    assert_eq!(get(&cadence).await["first"], true);
    clock.advance(SignedDuration::from_mins(3)); // 10:40
    send(
        Method::POST,
        &updates,
        json!({"text": "Some customers cannot check out. We are rolling back a change. Next update by 11:00 UTC.",
               "phase": "identified", "audiences": ["public", "stakeholders"], "publish": true}),
    )
    .await;
    let (_, timeline) = app
        .call(&lena, Method::GET, &format!("{path}/timeline"), None)
        .await;
    let missed = timeline
        .as_array()
        .expect("timeline")
        .iter()
        .find(|e| e["kind"] == "cadence_missed")
        .unwrap_or_else(|| panic!("a missed first update in {timeline}"));
    assert_eq!(
        (&missed["data"]["first"], &missed["data"]["late_seconds"]),
        (&json!(true), &json!(35 * 60)),
        "{missed}"
    );
    let next = get(&cadence).await;
    assert_eq!(
        (&next["due_at"], &next["first"], &next["overdue"]),
        (&json!("2026-12-04T11:00:00Z"), &json!(false), &json!(false)),
        "{next}"
    );
    // An update that promises its readers a time keeps that time; on time, it says so.
    clock.advance(SignedDuration::from_mins(10)); // 10:50
    send(
        Method::POST,
        &updates,
        json!({"text": "Checkout is recovering for most customers. We are watching it closely.",
               "phase": "monitoring", "audiences": ["public"], "publish": true,
               "next_update_by": "2026-12-04T11:30:00Z"}),
    )
    .await;
    assert_eq!(get(&cadence).await["due_at"], "2026-12-04T11:30:00Z");
    let kinds = timeline_kinds(&app, id).await;
    assert_eq!(count(&kinds, "cadence_kept"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "update_reminder_snoozed"), 1);

    // Resolved: nothing more is due, and no reminder comes.
    send(Method::PATCH, &path, json!({"status": "resolved"})).await;
    let done = get(&cadence).await;
    assert_eq!(
        (&done["due_at"], &done["overdue"]),
        (&Value::Null, &json!(false)),
        "{done}"
    );
    clock.advance(SignedDuration::from_mins(90));
    settle().await;
    assert_eq!(update_reminders(&hooks, id).len(), 2);
    assert_eq!(count(&timeline_kinds(&app, id).await, "update_overdue"), 2);
}

async fn no_cadence_is_snoozed_and_bad_snoozes_name_the_field(app: TestApp) {
    let lena = app.user("lena", "responder").await;
    let vic = app.user("vic", "viewer").await;
    let quiet = app
        .declare(
            &lena,
            json!({"title": "Slow admin reports", "severity": "SEV4"}),
        )
        .await;
    let (status, c) = app
        .call(
            &lena,
            Method::GET,
            &format!("/api/v1/incidents/{quiet}/cadence"),
            None,
        )
        .await;
    assert_eq!(
        (status, &c["due_at"]),
        (StatusCode::OK, &Value::Null),
        "{c}"
    );
    let snooze = |id: i64| format!("/api/v1/incidents/{id}/cadence/snooze");
    let (status, body) = app
        .call(
            &lena,
            Method::POST,
            &snooze(quiet),
            Some(json!({"minutes": 10})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "SEV4 expects no update: {body}"
    );
    let busy = app
        .declare(
            &lena,
            json!({"title": "Checkout errors", "severity": "SEV2"}),
        )
        .await;
    for minutes in [0, 121] {
        let (status, body) = app
            .call(
                &lena,
                Method::POST,
                &snooze(busy),
                Some(json!({"minutes": minutes})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "minutes");
    }
    let (status, _) = app
        .call(
            &vic,
            Method::POST,
            &snooze(busy),
            Some(json!({"minutes": 10})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer snoozes nothing");
    let (status, body) = app
        .call(
            &lena,
            Method::POST,
            &snooze(busy),
            Some(json!({"minutes": 10})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The incident page's snooze form does the same; its minutes arrive as text.
    let web = app.web_session("lena").await;
    let csrf = web.csrf().await;
    let snoozed = web
        .post_form(
            &format!("/incidents/{busy}/updates/snooze"),
            &[("csrf", &csrf), ("minutes", "15")],
        )
        .await;
    assert_eq!(snoozed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        snoozed.headers()["location"],
        format!("/incidents/{busy}?done=snoozed").as_str()
    );
    let kinds = timeline_kinds(&app, busy).await;
    assert_eq!(count(&kinds, "update_reminder_snoozed"), 2, "{kinds:?}");
    // The CLI says when the next update is due.
    let out = crate::cli::aplomb(&app, &lena, &["update", "due", &busy.to_string()]).await;
    assert!(
        crate::cli::stdout(&out).contains("first update due"),
        "{}",
        crate::cli::stdout(&out)
    );
}

async fn an_update_is_drafted_checked_published_and_corrected(app: TestApp) {
    let carla = app.user("carla", "responder").await;
    let vic = app.user("vic", "viewer").await;
    let id = app
        .declare(
            &carla,
            json!({"title": "Card payments failing", "severity": "SEV2"}),
        )
        .await;
    let updates = format!("/api/v1/incidents/{id}/updates");
    let call = async |token: &str, method: Method, path: &str, body: Value| {
        app.call(token, method, path, (!body.is_null()).then_some(body))
            .await
    };

    // An alarmed draft: kept as a draft, with what the tone check found.
    let (status, draft) = call(
        &carla,
        Method::POST,
        &updates,
        json!({"text": "PAYMENTS ARE DOWN!!! Fixed in 5 minutes.", "phase": "investigating",
               "audiences": ["public", "stakeholders"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!(
        (&draft["state"], &draft["audiences"]),
        (&json!("draft"), &json!(["public", "stakeholders"]))
    );
    let rules: Vec<&str> = draft["tone"]
        .as_array()
        .expect("tone")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    for rule in [
        "shouting",
        "stacked_punctuation",
        "fix_time_promise",
        "missing_next_update",
    ] {
        assert!(rules.contains(&rule), "{rule} in {rules:?}");
    }
    // Drafts are the response's: a viewer sees none.
    let (_, seen) = call(&vic, Method::GET, &updates, Value::Null).await;
    assert_eq!(seen, json!([]));
    // Rewritten calmly and published.
    let path = format!("{updates}/{}", draft["id"]);
    let calm = "Some customers cannot pay by card. We are investigating. Next update by 14:30 UTC.";
    let (status, edited) = call(&carla, Method::PATCH, &path, json!({"text": calm})).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["tone"], json!([]), "{edited}");
    let (_, published) = call(&carla, Method::PATCH, &path, json!({"publish": true})).await;
    assert_eq!(published["state"], "published", "{published}");
    assert!(published["published_at"].is_string());
    let (_, seen) = call(&vic, Method::GET, &updates, Value::Null).await;
    assert_eq!(seen[0]["id"], draft["id"]);

    // A correction shows as such; phase, audiences and publication stay.
    let corrected = "Some customers cannot pay by card or PayPal. We are investigating. Next update by 14:30 UTC.";
    let (_, fixed) = call(&carla, Method::PATCH, &path, json!({"text": corrected})).await;
    assert!(fixed["corrected_at"].is_string(), "{fixed}");
    for (body, status) in [
        (json!({"phase": "resolved"}), StatusCode::CONFLICT),
        (json!({"audiences": ["responders"]}), StatusCode::CONFLICT),
        (json!({"publish": false}), StatusCode::CONFLICT),
        (json!({"text": corrected}), StatusCode::CONFLICT),
    ] {
        let (got, answer) = call(&carla, Method::PATCH, &path, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
    }
    let kinds = crate::paging::timeline_kinds(&app, id).await;
    assert!(kinds.contains(&"update_published".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"update_corrected".to_string()), "{kinds:?}");

    // Bad input names the field; a viewer writes none.
    for (body, field) in [
        (json!({"text": calm, "audiences": []}), "audiences"),
        (json!({"text": calm, "audiences": ["press"]}), "audiences"),
        (
            json!({"text": calm, "audiences": ["public"], "phase": "panic"}),
            "phase",
        ),
        (json!({"text": "", "audiences": ["public"]}), "text"),
        (
            json!({"text": calm, "audiences": ["public"], "next_update_by": "soon"}),
            "next_update_by",
        ),
        (json!({"text": calm}), "audiences"),
    ] {
        let (status, answer) = call(&carla, Method::POST, &updates, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let (status, _) = call(
        &vic,
        Method::POST,
        &updates,
        json!({"text": calm, "audiences": ["public"]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A private incident has no public updates, and an outsider sees none of its updates.
    let private = app
        .declare(
            &carla,
            json!({"title": "Key leaked", "severity": "SEV1", "private": true}),
        )
        .await;
    let private_updates = format!("/api/v1/incidents/{private}/updates");
    let (status, answer) = call(
        &carla,
        Method::POST,
        &private_updates,
        json!({"text": calm, "audiences": ["public"], "publish": true}),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("audiences"))
    );
    let (status, internal) = call(
        &carla,
        Method::POST,
        &private_updates,
        json!({"text": calm, "audiences": ["stakeholders"], "publish": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{internal}");
    let mallory = app.user("mallory", "responder").await;
    let (status, _) = call(&mallory, Method::GET, &private_updates, Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &mallory,
        Method::PATCH,
        &format!("{private_updates}/{}", internal["id"]),
        json!({"text": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The CLI drafts, publishes, corrects and lists.
    let cli =
        async |args: &[&str]| crate::cli::stdout(&crate::cli::aplomb(&app, &carla, args).await);
    let id = id.to_string();
    let drafted = cli(&[
        "update",
        "draft",
        &id,
        "Fixed in 5 minutes!!",
        "--audience",
        "public",
    ])
    .await;
    let uid = drafted.lines().next().expect("an id").to_string();
    assert!(drafted.contains("fix_time_promise"), "{drafted}");
    assert_eq!(
        cli(&["update", "publish", &id, &uid]).await,
        format!("update {uid} published\n")
    );
    assert_eq!(
        cli(&["update", "correct", &id, &uid, calm]).await,
        format!("update {uid} corrected\n")
    );
    let listed = cli(&["update", "list", &id]).await;
    assert!(
        listed.contains(&format!("#{uid} update to public")) && listed.contains("(corrected)"),
        "{listed}"
    );
    app.shutdown().await;
}

async fn the_page_drafts_and_publishes_and_says_whether_users_were_told(app: TestApp) {
    let carla = app.user("carla", "responder").await;
    let id = app
        .declare(&carla, json!({"title": "Search slow", "severity": "SEV3"}))
        .await;
    let web = app.web_session("carla").await;
    let csrf = web.csrf().await;
    let page = format!("/incidents/{id}");
    let (_, html) = web.page(&page).await;
    assert!(
        html.contains("Users told: no update yet."),
        "nobody was told yet"
    );
    let posted = web
        .post_form(
            &format!("{page}/updates"),
            &[
                ("csrf", &csrf),
                ("text", "SEARCH IS BROKEN <script>x</script>"),
                ("phase", "investigating"),
                ("audience_public", "1"),
            ],
        )
        .await;
    assert_eq!(posted.headers()["location"], format!("{page}?done=drafted"));
    let (_, html) = web.page(&page).await;
    assert!(
        html.contains("Users told: no update yet."),
        "a draft tells nobody"
    );
    assert!(
        html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"),
        "the text is escaped"
    );
    assert!(!html.contains("<script>x</script>"));
    assert!(
        html.contains(">shouting</span>"),
        "the draft shows its tone findings"
    );
    let (_, listed) = app
        .call(&carla, Method::GET, &format!("/api/v1{page}/updates"), None)
        .await;
    let uid = listed[0]["id"].as_i64().expect("an id");
    let posted = web
        .post_form(&format!("{page}/updates/{uid}/publish"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        posted.headers()["location"],
        format!("{page}?done=published")
    );
    let (_, html) = web.page(&format!("{page}?done=published")).await;
    assert!(html.contains("Update published to its audiences."));
    assert!(html.contains("Users told: first at"), "users were told");
    // Published at once, to stakeholders only: users are still told once.
    let posted = web
        .post_form(
            &format!("{page}/updates"),
            &[
                ("csrf", &csrf),
                (
                    "text",
                    "Search is slow for some customers; we are on it. Next update in 1 hour.",
                ),
                ("phase", "identified"),
                ("audience_stakeholders", "1"),
                ("publish", "1"),
            ],
        )
        .await;
    assert_eq!(
        posted.headers()["location"],
        format!("{page}?done=published")
    );
    let (_, html) = web.page(&page).await;
    assert!(
        html.contains("1 public update so far"),
        "{}",
        &html[html.find("users-told").unwrap_or(0)..][..120]
    );
    // Without audiences the page says why.
    let refused = web
        .post_form(
            &format!("{page}/updates"),
            &[("csrf", &csrf), ("text", "x"), ("phase", "update")],
        )
        .await;
    let back = refused.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(back.starts_with(&format!("{page}?error=")), "{back}");
    app.shutdown().await;
}

/// The words each finding spans, by rule.
fn spans(text: &str, answer: &Value) -> Vec<(String, String)> {
    answer["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let at = |k: &str| usize::try_from(f[k].as_u64().expect("an offset")).expect("fits");
            let words: String = text
                .chars()
                .skip(at("start"))
                .take(at("end") - at("start"))
                .collect();
            (f["rule"].as_str().expect("a rule").to_string(), words)
        })
        .collect()
}

async fn the_tone_check_flags_an_alarmed_draft_and_passes_its_calm_rewrite(app: TestApp) {
    let viewer = app.user("vic", "viewer").await;
    let check = async |body: Value| {
        app.call(&viewer, Method::POST, "/api/v1/tone-check", Some(body))
            .await
    };

    let alarmed = "CHECKOUT IS DOWN!!! The payment team's fault, a total disaster. It will be fixed in 5 minutes; db-01 at 10.0.3.7 is OOMKilled.";
    let (status, answer) = check(json!({"text": alarmed, "audience": "public"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let found = spans(alarmed, &answer);
    for (rule, words) in [
        ("shouting", "CHECKOUT IS DOWN"),
        ("stacked_punctuation", "!!!"),
        ("blame", "team's fault"),
        ("panic_word", "disaster"),
        ("fix_time_promise", "fixed in 5 minutes"),
        ("internal_detail", "db-01"),
        ("internal_detail", "10.0.3.7"),
        ("internal_detail", "OOMKilled"),
        ("missing_next_update", ""),
    ] {
        assert!(
            found.contains(&(rule.to_string(), words.to_string())),
            "{rule} over {words:?} in {found:?}"
        );
    }
    let first = &answer["findings"][0];
    assert!(
        first["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{first}"
    );
    assert!(
        first["suggestion"].as_str().is_some_and(|s| !s.is_empty()),
        "{first}"
    );

    let calm = "Some customers cannot complete checkout. We have found the cause and are rolling back a change. Next update by 14:30 UTC.";
    let (status, answer) =
        check(json!({"text": calm, "audience": "public", "phase": "identified"})).await;
    assert_eq!(
        (status, &answer),
        (StatusCode::OK, &json!({"findings": []}))
    );
    // Internals are the responders' language.
    let internal = "Conditions: db-01 at 10.0.3.7 OOMKilled. Actions: failing over. Needs: a DBA.";
    let (_, answer) = check(json!({"text": internal, "audience": "responders"})).await;
    assert_eq!(answer, json!({"findings": []}));

    // Bad input names the field; no token, no check.
    for (body, field) in [
        (json!({"text": ""}), "text"),
        (json!({"text": "x".repeat(10_001)}), "text"),
        (json!({"text": "ok", "audience": "everyone"}), "audience"),
        (json!({"text": "ok", "phase": "panicking"}), "phase"),
        (json!({"text": "ok", "tone": "calm"}), "tone"),
        (json!({"audience": "public"}), "text"),
    ] {
        let (status, answer) = check(body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let (status, _) = app
        .call(
            "",
            Method::POST,
            "/api/v1/tone-check",
            Some(json!({"text": calm})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, doc) = app.admin(Method::GET, "/api/v1/openapi.json", None).await;
    assert!(doc["paths"]["/api/v1/tone-check"]["post"]["responses"]["200"].is_object());
    app.shutdown().await;
}

async fn the_cli_checks_a_draft_from_an_argument_or_standard_input(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let run = async |args: &[&str], stdin: &str| {
        crate::cli::stdout(&crate::cli::aplomb_with_input(&app, &bob, args, stdin).await)
    };
    let shouted = run(
        &[
            "tone-check",
            "WE ARE DOWN!! Users see errors; we are on it. Next update by 10:00.",
        ],
        "",
    )
    .await;
    assert!(
        shouted.contains("shouting 0-11 \"WE ARE DOWN\""),
        "{shouted}"
    );
    assert!(
        shouted.contains("stacked_punctuation 11-13 \"!!\""),
        "{shouted}"
    );
    let calm = run(
        &["tone-check", "--audience", "stakeholders", "-"],
        "Some customers see errors. We are rolling back. Next update in 30 minutes.",
    )
    .await;
    assert_eq!(
        calm,
        "no findings: it reads calm and says what readers need\n"
    );
    let json = run(
        &["tone-check", "--json", "--phase", "resolved"],
        "All fixed!!",
    )
    .await;
    let answer: Value = serde_json::from_str(&json).expect("JSON");
    assert!(
        answer["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["rule"] == "stacked_punctuation")),
        "{answer}"
    );
    app.shutdown().await;
}

async fn an_update_starts_from_the_template_for_its_audience_phase_and_type(app: TestApp) {
    let lena = app.user("lena", "responder").await;
    let outage = app
        .declare(
            &lena,
            json!({"title": "Checkout errors", "severity": "SEV2", "type": "outage"}),
        )
        .await;
    let breach = app
        .declare(
            &lena,
            json!({"title": "Leaked key", "severity": "SEV1", "type": "security"}),
        )
        .await;
    let template = async |id: i64, audience: &str, phase: &str| {
        let path =
            format!("/api/v1/incidents/{id}/updates/template?audience={audience}&phase={phase}");
        let (status, body) = app.call(&lena, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    };

    // aplomb's own: filled from the incident, and calm as it stands.
    let public = template(outage, "public", "investigating").await;
    let text = public["text"].as_str().expect("text").to_string();
    assert_eq!(public["custom"], false);
    assert!(
        text.contains("the service") && text.contains(" UTC") && !text.contains('{'),
        "{text}"
    );
    let (_, checked) = app
        .call(
            &lena,
            Method::POST,
            "/api/v1/tone-check",
            Some(json!({"text": text, "audience": "public", "phase": "investigating"})),
        )
        .await;
    assert_eq!(checked["findings"], json!([]), "{text}");
    let responders = template(outage, "responders", "identified").await;
    let cans = responders["text"].as_str().expect("text");
    assert!(
        cans.starts_with("Conditions: Checkout errors (SEV2)") && cans.contains("\nNeeds:"),
        "{cans}"
    );
    assert!(
        template(outage, "stakeholders", "monitoring").await["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Summary: Checkout errors (SEV2).")),
    );

    // The team writes its own for security incidents (admins only, known placeholders).
    let path = "/api/v1/update-templates/public/investigating";
    let ours = json!({"text": "We are looking into a security matter affecting {services}. Users need do nothing yet. Next update by {next_update}.",
                      "incident_type": "security"});
    let (status, _) = app.call(&lena, Method::PUT, path, Some(ours.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, saved) = app.admin(Method::PUT, path, Some(ours)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        (
            &saved["custom"],
            &saved["incident_type"],
            &saved["updated_by"]
        ),
        (&json!(true), &json!("security"), &json!("admin")),
        "{saved}"
    );
    for (body, field) in [
        (json!({"text": "Hello {customer}"}), "text"),
        (
            json!({"text": "Fine.", "incident_type": "picnic"}),
            "incident_type",
        ),
    ] {
        let (status, refused) = app.admin(Method::PUT, path, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    let (status, refused) = app
        .admin(
            Method::PUT,
            "/api/v1/update-templates/everyone/investigating",
            Some(json!({"text": "Fine."})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "audience", "{refused}");

    let security = template(breach, "public", "investigating").await;
    assert_eq!(security["custom"], true);
    assert!(
        security["text"].as_str().is_some_and(
            |t| t.starts_with("We are looking into a security matter affecting the service.")
        ),
        "{security}"
    );
    assert_eq!(
        template(outage, "public", "investigating").await["custom"],
        false,
        "another type keeps aplomb's"
    );
    let (_, list) = app
        .call(&lena, Method::GET, "/api/v1/update-templates", None)
        .await;
    let list = list.as_array().expect("templates");
    assert_eq!(
        list.len(),
        15 + 1,
        "each audience and phase, and the team's one"
    );
    assert!(list.iter().any(|t| t["incident_type"] == "security"));

    // The page's composer starts from it, and the CLI prints it.
    let web = app.web_session("lena").await;
    let (_, page) = web
        .page(&format!(
            "/incidents/{breach}?template_audience=public&template_phase=investigating"
        ))
        .await;
    let said = page
        .find("template: edit before publishing")
        .map(|at| &page[at.saturating_sub(30)..at]);
    assert!(
        said.is_some_and(|s| s.contains("from the team")),
        "the composer says where its text came from: {said:?}"
    );
    assert!(page.contains(">We are looking into a security matter affecting the service."));
    let out = crate::cli::stdout(
        &crate::cli::aplomb(
            &app,
            &lena,
            &[
                "update",
                "template",
                &outage.to_string(),
                "--audience",
                "responders",
                "--phase",
                "identified",
            ],
        )
        .await,
    );
    assert!(
        out.starts_with("Conditions: Checkout errors (SEV2)"),
        "{out}"
    );

    // The composer's tone check, as the page's script asks for it.
    let csrf = web.csrf().await;
    let tone = web
        .post_form(
            &format!("/incidents/{outage}/updates/tone"),
            &[
                ("csrf", &csrf),
                ("text", "EVERYTHING IS DOWN!!"),
                ("phase", "investigating"),
                ("audience_public", "1"),
            ],
        )
        .await;
    assert_eq!(tone.status(), StatusCode::OK);
    let fragment = tone.text().await.expect("body");
    assert!(
        fragment.contains("shouting") && fragment.contains("stacked_punctuation"),
        "{fragment}"
    );
    let calm = web
        .post_form(
            &format!("/incidents/{outage}/updates/tone"),
            &[
                ("csrf", &csrf),
                ("text", &text),
                ("phase", "investigating"),
                ("audience_public", "1"),
            ],
        )
        .await;
    assert!(
        calm.text()
            .await
            .expect("body")
            .contains("Tone check: nothing to note.")
    );
    let forged = web
        .post_form(
            &format!("/incidents/{outage}/updates/tone"),
            &[("csrf", "forged"), ("text", "Fine."), ("phase", "update")],
        )
        .await;
    assert!(!forged.status().is_success(), "a CSRF token is needed");

    // Reset: aplomb's applies again; a second reset has nothing to remove.
    let reset = format!("{path}?incident_type=security");
    let (status, _) = app.admin(Method::DELETE, &reset, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        template(breach, "public", "investigating").await["custom"],
        false
    );
    let (status, _) = app.admin(Method::DELETE, &reset, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn managers_are_briefed_on_open_incidents_worst_first(app: TestApp) {
    let lena = app.user("lena", "responder").await;
    let mia = app.user("mia", "viewer").await;
    let slow = app
        .declare(
            &lena,
            json!({"title": "Search is slow", "severity": "SEV3"}),
        )
        .await;
    let down = app
        .declare(&lena, json!({"title": "Checkout down", "severity": "SEV1"}))
        .await;
    app.declare(
        &lena,
        json!({"title": "Suspicious logins", "severity": "SEV2", "private": true}),
    )
    .await;
    let over = app
        .declare(&lena, json!({"title": "Old blip", "severity": "SEV1"}))
        .await;
    let post = async |id: i64, body: Value| {
        let (status, u) = app
            .call(
                &lena,
                Method::POST,
                &format!("/api/v1/incidents/{id}/updates"),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{u}");
    };
    let told = "Summary: checkout fails for some customers. We are rolling back. Next update by 15:00 UTC.";
    post(
        down,
        json!({"text": told, "audiences": ["stakeholders"], "publish": true}),
    )
    .await;
    post(down, json!({"text": "Rollback of build 88 started.", "audiences": ["responders"], "publish": true})).await;
    post(
        down,
        json!({"text": "A draft nobody should read yet.", "audiences": ["stakeholders"]}),
    )
    .await;
    let (status, _) = app
        .call(
            &lena,
            Method::PATCH,
            &format!("/api/v1/incidents/{over}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, briefing) = app.call(&mia, Method::GET, "/api/v1/briefing", None).await;
    assert_eq!(status, StatusCode::OK, "{briefing}");
    let items = briefing.as_array().expect("a list");
    let ids: Vec<i64> = items
        .iter()
        .filter_map(|b| b["incident_id"].as_i64())
        .collect();
    assert_eq!(
        ids,
        [down, slow],
        "open ones mia may see, worst first: {briefing}"
    );
    let texts: Vec<&str> = items[0]["updates"]
        .as_array()
        .expect("updates")
        .iter()
        .filter_map(|u| u["text"].as_str())
        .collect();
    assert_eq!(texts, [told], "only what stakeholders were told");
    assert!(items[0]["next_update_due"].is_string(), "{}", items[0]);
    assert_eq!(items[1]["updates"], json!([]));

    let (_, page) = app.web_session("mia").await.page("/briefing").await;
    assert!(page.contains("Checkout down") && page.contains("Search is slow"));
    assert!(page.contains("rolling back") && !page.contains("Rollback of build 88"));
    assert!(!page.contains("Suspicious logins") && !page.contains("Old blip"));
    assert!(page.contains("Stakeholders have not been told anything yet."));
    let out = crate::cli::stdout(&crate::cli::aplomb(&app, &mia, &["briefing"]).await);
    assert!(
        out.starts_with(&format!("#{down} Checkout down (SEV1 ")),
        "{out}"
    );
    assert!(out.contains("stakeholders not told yet"), "{out}");
}
