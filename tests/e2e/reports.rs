//! User reports, through the running server: a flood of public reports with hostile input is
//! limited, escaped and grouped, and a burst opens an incident that pages the service's
//! policy through a real webhook receiver; support tools file reports with a token; the
//! public form works without sign-in; a report joining a private incident tells an outsider
//! nothing.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use aplomb::clock::SystemClock;
use aplomb::engine::channels::OutboundConfig;

use crate::helpers::{Db, TestApp};
use crate::paging::{ok, pages_go_to};
use crate::sinks::{WebhookSink, eventually};

crate::on_both_backends!(
    the_public_form_takes_a_report_without_signing_in,
    a_report_joining_a_private_incident_tells_an_outsider_nothing
);
/// Stories with the paging engine running.
mod paging {
    use super::a_flood_of_reports_is_limited_escaped_grouped_and_a_burst_opens_an_incident;
    crate::for_both_backends!(
        a_flood_of_reports_is_limited_escaped_grouped_and_a_burst_opens_an_incident
    );
}

/// A public report: no token, raw body and content type.
async fn post_raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let response = app
        .http
        .post(format!("{}/api/v1/reports", app.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let mut value: Value = response.json().await.unwrap_or(Value::Null);
    if let Some(r) = retry_after {
        value["retry_after_header"] = json!(r.to_str().unwrap_or(""));
    }
    (status, value)
}

async fn report(app: &TestApp, body: Value) -> (StatusCode, Value) {
    post_raw(app, "application/json", body.to_string().into_bytes()).await
}

/// The incidents a service's user reports opened.
async fn opened_by_reports(app: &TestApp, service: &str) -> Vec<Value> {
    let (_, page) = app
        .admin(Method::GET, "/api/v1/incidents?active=true", None)
        .await;
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["title"] == format!("Users report problems with {service}"))
        .cloned()
        .collect()
}

async fn report_evidence(app: &TestApp, incident: i64) -> Vec<Value> {
    let (_, evidence) = app
        .admin(
            Method::GET,
            &format!("/api/v1/incidents/{incident}/evidence"),
            None,
        )
        .await;
    evidence
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "user_report")
        .cloned()
        .collect()
}

async fn a_flood_of_reports_is_limited_escaped_grouped_and_a_burst_opens_an_incident(db: Db) {
    let hooks = WebhookSink::start(0).await;
    let clock = Arc::new(SystemClock);
    let Some(app) = TestApp::spawn_paging(db, clock, OutboundConfig::default()).await else {
        return;
    };
    let sam = app.user("sam", "responder").await;
    app.user("olga", "responder").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/users/olga/contact-methods",
        json!({"kind": "webhook", "address": hooks.url}),
    )
    .await;
    pages_go_to(&app, "olga", "checkout").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "search"}),
    )
    .await;
    let (status, _) = app
        .admin(
            Method::PUT,
            "/api/v1/services/search/alert-rules",
            Some(json!({"user_reports": {"on_burst": "triage"}})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = app
        .admin(
            Method::PUT,
            "/api/v1/services/search/alert-rules",
            Some(json!({"user_reports": {"burst_window_minutes": 0}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err["error"]["field"], "user_reports.burst_window_minutes",
        "{err}"
    );

    // Hostile input, refused before it counts: wrong content type, invalid UTF-8, oversized.
    let (status, _) = post_raw(&app, "text/plain", b"checkout is down".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut invalid = br#"{"service": "checkout", "text": "broken "#.to_vec();
    invalid.extend([0xff, 0xfe]);
    invalid.extend(br#""}"#);
    let (status, err) = post_raw(&app, "application/json", invalid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let huge = json!({"service": "checkout", "text": "x".repeat(70_000)});
    let (status, _) = report(&app, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Refused naming the field (these count toward the address's limit).
    let (status, err) = report(
        &app,
        json!({"service": "checkout", "text": "y".repeat(4001)}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("text")),
        "{err}"
    );
    let (status, err) = report(&app, json!({"service": "nope", "text": "down"})).await;
    assert_eq!(err["error"]["field"], "service", "{status} {err}");
    // A bot filling the honeypot is answered like anyone and kept nowhere.
    let (status, answer) = report(
        &app,
        json!({"service": "checkout", "text": "Buy now", "website": "http://spam.example"}),
    )
    .await;
    assert_eq!(
        (status, answer),
        (StatusCode::ACCEPTED, json!({"received": true}))
    );
    // A script tag waits in triage for the search service (its rules only queue them).
    let (status, _) = report(
        &app,
        json!({"service": "search", "text": "<script>alert(1)</script> results are empty"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Five reports about checkout within the window: the fifth opens an incident, with the
    // five as its evidence, and the service's policy pages olga.
    for n in 1..=5 {
        let (status, answer) = report(
            &app,
            json!({"service": "checkout", "text": format!("Payment page spins ({n})"), "contact": "ann@example.org"}),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(
            answer,
            json!({"received": true}),
            "the public learns no more"
        );
        if n < 5 {
            assert!(opened_by_reports(&app, "checkout").await.is_empty());
        }
    }
    let opened = opened_by_reports(&app, "checkout").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let incident = opened[0]["id"].as_i64().expect("an id");
    assert_eq!(opened[0]["severity"], "SEV3");
    assert_eq!(report_evidence(&app, incident).await.len(), 5);
    eventually("the burst pages olga's webhook", || async {
        hooks
            .received()
            .into_iter()
            .find(|r| r.body.contains(&format!("\"id\":{incident}")))
    })
    .await;

    // The next report joins that incident; past ten a minute, the address is refused.
    let (status, _) = report(
        &app,
        json!({"service": "checkout", "text": "Still spinning"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let evidence = report_evidence(&app, incident).await;
    assert_eq!(evidence.len(), 6);
    // A report's evidence can be removed like any other; the report stays with the incident.
    let path = format!(
        "/api/v1/incidents/{incident}/evidence/{}",
        evidence[5]["id"]
    );
    let (status, body) = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(report_evidence(&app, incident).await.len(), 5);
    // (A token comes back every six seconds: a slow run may see one or two more pass.)
    let mut refused = None;
    for _ in 0..3 {
        let (status, err) = report(&app, json!({"service": "checkout", "text": "Again"})).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(err);
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{err}");
    }
    let err = refused.expect("the address is refused past its limit");
    assert!(
        err["retry_after_header"]
            .as_str()
            .is_some_and(|s| s.parse::<u64>().is_ok()),
        "{err}"
    );

    // A support tool sends its token: not limited per address, told what became of it.
    let (status, filed) = app
        .call(
            &sam,
            Method::POST,
            "/api/v1/reports",
            Some(json!({"service": "checkout", "text": "Customer on the phone: card declined"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    assert_eq!(
        (filed["status"].as_str(), filed["incident_id"].as_i64()),
        (Some("joined"), Some(incident))
    );
    let (status, filed) = app
        .call(
            &sam,
            Method::POST,
            "/api/v1/reports",
            Some(json!({"service": "search", "text": "Customer: search shows nothing"})),
        )
        .await;
    assert_eq!(
        (status, filed["status"].as_str()),
        (StatusCode::CREATED, Some("waiting"))
    );
    let (status, _) = app
        .call(
            "not-a-token",
            Method::POST,
            "/api/v1/reports",
            Some(json!({"service": "search", "text": "x"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a bad token is no public report"
    );

    // The triage queue: only what joined no incident, grouped by service.
    let (status, queue) = app.call(&sam, Method::GET, "/api/v1/reports", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        queue["by_service"],
        json!([{"service": "search", "waiting": 2, "latest_at": queue["by_service"][0]["latest_at"]}]),
        "{queue}"
    );
    assert_eq!(queue["waiting"][0]["reporter"], "sam");
    assert_eq!(queue["waiting"][1]["reporter"], Value::Null);
    let (status, err) = app
        .call(&sam, Method::GET, "/api/v1/reports?limit=0", None)
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("limit"))
    );
    let viewer = app.user("vic", "viewer").await;
    let (status, _) = app
        .call(&viewer, Method::GET, "/api/v1/reports", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Escaped wherever it is shown: the triage page and the incident's evidence.
    let web = app.web_session("sam").await;
    let (status, html) = web.page("/reports").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("results are empty"), "{html}");
    assert!(
        !html.contains("<script>alert(1)"),
        "the script tag is escaped"
    );
    assert!(html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"));
    let (_, page) = web.page(&format!("/incidents/{incident}")).await;
    assert!(
        page.contains("User report: Payment page spins (1)"),
        "on the board"
    );
    app.shutdown().await;
}

async fn the_public_form_takes_a_report_without_signing_in(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "checkout"}),
    )
    .await;
    let incident = app
        .declare(
            &bob,
            json!({"title": "Card payments failing", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await;
    let form = |fields: &[(&str, &str)]| {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        app.http
            .post(format!("{}/report", app.base))
            .form(&fields)
            .send()
    };
    let page = app
        .http
        .get(format!("{}/report?service=checkout", app.base))
        .send()
        .await
        .expect("the form");
    assert_eq!(page.status(), StatusCode::OK, "no sign-in needed");
    let html = page.text().await.expect("html");
    assert!(
        html.contains(r#"<option value="checkout" selected>"#),
        "{html}"
    );
    assert!(html.contains(r#"name="website""#), "the honeypot is there");

    // A blank report is refused naming the field, keeping what was typed.
    let refused = form(&[
        ("service", "checkout"),
        ("text", " "),
        ("contact", "ann@example.org"),
    ])
    .await
    .expect("posted");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(html.contains(r#"data-field="text""#), "{html}");
    assert!(html.contains(r#"value="ann@example.org""#));

    let sent = form(&[
        ("service", "checkout"),
        ("text", "The <b>pay</b> button does nothing"),
        ("website", ""),
    ])
    .await
    .expect("posted");
    assert_eq!(sent.status(), StatusCode::OK);
    assert!(
        sent.text()
            .await
            .expect("html")
            .contains("the team has your report")
    );
    // It joined the open incident as evidence, escaped on the incident page.
    let (_, evidence) = app
        .call(
            &bob,
            Method::GET,
            &format!("/api/v1/incidents/{incident}/evidence"),
            None,
        )
        .await;
    assert_eq!(evidence[0]["kind"], "user_report", "{evidence}");
    assert_eq!(evidence[0]["excerpt"], "The <b>pay</b> button does nothing");
    let (_, html) = app
        .web_session("bob")
        .await
        .page(&format!("/incidents/{incident}"))
        .await;
    assert!(!html.contains("The <b>pay</b>"), "escaped on the page");
    assert!(
        html.contains("User report: The &lt;b&gt;pay")
            || html.contains("User report: The &#60;b&#62;pay")
    );
    app.shutdown().await;
}

async fn a_report_joining_a_private_incident_tells_an_outsider_nothing(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let mallory = app.user("mallory", "responder").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "vault"}),
    )
    .await;
    let secret = app
        .declare(
            &bob,
            json!({"title": "Credential leak in build logs", "severity": "SEV1",
            "type": "security", "private": true, "services": ["vault"]}),
        )
        .await;
    let (status, filed) = app
        .call(
            &mallory,
            Method::POST,
            "/api/v1/reports",
            Some(json!({"service": "vault", "text": "Customer says their key stopped working"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    assert_eq!(filed["status"], "joined");
    assert_eq!(
        filed["incident_id"],
        Value::Null,
        "the private incident is not named"
    );
    let (_, queue) = app
        .call(&mallory, Method::GET, "/api/v1/reports", None)
        .await;
    assert_eq!(queue["waiting"], json!([]), "{queue}");
    let (_, evidence) = app
        .call(
            &bob,
            Method::GET,
            &format!("/api/v1/incidents/{secret}/evidence"),
            None,
        )
        .await;
    assert_eq!(
        evidence[0]["kind"], "user_report",
        "bob sees it: {evidence}"
    );
    let (status, _) = app
        .call(
            &mallory,
            Method::GET,
            &format!("/api/v1/incidents/{secret}/evidence"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.shutdown().await;
}
