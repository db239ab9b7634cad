//! Prometheus Alertmanager (Debian's `prometheus-alertmanager`), configured with a
//! `webhook_configs` receiver and a `pagerduty_configs` receiver pointing at aplomb, delivers
//! alerts that become alerts and an incident here, and resolves them.

use std::process::Stdio;

use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::json;

use crate::crash::free_port;
use crate::helpers::{TestApp, required};
use crate::sinks::eventually;

crate::on_both_backends!(alertmanager_delivers_through_both_receivers);

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

async fn alertmanager_delivers_through_both_receivers(app: TestApp) {
    if !std::path::Path::new(ALERTMANAGER).exists() {
        assert!(
            !required(),
            "Alertmanager is required under CI: apt-get install prometheus-alertmanager"
        );
        eprintln!(
            "NOTICE: skipping the Alertmanager story: apt-get install prometheus-alertmanager"
        );
        return;
    }
    app.admin(
        Method::POST,
        "/api/v1/services",
        Some(json!({"name": "api"})),
    )
    .await;
    let key = |kind: &'static str| {
        let app = &app;
        async move {
            let (_, i) = app
                .admin(
                    Method::POST,
                    "/api/v1/services/api/integrations",
                    Some(json!({"kind": kind})),
                )
                .await;
            i["routing_key"].as_str().expect("a key").to_string()
        }
    };
    let (webhook_key, pd_key) = (key("alertmanager").await, key("events_v2").await);

    let dir = tempfile::tempdir().expect("dir");
    let config = format!(
        r#"
route:
  receiver: aplomb-webhook
  group_by: ['alertname', 'instance']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['via="pagerduty"']
      receiver: aplomb-pagerduty
receivers:
  - name: aplomb-webhook
    webhook_configs:
      - url: '{base}/integrations/alertmanager/{webhook_key}'
        send_resolved: true
  - name: aplomb-pagerduty
    pagerduty_configs:
      - routing_key: '{pd_key}'
        url: '{base}/v2/enqueue'
        severity: critical
        send_resolved: true
"#,
        base = app.base
    );
    std::fs::write(dir.path().join("alertmanager.yml"), config).expect("config");
    let am_port = free_port();
    let mut am = tokio::process::Command::new(ALERTMANAGER)
        .arg(format!(
            "--config.file={}",
            dir.path().join("alertmanager.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("alertmanager starts");
    let am_url = format!("http://127.0.0.1:{am_port}");
    eventually("Alertmanager ready", || async {
        let r = app
            .http
            .get(format!("{am_url}/-/ready"))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    let alerts = |ends: Option<Timestamp>| {
        let now = aplomb::clock::Clock::now(&aplomb::clock::SystemClock);
        let mut list = json!([
            {"labels": {"alertname": "HighLatency", "severity": "critical", "instance": "api-1"},
             "annotations": {"summary": "p99 latency over 2 s on api-1"}, "startsAt": (now - SignedDuration::from_secs(60)).to_string()},
            {"labels": {"alertname": "ErrorBudget", "severity": "critical", "instance": "api-2", "via": "pagerduty"},
             "annotations": {"summary": "error budget burning on api-2"}, "startsAt": (now - SignedDuration::from_secs(60)).to_string()}
        ]);
        if let Some(ends) = ends {
            for a in list.as_array_mut().expect("list") {
                a["endsAt"] = json!(ends.to_string());
            }
        }
        list
    };
    let posted = app
        .http
        .post(format!("{am_url}/api/v2/alerts"))
        .json(&alerts(None))
        .send()
        .await
        .expect("answer");
    assert!(
        posted.status().is_success(),
        "{}",
        posted.text().await.unwrap_or_default()
    );

    let arrived = eventually("both alerts in aplomb", || async {
        let (_, list) = app
            .admin(Method::GET, "/api/v1/alerts?service=api", None)
            .await;
        (list.as_array().map(Vec::len) == Some(2)).then_some(list)
    })
    .await;
    let summaries: Vec<&str> = arrived
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["summary"].as_str())
        .collect();
    assert!(
        summaries.contains(&"p99 latency over 2 s on api-1"),
        "{arrived}"
    );
    assert!(
        summaries.iter().any(|s| s.contains("ErrorBudget")),
        "the PagerDuty receiver's summary: {arrived}"
    );
    let (_, incidents) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(
        incidents["items"].as_array().map(Vec::len),
        Some(1),
        "{incidents}"
    );

    // Ending the alerts in Alertmanager resolves them here.
    let ended =
        aplomb::clock::Clock::now(&aplomb::clock::SystemClock) - SignedDuration::from_secs(1);
    app.http
        .post(format!("{am_url}/api/v2/alerts"))
        .json(&alerts(Some(ended)))
        .send()
        .await
        .expect("answer");
    eventually("both alerts resolved", || async {
        let (_, list) = app
            .admin(
                Method::GET,
                "/api/v1/alerts?service=api&status=resolved",
                None,
            )
            .await;
        (list.as_array().map(Vec::len) == Some(2)).then_some(())
    })
    .await;
    let (_, incidents) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(incidents["items"][0]["status"], "resolved", "{incidents}");
    am.start_kill().expect("stop");
    let _ = am.wait().await;
}
