//! Response metrics through the running server, under a clock the test sets: incidents with
//! known durations give exact medians and 90th percentiles; a mitigation without a finding and
//! one resting on a finding give their share; a private incident counts only for those who may
//! see it, an incident outside the period not at all; the same figures reach the page (drawn as
//! SVG, with every definition named), the CLI and the Prometheus exposition.

use std::sync::Arc;

use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use aplomb::clock::ManualClock;
use aplomb::engine::channels::OutboundConfig;

use crate::helpers::{Db, TestApp};

mod clocked {
    use super::response_metrics_are_medians_and_percentiles_of_what_readers_may_see;
    crate::for_both_backends!(response_metrics_are_medians_and_percentiles_of_what_readers_may_see);
}

async fn response_metrics_are_medians_and_percentiles_of_what_readers_may_see(db: Db) {
    let clock = Arc::new(ManualClock::new(
        "2026-09-01T10:00:00Z".parse().expect("time"),
    ));
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), OutboundConfig::default()).await
    else {
        return;
    };
    let lena = app.user("lena", "responder").await;
    let otto = app.user("otto", "responder").await;
    let minutes = |m: i64| clock.advance(SignedDuration::from_mins(m));
    let send = async |method: Method, path: &str, body: Value| {
        let (status, answer) = app.call(&lena, method, path, Some(body)).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    };
    let declare = async |title: &str, private: bool| {
        app.declare(
            &lena,
            json!({"title": title, "severity": "SEV3", "services": [], "private": private}),
        )
        .await
    };
    let resolve = async |id: i64| {
        send(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            json!({"status": "resolved"}),
        )
        .await;
    };

    // Long before the period: resolved in a day, never counted.
    let old = declare("Old outage", false).await;
    minutes(24 * 60);
    resolve(old).await;
    minutes(100 * 24 * 60);

    // A: a finding, then a change resting on it; resolved in 10 minutes.
    let a = declare("Checkout errors", false).await;
    let h = send(
        Method::POST,
        &format!("/api/v1/incidents/{a}/hypotheses"),
        json!({"statement": "The 10:00 deploy broke the cart"}),
    )
    .await;
    let hypothesis = format!("/api/v1/incidents/{a}/hypotheses/{}", h["id"]);
    send(
        Method::POST,
        &format!("{hypothesis}/tests"),
        json!({"description": "Diffed the deploy", "result": "The cart's timeout halved"}),
    )
    .await;
    send(Method::PATCH, &hypothesis, json!({"state": "supported"})).await;
    send(
        Method::POST,
        &format!("/api/v1/incidents/{a}/changes"),
        json!({"system": "checkout", "description": "Rolled back the deploy", "hypothesis_id": h["id"]}),
    )
    .await;
    minutes(10);
    resolve(a).await;
    // B: identified without a finding (with its reason); resolved in an hour.
    let b = declare("Slow search", false).await;
    send(
        Method::PATCH,
        &format!("/api/v1/incidents/{b}"),
        json!({"status": "identified", "reason": "the index is obviously cold"}),
    )
    .await;
    minutes(60);
    resolve(b).await;
    // C: private, resolved in 5 minutes; lena takes part, otto does not.
    let c = declare("Leaked key", true).await;
    minutes(5);
    resolve(c).await;
    send(
        Method::POST,
        &format!("/api/v1/incidents/{a}/review/action-items"),
        json!({"title": "Canary the cart"}),
    )
    .await;

    let metrics = async |token: &str| {
        let (status, m) = app
            .call(token, Method::GET, "/api/v1/metrics/response", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{m}");
        m
    };
    let m = metrics(&otto).await;
    assert_eq!(
        m["incidents"], 2,
        "otto sees A and B in the last 90 days: {m}"
    );
    assert_eq!(
        m["durations"]["time_to_resolve"],
        json!({"count": 2, "median_seconds": 600, "p90_seconds": 3600})
    );
    assert_eq!(
        m["mitigations_on_finding"],
        json!({"counted": 1, "of": 2, "share": 0.5})
    );
    assert_eq!(
        m["action_items_done"],
        json!({"counted": 0, "of": 1, "share": 0.0})
    );
    assert_eq!(m["by_severity"], json!({"SEV3": 2}));
    assert!(
        m["definitions"]["time_to_resolve"]
            .as_str()
            .is_some_and(|d| d.contains("resolved")),
        "{m}"
    );
    assert!(m["definitions"]["p90"].is_string());
    let m = metrics(&lena).await;
    assert_eq!(m["incidents"], 3, "lena also sees her private incident");
    assert_eq!(
        m["durations"]["time_to_resolve"],
        json!({"count": 3, "median_seconds": 600, "p90_seconds": 3600})
    );
    // A period that holds only the old incident.
    let (_, m) = app
        .call(
            &otto,
            Method::GET,
            "/api/v1/metrics/response?since=2026-08-01T00:00:00Z&until=2026-10-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(m["incidents"], 1, "{m}");
    assert_eq!(m["durations"]["time_to_resolve"]["median_seconds"], 86400);
    for (query, field) in [
        ("since=yesterday", "since"),
        (
            "since=2026-12-01T00:00:00Z&until=2026-11-01T00:00:00Z",
            "since",
        ),
        ("since=2024-01-01T00:00:00Z", "since"),
    ] {
        let (status, answer) = app
            .call(
                &otto,
                Method::GET,
                &format!("/api/v1/metrics/response?{query}"),
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {answer}"
        );
        assert_eq!(answer["error"]["field"], field, "{query}: {answer}");
    }

    // The page draws the same figures and names their definitions.
    let web = app.web_session("otto").await;
    let (status, html) = web.page("/response-metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<strong>2</strong> incident(s)"), "{html}");
    assert!(html.contains("<svg id=\"durations-chart\""));
    assert!(html.contains("<svg id=\"weeks-chart\""));
    assert!(html.contains("time to resolve median: 10 min"), "{html}");
    assert!(html.contains("1 of 2 (50%)"));
    assert!(html.contains("the 90th percentile by nearest rank"));
    let (_, html) = web
        .page("/response-metrics?since=2026-08-01&until=2026-10-01")
        .await;
    assert!(html.contains("<strong>1</strong> incident(s)"), "{html}");

    let printed = crate::cli::stdout(&crate::cli::aplomb(&app, &otto, &["metrics"]).await);
    assert!(printed.contains("2 incident(s)"), "{printed}");
    assert!(printed.contains("time to resolve"), "{printed}");
    assert!(
        printed.contains("mitigations on a finding: 1 of 2"),
        "{printed}"
    );

    // The exposition: the last 30 days of incidents anyone may see.
    let exposition = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("an answer")
        .text()
        .await
        .expect("text");
    for line in [
        "aplomb_response_duration_seconds{duration=\"time_to_resolve\",quantile=\"0.5\"} 600",
        "aplomb_response_duration_seconds{duration=\"time_to_resolve\",quantile=\"0.9\"} 3600",
        "aplomb_response_incidents{severity=\"SEV3\"} 2",
        "aplomb_response_share{figure=\"mitigations_on_finding\"} 0.5",
    ] {
        assert!(exposition.contains(line), "{line} in:\n{exposition}");
    }
}
