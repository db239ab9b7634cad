//! Communicating calmly, through the running server: status updates drafted, checked,
//! published and corrected through the API, the CLI and the incident page, never public for a
//! private incident; and the tone check of a draft by the API and the CLI.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

crate::on_both_backends!(
    the_tone_check_flags_an_alarmed_draft_and_passes_its_calm_rewrite,
    the_cli_checks_a_draft_from_an_argument_or_standard_input,
    an_update_is_drafted_checked_published_and_corrected,
    the_page_drafts_and_publishes_and_says_whether_users_were_told,
);

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
