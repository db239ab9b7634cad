//! Reviewing without blame, through the running server: a scripted incident under a clock the
//! test sets produces a review whose key durations are exactly right and whose gap analysis
//! names the overdue update, the late role and the mitigation without a finding; the team
//! edits it (from the version read), moves the detection time, is told of blaming words,
//! publishes it (the incident becomes reviewed) and exports it; the blameless check by the API
//! and the CLI; and a private incident's review stays with those who may see the incident.

use std::sync::Arc;

use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;

use crate::helpers::{Db, TestApp};
use crate::paging::{ok, outbound, pages_go_to, settle, until_count};
use crate::sinks::{SmtpSink, WebhookSink, eventually};

crate::on_both_backends!(
    the_team_comments_on_a_review_by_section,
    the_blame_check_flags_blame_and_passes_facts_with_names,
    a_private_incidents_review_stays_with_those_who_see_it,
    the_review_page_edits_checks_and_publishes,
);
mod clocked {
    use super::{
        a_review_meeting_is_an_invitation_by_email_that_calendars_update,
        a_scripted_incident_is_reviewed_with_exact_durations_and_its_gaps,
        the_review_counts_the_time_the_status_page_showed_each_status,
    };
    crate::for_both_backends!(
        a_scripted_incident_is_reviewed_with_exact_durations_and_its_gaps,
        a_review_meeting_is_an_invitation_by_email_that_calendars_update,
        the_review_counts_the_time_the_status_page_showed_each_status,
    );
}

async fn a_scripted_incident_is_reviewed_with_exact_durations_and_its_gaps(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = Arc::new(ManualClock::new(
        "2026-12-07T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await
    else {
        return;
    };
    let lena = app.user("lena", "responder").await;
    let bob = app.user("bob", "responder").await;
    let vera = app.user("vera", "viewer").await;
    app.user("cora", "responder").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/users/bob/contact-methods",
        json!({"kind": "webhook", "address": hooks.url}),
    )
    .await;
    pages_go_to(&app, "bob", "checkout").await;
    let minutes = |m: i64| clock.advance(SignedDuration::from_mins(m));
    let send = async |token: &str, method: Method, path: &str, body: Value| {
        let (status, answer) = app.call(token, method, path, Some(body)).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    };

    // 10:00 declared; a log shows errors from 09:52; the lead is named at once.
    let id = app
        .declare(
            &lena,
            json!({"title": "Checkout errors", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await;
    let path = format!("/api/v1/incidents/{id}");
    send(
        &lena,
        Method::PUT,
        &format!("{path}/roles/incident_lead"),
        json!({"user": "lena"}),
    )
    .await;
    send(
        &lena,
        Method::POST,
        &format!("{path}/evidence"),
        json!({"kind": "log", "summary": "5xx from checkout since 09:52", "observed_at": "2026-12-07T09:52:00Z"}),
    )
    .await;
    until_count(&app, id, "paged", 1, "bob is paged").await;
    // 10:03 bob acknowledges.
    minutes(3);
    send(
        &bob,
        Method::POST,
        &format!("{path}/acknowledge"),
        json!({}),
    )
    .await;
    // 10:07 the communications lead, late: the team is assembled.
    minutes(4);
    send(
        &lena,
        Method::PUT,
        &format!("{path}/roles/communications_lead"),
        json!({"user": "cora"}),
    )
    .await;
    until_count(&app, id, "team_assembled", 1, "the team is assembled").await;
    // 10:27 the first update, due 10:15 (SEV2), goes out 12 minutes late.
    minutes(20);
    settle().await;
    send(
        &lena,
        Method::POST,
        &format!("{path}/updates"),
        json!({"text": "Some customers cannot pay. We are investigating. Next update by 11:00 UTC.",
            "phase": "investigating", "audiences": ["public"], "publish": true}),
    )
    .await;
    // 10:35 a change without a finding, with its reason.
    minutes(8);
    send(
        &bob,
        Method::POST,
        &format!("{path}/changes"),
        json!({"system": "checkout", "description": "Restarted the payment workers",
            "reason": "half of payments fail; a restart is cheap"}),
    )
    .await;
    // 10:40 a hypothesis, tested and supported: the finding.
    minutes(5);
    let h = send(
        &bob,
        Method::POST,
        &format!("{path}/hypotheses"),
        json!({"statement": "The card gateway's certificate expired"}),
    )
    .await;
    let hypothesis = format!("{path}/hypotheses/{}", h["id"]);
    send(
        &bob,
        Method::POST,
        &format!("{hypothesis}/tests"),
        json!({"description": "Read the certificate's dates", "result": "Expired at 09:50"}),
    )
    .await;
    send(
        &bob,
        Method::PATCH,
        &hypothesis,
        json!({"state": "supported"}),
    )
    .await;
    // 10:45 monitoring; 11:00 resolved.
    minutes(5);
    send(&lena, Method::PATCH, &path, json!({"status": "monitoring"})).await;
    minutes(15);
    send(&lena, Method::PATCH, &path, json!({"status": "resolved"})).await;

    let review_path = format!("{path}/review");
    let (status, review) = app.call(&vera, Method::GET, &review_path, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a viewer reads the review: {review}"
    );
    assert_eq!(
        review["durations"],
        json!({
            "time_to_detect": 480, "time_to_acknowledge": 180, "time_to_assemble": 420,
            "time_to_first_update": 1620, "time_to_finding": 2400, "time_to_mitigate": 2700,
            "time_to_resolve": 3600
        }),
        "{review}"
    );
    assert_eq!(review["moments"]["impact_began"], "2026-12-07T09:52:00Z");
    assert_eq!(review["version"], 0);
    assert_eq!(review["published"], false);
    let gap_texts = |r: &Value, practice: &str| -> Vec<String> {
        r["gaps"][practice]
            .as_array()
            .unwrap_or_else(|| panic!("{practice} in {r}"))
            .iter()
            .map(|g| g["text"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        gap_texts(&review, "communication"),
        ["first update overdue by 12 min 0 s at 10:27 UTC"]
    );
    assert_eq!(
        gap_texts(&review, "investigation"),
        [
            "mitigation recorded without a finding at 10:35 UTC (half of payments fail; a restart is cheap)"
        ]
    );
    assert_eq!(
        gap_texts(&review, "coordination"),
        ["SEV2 required a communications lead, unfilled for 7 min 0 s"]
    );
    assert_eq!(
        gap_texts(&review, "prevention"),
        ["no alert fired before the incident was declared at 10:00 UTC"]
    );
    let text = review["text"].as_str().expect("a starting text");
    assert!(
        text.contains("- First update overdue by 12 min 0 s at 10:27 UTC"),
        "the starting text carries the gap analysis: {text}"
    );
    let kinds: Vec<&str> = review["timeline"]
        .as_array()
        .expect("key moments")
        .iter()
        .filter_map(|m| m["kind"].as_str())
        .collect();
    for kind in [
        "declared",
        "acknowledged",
        "team_assembled",
        "update_published",
        "cadence_missed",
        "acted_without_finding",
        "hypothesis_state_changed",
        "status_changed",
    ] {
        assert!(
            kinds.contains(&kind),
            "{kind} among the key moments: {kinds:?}"
        );
    }
    assert_eq!(
        review["hypotheses"],
        json!([{"statement": "The card gateway's certificate expired", "state": "supported"}])
    );
    assert_eq!(review["changes"][0]["rolled_back"], false);

    // Viewers read but do not edit; a detection time after the declaration is refused, as is
    // moving it without a reason.
    let edit = |version: i64, extra: Value| {
        let mut body = json!({"text": "# Review\nBob should have renewed the certificate.", "version": version});
        body.as_object_mut()
            .expect("an object")
            .extend(extra.as_object().expect("an object").clone());
        body
    };
    let (status, _) = app
        .call(&vera, Method::PUT, &review_path, Some(edit(0, json!({}))))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, refused) = app
        .call(
            &lena,
            Method::PUT,
            &review_path,
            Some(edit(
                0,
                json!({"detected_at": "2026-12-07T10:05:00Z", "detected_reason": "x"}),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "detected_at");
    let (status, refused) = app
        .call(
            &lena,
            Method::PUT,
            &review_path,
            Some(edit(0, json!({"detected_at": "2026-12-07T09:55:00Z"}))),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "detected_reason");

    // The lead saves with a moved detection time: the durations follow, the timeline says why,
    // and the blameless check points at the blame.
    let saved = send(
        &lena,
        Method::PUT,
        &review_path,
        edit(
            0,
            json!({"detected_at": "2026-12-07T09:55:00Z",
                "detected_reason": "support heard from a customer at 09:55"}),
        ),
    )
    .await;
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["durations"]["time_to_detect"], 180);
    assert_eq!(saved["durations"]["time_to_resolve"], 3900);
    assert_eq!(saved["blame"][0]["rule"], "should_have", "{saved}");
    until_count(
        &app,
        id,
        "detection_moved",
        1,
        "the timeline says the detection moved",
    )
    .await;
    // A save from the version read before is refused, and changes nothing.
    let (status, stale) = app
        .call(&bob, Method::PUT, &review_path, Some(edit(0, json!({}))))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    let fair = "# Review\nBob renewed the certificate at 10:58; nothing warned of its expiry.";
    let saved = send(
        &bob,
        Method::PUT,
        &review_path,
        json!({"text": fair, "version": 1}),
    )
    .await;
    assert_eq!(
        (saved["version"].clone(), saved["blame"].clone()),
        (json!(2), json!([]))
    );
    assert_eq!(
        saved["durations"]["time_to_detect"], 180,
        "the detection time stays"
    );

    // Publishing marks the incident reviewed, once; the review is exported whole.
    let published = send(
        &lena,
        Method::POST,
        &format!("{review_path}/publish"),
        json!({}),
    )
    .await;
    assert_eq!(
        (&published["published"], &published["incident_status"]),
        (&json!(true), &json!("reviewed"))
    );
    let (_, incident) = app.call(&vera, Method::GET, &path, None).await;
    assert_eq!(incident["status"], "reviewed");
    let (status, again) = app
        .call(&lena, Method::POST, &format!("{review_path}/publish"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, refused) = app
        .call(
            &lena,
            Method::PATCH,
            &path,
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reopening needs a reason: {refused}"
    );
    let (_, standing) = app.call(&lena, Method::GET, &review_path, None).await;
    let (status, refused) = app
        .call(
            &lena,
            Method::PUT,
            &review_path,
            Some(json!({"text": "A late edit", "version": standing["version"]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a published review stands: {refused}"
    );
    send(
        &lena,
        Method::PATCH,
        &path,
        json!({"status": "resolved", "reason": "the review found a second cause to recheck"}),
    )
    .await;
    let (_, reopened) = app.call(&lena, Method::GET, &review_path, None).await;
    assert_eq!(reopened["published"], false, "reopened: a draft again");
    assert_eq!(reopened["incident_status"], "resolved");
    send(
        &lena,
        Method::POST,
        &format!("{review_path}/publish"),
        json!({}),
    )
    .await;
    let history = send(
        &vera,
        Method::GET,
        &format!("{review_path}/history"),
        json!(null),
    )
    .await;
    let versions: Vec<(i64, &str)> = history
        .as_array()
        .expect("edits")
        .iter()
        .map(|e| {
            (
                e["version"].as_i64().unwrap_or(0),
                e["author"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(versions, [(1, "lena"), (2, "bob")]);
    let export = app
        .http
        .get(format!("{}{path}/review.md", app.base))
        .bearer_auth(&vera)
        .send()
        .await
        .expect("the export");
    assert_eq!(export.status(), StatusCode::OK);
    assert_eq!(
        export.headers()[reqwest::header::CONTENT_TYPE],
        "text/markdown; charset=utf-8"
    );
    let markdown = export.text().await.expect("text");
    assert!(markdown.starts_with(fair), "{markdown}");
    assert!(
        markdown.contains("| time to resolve | 1 h 5 min |"),
        "{markdown}"
    );
    assert!(markdown.contains("Review published by lena"), "{markdown}");
}

async fn the_blame_check_flags_blame_and_passes_facts_with_names(app: TestApp) {
    let bob = app.user("bob", "viewer").await;
    let check = async |text: &str| {
        let (status, answer) = app
            .call(
                &bob,
                Method::POST,
                "/api/v1/blame-check",
                Some(json!({"text": text})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["findings"].as_array().expect("findings").clone()
    };
    let text = "Alice broke checkout. Root cause: human error.";
    let found = check(text).await;
    let spans: Vec<(&str, u64, u64)> = found
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or(""),
                f["start"].as_u64().unwrap_or(0),
                f["end"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(spans, [("person_as_cause", 0, 11), ("human_error", 34, 45)]);
    assert!(
        found
            .iter()
            .all(|f| f["suggestion"].as_str().is_some_and(|s| !s.is_empty()))
    );
    assert!(
        check("Alice deployed 2.4.1 at 10:02; Bob rolled it back at 10:31.")
            .await
            .is_empty(),
        "naming who did what, as fact, passes"
    );
    let (status, refused) = app
        .call(
            &bob,
            Method::POST,
            "/api/v1/blame-check",
            Some(json!({"text": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "text");

    // The CLI reads an argument or standard input.
    let out = crate::cli::stdout(
        &crate::cli::aplomb_with_input(&app, &bob, &["blame-check"], "We should've tested it.")
            .await,
    );
    assert!(
        out.contains("should_have") && out.contains("\"We should've\""),
        "{out}"
    );
    let out = crate::cli::stdout(
        &crate::cli::aplomb(
            &app,
            &bob,
            &["blame-check", "Carol paged the database team at 10:15."],
        )
        .await,
    );
    assert!(out.contains("no findings"), "{out}");
}

async fn a_private_incidents_review_stays_with_those_who_see_it(app: TestApp) {
    let lena = app.user("lena", "responder").await;
    let otto = app.user("otto", "responder").await;
    let id = app
        .declare(
            &lena,
            json!({"title": "Token leak", "severity": "SEV1", "private": true}),
        )
        .await;
    let review = format!("/api/v1/incidents/{id}/review");
    for path in [
        review.clone(),
        format!("{review}/history"),
        format!("/api/v1/incidents/{id}/review.md"),
    ] {
        let (status, _) = app.call(&otto, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} hides the incident");
    }
    let (status, _) = app
        .call(
            &otto,
            Method::PUT,
            &review,
            Some(json!({"text": "x", "version": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(&otto, Method::POST, &format!("{review}/publish"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, own) = app.call(&lena, Method::GET, &review, None).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    // The CLI shows the figures and exports the document to its participant.
    let out = crate::cli::stdout(
        &crate::cli::aplomb(&app, &lena, &["review", "show", &id.to_string()]).await,
    );
    assert!(
        out.contains("time to resolve") && out.contains("gaps in communication"),
        "{out}"
    );
    let out = crate::cli::stdout(
        &crate::cli::aplomb(&app, &lena, &["review", "export", &id.to_string()]).await,
    );
    assert!(
        out.starts_with("# Review: Token leak") && out.contains("## Key durations"),
        "{out}"
    );
    let out = crate::cli::aplomb(&app, &otto, &["review", "show", &id.to_string()]).await;
    assert!(!out.status.success(), "an outsider's CLI is refused");
}

async fn the_review_page_edits_checks_and_publishes(app: TestApp) {
    app.user("lena", "responder").await;
    let lena = app.web_session("lena").await;
    let csrf = lena.csrf().await;
    let token = app.user("lena2", "responder").await;
    let id = app
        .declare(
            &token,
            json!({"title": "Search is slow", "severity": "SEV3"}),
        )
        .await;
    let page = format!("/incidents/{id}/review");
    let (status, html) = lena.page(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"duration-time_to_resolve\""),
        "durations are shown"
    );
    assert!(
        html.contains("no update reached users or stakeholders"),
        "{html}"
    );
    assert!(
        !html.contains("id=\"publish-review\""),
        "no publishing before resolution"
    );
    // The blameless check the page's script asks for.
    let found = lena
        .post_form(
            &format!("{page}/blame"),
            &[("csrf", &csrf), ("text", "It was a careless change.")],
        )
        .await;
    assert_eq!(found.status(), StatusCode::OK);
    let found = found.text().await.expect("findings");
    assert!(
        found.contains("judgement") && found.contains("careless"),
        "{found}"
    );
    // Saving from the page, then resolving and publishing.
    let saved = lena
        .post_form(
            &page,
            &[
                ("csrf", &csrf),
                ("text", "# Review\nThe index was missing."),
                ("version", "0"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&saved).ends_with("?done=saved"),
        "{}",
        location(&saved)
    );
    let (_, html) = lena.page(&page).await;
    assert!(html.contains("The index was missing."), "saved");
    assert!(
        html.contains("version 1 by lena"),
        "the history names the editor"
    );
    let stale = lena
        .post_form(
            &page,
            &[("csrf", &csrf), ("text", "an older edit"), ("version", "0")],
        )
        .await;
    let (_, stale) = lena.page(&location(&stale)).await;
    assert!(
        stale.contains("changed since version 0"),
        "a stale save is told: {stale}"
    );
    let (status, _) = app
        .call(
            &token,
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, html) = lena.page(&page).await;
    assert!(
        html.contains("id=\"publish-review\""),
        "resolved: it may be published"
    );
    let published = lena
        .post_form(&format!("{page}/publish"), &[("csrf", &csrf)])
        .await;
    assert!(
        location(&published).ends_with("?done=published"),
        "{}",
        location(&published)
    );
    let (_, html) = lena.page(&location(&published)).await;
    assert!(
        html.contains("Review published; the incident is reviewed."),
        "{html}"
    );
    assert!(html.contains("id=\"review-state\">published<"), "{html}");
    let (status, markdown) = lena.page(&format!("/incidents/{id}/review.md")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(markdown.contains("## Key durations"), "{markdown}");
}

/// Where a form's answer sends the browser.
fn location(response: &reqwest::Response) -> String {
    response.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("a location")
        .to_string()
}

async fn the_team_comments_on_a_review_by_section(app: TestApp) {
    let lena = app.user("lena", "responder").await;
    let vera = app.user("vera", "viewer").await;
    let id = app
        .declare(
            &lena,
            json!({"title": "Orders stalled", "severity": "SEV3"}),
        )
        .await;
    let path = format!("/api/v1/incidents/{id}/review/comments");
    for (body, field) in [
        (json!({"text": ""}), "text"),
        (json!({"text": "x".repeat(2001)}), "text"),
        (json!({"text": "ok", "section": "luck"}), "section"),
    ] {
        let (status, answer) = app.call(&lena, Method::POST, &path, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (status, _) = app
        .call(&vera, Method::POST, &path, Some(json!({"text": "hm"})))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "viewers read, they do not comment"
    );

    // A comment on a section, and the blameless check's advice on it.
    let (status, posted) = app
        .call(
            &lena,
            Method::POST,
            &path,
            Some(json!({"text": "Bob should have checked the canary.", "section": "prevention"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    assert_eq!(posted["comment"]["section"], "prevention");
    assert_eq!(posted["comment"]["author"], "lena");
    assert_eq!(posted["blame"][0]["rule"], "should_have", "{posted}");
    let (status, fair) = app
        .call(
            &lena,
            Method::POST,
            &path,
            Some(json!({"text": "The canary ran for 2 minutes; the error budget alert needs 5."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{fair}");
    assert_eq!(fair["blame"], json!([]), "{fair}");
    assert_eq!(fair["comment"]["section"], Value::Null);

    // Everyone who sees the incident reads them, oldest first; the CLI posts and lists.
    let (status, all) = app.call(&vera, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let texts: Vec<&str> = all
        .as_array()
        .expect("comments")
        .iter()
        .map(|c| c["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(texts[0].starts_with("Bob should have"));
    let posted = crate::cli::aplomb(
        &app,
        &lena,
        &[
            "review",
            "comment",
            &id.to_string(),
            "Keep the runbook link in the page.",
            "--section",
            "went_well",
        ],
    )
    .await;
    assert!(
        crate::cli::stdout(&posted).contains("posted"),
        "{}",
        String::from_utf8_lossy(&posted.stderr)
    );
    let listed = crate::cli::aplomb(&app, &vera, &["review", "comments", &id.to_string()]).await;
    let out = crate::cli::stdout(&listed);
    assert!(
        out.contains("lena on went_well:") && out.contains("Keep the runbook link"),
        "{out}"
    );

    // The review page shows them and posts a new one.
    let web = app.web_session("lena").await;
    let page = format!("/incidents/{id}/review");
    let (_, html) = web.page(&page).await;
    assert!(
        html.contains("Bob should have checked the canary.") && html.contains("on Prevention"),
        "{html}"
    );
    let csrf = web.csrf().await;
    let answer = web
        .post_form(
            &format!("{page}/comments"),
            &[
                ("csrf", &csrf),
                ("section", "communication"),
                ("text", "The first update came late."),
            ],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let (_, html) = web.page(&page).await;
    assert!(
        html.contains("The first update came late.") && html.contains("on Communication"),
        "{html}"
    );
}

/// An invitation as Python's standard email parser reads it: recipient, subject, and the
/// calendar part's `method` parameter and content (unfolded, as RFC 5545 says to read it).
fn invitation(raw: &str) -> Value {
    let script = r#"
import email, email.policy, json, sys
m = email.message_from_string(sys.stdin.read(), policy=email.policy.default)
cal = [p for p in m.walk() if p.get_content_type() == "text/calendar"]
print(json.dumps({
    "to": str(m["To"]), "subject": str(m["Subject"]),
    "method": cal[0].get_param("method") if cal else None,
    "ics": cal[0].get_content().replace("\r\n", "\n").replace("\n ", "") if cal else None,
    "text": m.get_body(("plain",)).get_content(),
}))
"#;
    crate::sinks::python_reads(script, raw)
}

/// The ics's content lines, unfolded and split.
fn ics_lines(ics: &Value) -> Vec<String> {
    ics.as_str()
        .expect("a calendar part")
        .lines()
        .map(String::from)
        .collect()
}

async fn a_review_meeting_is_an_invitation_by_email_that_calendars_update(db: Db) {
    let Some(smtp) = SmtpSink::start().await else {
        return;
    };
    let clock = Arc::new(aplomb::clock::SystemClock);
    let Some(app) = TestApp::spawn_paging(db, clock, outbound(Some(&smtp))).await else {
        return;
    };
    let lena = app.user("lena", "responder").await;
    app.user("bob", "responder").await;
    let erin = app.user("erin", "viewer").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/users/bob/contact-methods",
        json!({"kind": "email", "address": "bob@example.org"}),
    )
    .await;
    let id = app
        .declare(
            &lena,
            json!({"title": "Orders stalled", "severity": "SEV3"}),
        )
        .await;
    let path = format!("/api/v1/incidents/{id}/review/meeting");
    let (status, _) = app.call(&lena, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no meeting yet");
    let good = json!({"starts_at": "2036-03-04T14:00:00Z", "duration_minutes": 45,
                      "location": "Room 4", "attendees": ["bob", "erin"]});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    for (body, field) in [
        (
            with("starts_at", json!("2020-01-01T00:00:00Z")),
            "starts_at",
        ),
        (with("starts_at", json!("next week")), "starts_at"),
        (with("duration_minutes", json!(5)), "duration_minutes"),
        (with("attendees", json!([])), "attendees"),
        (with("attendees", json!(["nobody"])), "attendees"),
    ] {
        let (status, answer) = app.call(&lena, Method::PUT, &path, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (status, _) = app
        .call(&erin, Method::PUT, &path, Some(good.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A private incident's invitation names it: only those who may see it are asked.
    let hush = app
        .declare(
            &lena,
            json!({"title": "Vault keys copied", "severity": "SEV2", "private": true}),
        )
        .await;
    let (status, answer) = app
        .call(
            &lena,
            Method::PUT,
            &format!("/api/v1/incidents/{hush}/review/meeting"),
            Some(good.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "attendees", "{answer}");

    // Scheduled: bob (who has an email address) is sent the invitation; erin is asked without.
    let (status, meeting) = app
        .call(&lena, Method::PUT, &path, Some(good.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{meeting}");
    assert_eq!(meeting["sequence"], 0);
    assert_eq!(meeting["ends_at"], "2036-03-04T14:45:00Z");
    assert_eq!(meeting["attendees"][1]["invited"], false, "{meeting}");
    // A contact address is its owner's: lena (not an admin) sees that bob is invited, not where.
    assert_eq!(
        (
            &meeting["attendees"][0]["invited"],
            &meeting["attendees"][0]["email"]
        ),
        (&json!(true), &Value::Null),
        "{meeting}"
    );
    assert_eq!(meeting["invites"][0]["address"], Value::Null, "{meeting}");
    let (_, as_admin) = app.admin(Method::GET, &path, None).await;
    assert_eq!(
        as_admin["attendees"][0]["email"], "bob@example.org",
        "{as_admin}"
    );
    assert_eq!(
        meeting["invites"].as_array().map(Vec::len),
        Some(1),
        "{meeting}"
    );
    let first = eventually("the invitation arrives", || async {
        smtp.messages().first().map(|m| invitation(m))
    })
    .await;
    assert_eq!(first["to"], "bob@example.org");
    assert_eq!(first["method"], "REQUEST", "{first}");
    assert!(
        first["subject"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("incident #{id}")),
        "{first}"
    );
    let lines = ics_lines(&first["ics"]);
    let uid = lines
        .iter()
        .find(|l| l.starts_with("UID:"))
        .unwrap_or_else(|| panic!("a UID in {first}"))
        .clone();
    for line in [
        "BEGIN:VCALENDAR",
        "METHOD:REQUEST",
        "SEQUENCE:0",
        "DTSTART:20360304T140000Z",
        "DTEND:20360304T144500Z",
        "LOCATION:Room 4",
        "ORGANIZER;CN=\"aplomb\":mailto:aplomb@example.org",
        "ATTENDEE;CN=\"bob\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org",
        "END:VCALENDAR",
    ] {
        assert!(lines.iter().any(|l| l == line), "{line} in {lines:?}");
    }
    assert!(
        first["text"].as_str().unwrap_or("").contains("Room 4"),
        "{first}"
    );
    eventually("the invitation is recorded as sent", || async {
        let (_, m) = app.call(&lena, Method::GET, &path, None).await;
        (m["invites"][0]["state"] == "sent").then_some(())
    })
    .await;

    // Moved: the same event (UID), the next SEQUENCE, so calendars update it.
    let (status, moved) = app
        .call(
            &lena,
            Method::PUT,
            &path,
            Some(with("starts_at", json!("2036-03-04T15:00:00Z"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["sequence"], 1);
    // Found by its content: the mailbox's file names do not order two mails of one second.
    let second = eventually("the new invitation arrives", || async {
        smtp.messages()
            .iter()
            .map(|m| invitation(m))
            .find(|m| ics_lines(&m["ics"]).iter().any(|l| l == "SEQUENCE:1"))
    })
    .await;
    let lines = ics_lines(&second["ics"]);
    assert!(
        lines.contains(&uid) && lines.iter().any(|l| l == "SEQUENCE:1"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "DTSTART:20360304T150000Z"),
        "{lines:?}"
    );
    assert!(
        second["subject"].as_str().unwrap_or("").contains("moved"),
        "{second}"
    );

    // The CLI shows it; the review page shows it and moves it again.
    let shown = crate::cli::aplomb(&app, &lena, &["review", "meeting", &id.to_string()]).await;
    let out = crate::cli::stdout(&shown);
    assert!(
        out.contains("2036-03-04T15:00:00Z") && out.contains("bob (invited by email)"),
        "{out}"
    );
    let web = app.web_session("lena").await;
    let page = format!("/incidents/{id}/review");
    let (_, html) = web.page(&page).await;
    assert!(
        html.contains("id=\"meeting-when\"") && html.contains("Room 4"),
        "{html}"
    );
    assert!(
        html.contains("no email address"),
        "erin is asked without one: {html}"
    );
    let csrf = web.csrf().await;
    let answer = web
        .post_form(
            &format!("{page}/meeting"),
            &[
                ("csrf", &csrf),
                ("starts_at", "2036-03-05T10:00"),
                ("duration_minutes", "30"),
                ("attendees", "bob, erin"),
                ("location", ""),
            ],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let (_, m) = app.call(&lena, Method::GET, &path, None).await;
    assert_eq!(
        (&m["sequence"], &m["starts_at"]),
        (&json!(2), &json!("2036-03-05T10:00:00Z")),
        "{m}"
    );
}

async fn the_review_counts_the_time_the_status_page_showed_each_status(db: Db) {
    let clock = Arc::new(ManualClock::new(
        "2026-12-07T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await
    else {
        return;
    };
    let lena = app.user("lena", "responder").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "checkout-api"}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/status/components",
        json!({"name": "Checkout", "services": ["checkout-api"]}),
    )
    .await;
    let id = app
        .declare(
            &lena,
            json!({"title": "Card payments fail", "severity": "SEV2", "services": ["checkout-api"]}),
        )
        .await;
    let post = async |status: &str, phase: &str| {
        let (code, answer) = app
            .call(
                &lena,
                Method::POST,
                &format!("/api/v1/incidents/{id}/updates"),
                Some(json!({"text": "Some card payments fail at checkout. We are working on it and will update by 11:00 UTC.",
                            "phase": phase, "audiences": ["public"], "publish": true,
                            "components": [{"name": "Checkout", "status": status}]})),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{answer}");
    };
    post("major_outage", "investigating").await;
    clock.advance(SignedDuration::from_mins(10));
    post("partial_outage", "identified").await;
    clock.advance(SignedDuration::from_mins(20));
    let (code, answer) = app
        .call(
            &lena,
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    clock.advance(SignedDuration::from_hours(1));

    let (_, review) = app
        .call(
            &lena,
            Method::GET,
            &format!("/api/v1/incidents/{id}/review"),
            None,
        )
        .await;
    assert_eq!(
        review["impact"]["status_page"],
        json!([{"component": "Checkout", "status": "major_outage", "seconds": 600},
               {"component": "Checkout", "status": "partial_outage", "seconds": 1200}]),
        "{review}"
    );
    let web = app.web_session("lena").await;
    let (_, html) = web.page(&format!("/incidents/{id}/review")).await;
    assert!(
        html.contains("on the status page: Checkout Major outage for 10 min 0 s, Checkout Partial outage for 20 min 0 s"),
        "{html}"
    );
    let (_, md) = web.page(&format!("/incidents/{id}/review.md")).await;
    assert!(
        md.contains("| Checkout | Partial outage | 20 min 0 s |"),
        "{md}"
    );
}
