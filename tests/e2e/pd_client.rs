//! The official PagerDuty Python client (`pagerduty` on PyPI) talks to aplomb unchanged. It
//! insists on an https:// base URL, so aplomb serves TLS itself (`--tls-cert`/`--tls-key`) with
//! a throwaway certificate the client trusts through SSL_CERT_FILE.

use serde_json::Value;

use crate::crash::{free_port, service_with_integration, start_server};
use crate::helpers::{ADMIN_TOKEN, Db, TestDb, required};
use crate::sinks::Pki;

crate::for_both_backends!(the_pagerduty_python_client_triggers_acknowledges_and_resolves);

const SCRIPT: &str = r#"
import sys, pagerduty
client = pagerduty.EventsApiV2Client(sys.argv[1], base_url=sys.argv[2])
print(client.trigger("Checkout p99 over 2 s", "api-1", dedup_key="pd-1", severity="critical",
                     custom_details={"p99_ms": 2300}, links=[{"href": "https://grafana/d/1", "text": "dashboard"}]))
print(client.trigger("Card declines rising", "api-2", severity="error"))
client.acknowledge("pd-1")
client.submit("Deployed checkout 7.1", source="ci", timestamp="2026-03-02T10:00:00Z")
client.resolve("pd-1")
"#;

async fn the_pagerduty_python_client_triggers_acknowledges_and_resolves(db: Db) {
    let has_client = std::process::Command::new("python3")
        .args(["-c", "import pagerduty"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_client {
        assert!(
            !required(),
            "the pagerduty client is required under CI: pip install pagerduty"
        );
        eprintln!("NOTICE: skipping the PagerDuty client story: pip install pagerduty");
        return;
    }
    let Some(pki) = Pki::make() else { return };
    let Some(test_db) = TestDb::new(db).await else {
        return;
    };

    // Set up over plain HTTP, then serve the same database over TLS.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut plain = start_server(&test_db.url, port, &[]).await;
    let http = reqwest::Client::new();
    let key = service_with_integration(&http, &base, "checkout").await;
    plain.start_kill().expect("stop");
    plain.wait().await.expect("stopped");

    let tls_port = free_port();
    let (cert, tls_key) = (
        pki.cert.display().to_string(),
        pki.key.display().to_string(),
    );
    let mut secure = start_server(
        &test_db.url,
        tls_port,
        &["--tls-cert", &cert, "--tls-key", &tls_key],
    )
    .await;
    let out = tokio::process::Command::new("python3")
        .args(["-c", SCRIPT, &key, &format!("https://localhost:{tls_port}")])
        .env("SSL_CERT_FILE", &pki.ca)
        .output()
        .await
        .expect("python runs");
    assert!(
        out.status.success(),
        "the client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let keys: Vec<&str> = printed.lines().collect();
    assert_eq!(keys.first(), Some(&"pd-1"), "{printed}");
    assert_eq!(
        keys.get(1).map(|k| k.len()),
        Some(32),
        "a generated dedup key: {printed}"
    );
    secure.start_kill().expect("stop");
    secure.wait().await.expect("stopped");

    // Back on plain HTTP: the events are there, with their effects.
    let mut plain = start_server(&test_db.url, port, &[]).await;
    let get = |path: &str| {
        http.get(format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let alerts: Value = get("/api/v1/alerts?service=checkout")
        .await
        .expect("alerts")
        .json()
        .await
        .expect("json");
    let first = alerts
        .as_array()
        .expect("alerts")
        .iter()
        .find(|a| a["dedup_key"] == "pd-1")
        .expect("pd-1")
        .clone();
    assert_eq!(first["status"], "resolved");
    assert_eq!(
        first["payload"]["payload"]["custom_details"]["p99_ms"],
        2300
    );
    assert_eq!(first["payload"]["links"][0]["text"], "dashboard");
    let incidents: Value = get("/api/v1/incidents")
        .await
        .expect("incidents")
        .json()
        .await
        .expect("json");
    assert_eq!(
        incidents["items"].as_array().map(Vec::len),
        Some(1),
        "{incidents}"
    );
    assert_eq!(incidents["items"][0]["severity"], "SEV1");
    plain.start_kill().expect("stop");
    let _ = plain.wait().await;
}
