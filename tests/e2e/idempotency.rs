//! A client retrying a POST with the same `Idempotency-Key` gets the first answer, not a second
//! note or a second service; the same key on another request is refused; a failed request
//! leaves its key free; the OpenAPI document says so for every POST.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp};

crate::on_both_backends!(a_retried_post_answers_once_with_the_first_result);

async fn post_with_key(
    app: &TestApp,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value, bool) {
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("an answer");
    let status = response.status();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, replayed)
}

async fn a_retried_post_answers_once_with_the_first_result(app: TestApp) {
    let id = app
        .declare(
            ADMIN_TOKEN,
            json!({"title": "Queue backlog", "severity": "SEV3"}),
        )
        .await;
    let notes = format!("/api/v1/incidents/{id}/timeline");

    // The note is posted, the answer lost, the client retries: one note, the same answer.
    let note = json!({"text": "Workers restarted"});
    let (status, first, replayed) = post_with_key(&app, &notes, "note-1", note.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!replayed);
    let (status, again, replayed) = post_with_key(&app, &notes, "note-1", note).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(replayed, "the retry is marked as a replay");
    assert_eq!(again, first);
    let (_, timeline) = app.admin(Method::GET, &notes, None).await;
    let posted = timeline
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["kind"] == "note")
        .count();
    assert_eq!(posted, 1, "{timeline}");

    // The same key on a different request is a client mistake, named as such.
    let (status, error, _) =
        post_with_key(&app, &notes, "note-1", json!({"text": "Something else"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["field"], "Idempotency-Key");

    // A refused request had no effect: its key stays free for the corrected one.
    let (status, _, _) =
        post_with_key(&app, "/api/v1/services", "svc-1", json!({"name": ""})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for _ in 0..2 {
        let (status, body, _) =
            post_with_key(&app, "/api/v1/services", "svc-1", json!({"name": "queue"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, services) = app.admin(Method::GET, "/api/v1/services", None).await;
    let named = services
        .as_array()
        .expect("services")
        .iter()
        .filter(|s| s["name"] == "queue")
        .count();
    assert_eq!(named, 1, "{services}");

    // Every POST of the API in the OpenAPI document takes the header and lists what it may
    // answer (the forge webhook, outside the API, deduplicates by its delivery ids instead).
    let (_, doc) = app.admin(Method::GET, "/api/v1/openapi.json", None).await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut posts = 0;
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/api/v1/")) {
        if let Some(post) = item.get("post") {
            posts += 1;
            let takes_key = post["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
            assert!(takes_key, "POST {path} documents Idempotency-Key");
            for status in ["409", "422", "500", "503"] {
                assert!(
                    post["responses"].get(status).is_some(),
                    "POST {path} lists {status}"
                );
            }
        }
    }
    assert!(posts > 10, "{posts} POST operations");
}
