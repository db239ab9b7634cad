//! What `/metrics` tells a Prometheus user about paging: alert events by source, delivery
//! attempts by channel and outcome, the alert-to-page time, and the backlog of due escalation
//! steps and queued deliveries; and a real Prometheus (Debian's) scraping aplomb on loopback
//! and answering queries over every family.

use std::collections::BTreeSet;
use std::process::Stdio;

use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::alerts::{enqueue, monitored_service, trigger};
use crate::crash::free_port;
use crate::helpers::{Db, TestApp, required, sample};
use crate::paging::{outbound, settle, start_clock};
use crate::sinks::{WebhookSink, eventually};

crate::for_both_backends!(
    paging_is_counted_by_source_channel_and_outcome,
    prometheus_scrapes_aplomb_and_answers_queries,
);

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Alertmanager's webhook body with one firing alert.
fn alertmanager_firing(fingerprint: &str) -> Value {
    json!({"version": "4", "status": "firing", "receiver": "aplomb", "alerts": [
        {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db-1"},
         "annotations": {"summary": "disk 95% full"}, "fingerprint": fingerprint}]})
}

async fn paging_is_counted_by_source_channel_and_outcome(db: Db) {
    // The first page fails once, so it is retried; the retry is sent.
    let hooks = WebhookSink::start(1).await;
    let clock = start_clock();
    let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound(None)).await else {
        return;
    };
    let key = monitored_service(&app, &hooks.url).await;
    let before = app.metrics().await;
    assert_eq!(sample(&before, "aplomb_escalations_due"), Some(0.0));
    assert_eq!(
        sample(&before, "aplomb_alert_to_page_seconds_count"),
        Some(0.0)
    );

    let (status, _) = enqueue(&app, "/v2/enqueue", &trigger(&key, "disk", "critical")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let path = format!("/integrations/alertmanager/{key}");
    let (status, body) = enqueue(&app, &path, &alertmanager_firing("f1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let retried = "aplomb_delivery_attempts_total{channel=\"webhook\",outcome=\"retried\"}";
    let metrics = eventually("the failed first attempt", || async {
        let m = app.metrics().await;
        (sample(&m, retried) == Some(1.0)).then_some(m)
    })
    .await;
    assert_eq!(
        sample(&metrics, "aplomb_alert_events_total{source=\"events_v2\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "aplomb_alert_events_total{source=\"alertmanager\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "aplomb_deliveries_queued{channel=\"webhook\"}"),
        Some(1.0),
        "the retry waits out its backoff"
    );
    assert_eq!(
        sample(&metrics, "aplomb_alert_to_page_seconds_count"),
        Some(0.0)
    );

    // With the engine held, the retry and the policy's last wait fall due and stay unsent.
    app.app.store.faults().hold("engine.pass");
    settle().await; // a pass that began before the hold ends before the clock moves
    clock.advance(SignedDuration::from_mins(6));
    settle().await;
    let held = app.metrics().await;
    assert_eq!(sample(&held, "aplomb_escalations_due"), Some(1.0), "{held}");
    assert_eq!(
        sample(&held, "aplomb_deliveries_queued{channel=\"webhook\"}"),
        Some(1.0)
    );

    app.app.store.faults().release("engine.pass");
    let sent = "aplomb_delivery_attempts_total{channel=\"webhook\",outcome=\"sent\"}";
    let after = eventually("the retry sent and the backlog drained", || async {
        let m = app.metrics().await;
        (sample(&m, sent) == Some(1.0) && sample(&m, "aplomb_escalations_due") == Some(0.0))
            .then_some(m)
    })
    .await;
    assert_eq!(
        sample(&after, "aplomb_deliveries_queued{channel=\"webhook\"}"),
        Some(0.0),
        "nothing is left queued: {after}"
    );
    // One page left, six minutes (by the manual clock) after the alert that opened it.
    assert_eq!(
        sample(&after, "aplomb_alert_to_page_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "aplomb_alert_to_page_seconds_sum"),
        Some(360.0)
    );
    assert_eq!(
        sample(&after, "aplomb_alert_to_page_seconds_bucket{le=\"300\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&after, "aplomb_alert_to_page_seconds_bucket{le=\"600\"}"),
        Some(1.0)
    );
    assert_eq!(hooks.received().len(), 2);
}

async fn prometheus_scrapes_aplomb_and_answers_queries(db: Db) {
    if !std::path::Path::new(PROMETHEUS).exists() {
        assert!(
            !required(),
            "Prometheus is required under CI: apt-get install prometheus"
        );
        eprintln!("NOTICE: skipping the Prometheus scrape: apt-get install prometheus");
        return;
    }
    let hooks = WebhookSink::start(0).await;
    let Some(app) = TestApp::spawn_paging(db, start_clock(), outbound(None)).await else {
        return;
    };
    let key = monitored_service(&app, &hooks.url).await;
    let (status, _) = enqueue(&app, "/v2/enqueue", &trigger(&key, "disk", "critical")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually("the page", || async { hooks.received().into_iter().next() }).await;

    let dir = tempfile::tempdir().expect("dir");
    let target = app.base.trim_start_matches("http://");
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: aplomb\n    \
         static_configs:\n      - targets: ['{target}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
    let port = free_port();
    let _prometheus = tokio::process::Command::new(PROMETHEUS)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let query = |promql: &'static str| {
        let app = &app;
        async move {
            let r = app
                .http
                .get(format!("http://127.0.0.1:{port}/api/v1/query"))
                .query(&[("query", promql)])
                .send()
                .await
                .ok()?;
            let answer: Value = r.json().await.ok()?;
            let result = answer["data"]["result"].as_array()?.clone();
            (!result.is_empty()).then_some(result)
        }
    };

    // `up` is 1 once a scrape parsed: the exposition is valid to Prometheus itself.
    let up = eventually("a successful scrape", || async {
        query("up{job=\"aplomb\"} == 1").await
    })
    .await;
    assert_eq!(up.len(), 1, "{up:?}");
    let names: BTreeSet<String> = eventually("aplomb's series", || async {
        let series = query("{__name__=~\"aplomb_.+\"}").await?;
        Some(
            series
                .iter()
                .filter_map(|s| s["metric"]["__name__"].as_str().map(String::from))
                .collect(),
        )
    })
    .await;
    for name in [
        "aplomb_http_request_duration_seconds_bucket",
        "aplomb_http_requests_total",
        "aplomb_ingest_batch_events_bucket",
        "aplomb_ingest_commit_seconds_bucket",
        "aplomb_alert_to_page_seconds_bucket",
        "aplomb_alert_events_total",
        "aplomb_delivery_attempts_total",
        "aplomb_escalations_due",
        "aplomb_deliveries_queued",
        "aplomb_open_incidents",
        "aplomb_response_incidents",
    ] {
        assert!(names.contains(name), "{name} is scraped: {names:?}");
    }
    let alerts = query("aplomb_alert_events_total{source=\"events_v2\"}")
        .await
        .expect("alert events");
    assert_eq!(alerts[0]["value"][1], "1", "{alerts:?}");
    // A histogram answers histogram_quantile: the page left within the first bucket's reach.
    let p99 = eventually("a quantile of the alert-to-page time", || async {
        query("histogram_quantile(0.99, sum by (le) (aplomb_alert_to_page_seconds_bucket))").await
    })
    .await;
    let seconds: f64 = p99[0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!((0.0..=0.05).contains(&seconds), "{p99:?}");
}
