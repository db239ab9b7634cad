//! Communicating calmly, through the running server: the tone check of a draft update by the
//! API and the CLI.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

crate::on_both_backends!(
    the_tone_check_flags_an_alarmed_draft_and_passes_its_calm_rewrite,
    the_cli_checks_a_draft_from_an_argument_or_standard_input,
);

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
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
            .args(args)
            .env("APLOMB_URL", &app.base)
            .env("APLOMB_TOKEN", &bob)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).await.expect("written");
        drop(input);
        let out = child.wait_with_output().await.expect("it ends");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("UTF-8")
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
