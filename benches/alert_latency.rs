//! Alert-to-first-notification latency (shared/design/PERFORMANCE.md scenario 2): at a fixed send rate, how
//! long from sending a critical trigger until its page reaches a webhook receiver on loopback,
//! beside Prometheus Alertmanager (`group_wait: 0s`) delivering the same alerts to the same
//! receiver when `/usr/bin/prometheus-alertmanager` exists.
//!
//! Run: `cargo bench --bench alert_latency -- --rate 20 --seconds 10`
//! Each alert goes to its own service, so each opens an incident and pages once.
//! `--load N` adds N warning events per second (distinct keys, 32 senders) to another service
//! of aplomb during the run: latency at a fixed share of the maximum ingest rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aplomb::app::{ContactMethodInput, LevelInput, PolicyInput, ServiceOncallInput, TargetInput};
use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

mod support;

use support::arg;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn main() {
    let (rate, seconds, load) = (
        arg("--rate", 20).max(1),
        arg("--seconds", 10).max(1),
        arg("--load", 0),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(rate, seconds, load));
}

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    let app = Router::new().fallback(post(move |body: String| {
        let seen = seen.clone();
        async move {
            let value: Value = serde_json::from_str(&body).unwrap_or_default();
            // aplomb's page names the incident; Alertmanager's webhook lists its alerts.
            let mut names: Vec<String> = Vec::new();
            if let Some(title) = value["incident"]["title"].as_str() {
                names.push(format!("aplomb:{title}"));
            }
            for alert in value["alerts"].as_array().into_iter().flatten() {
                if let Some(n) = alert["labels"]["n"].as_str() {
                    names.push(format!("am:{n}"));
                }
            }
            let now = Instant::now();
            let mut seen = seen.lock().expect("arrivals");
            for name in names {
                seen.entry(name).or_insert(now);
            }
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, arrivals)
}

async fn run(rate: u64, seconds: u64, load: u64) {
    let count = rate * seconds;
    let (sink, arrivals) = receiver().await;
    let support::Server {
        app,
        address,
        engine,
        admin,
        dir,
    } = support::start("lat.db").await;

    app.add_contact_method(
        &admin,
        "admin",
        ContactMethodInput {
            kind: "webhook".into(),
            address: format!("{sink}/aplomb"),
        },
    )
    .await
    .expect("setup");
    let level = LevelInput {
        delay_minutes: 60,
        targets: vec![TargetInput {
            kind: "responder".into(),
            name: "admin".into(),
        }],
    };
    app.create_policy(
        &admin,
        PolicyInput {
            name: "bench".into(),
            repeat: 0,
            levels: vec![level],
        },
    )
    .await
    .expect("setup");
    let mut keys = Vec::new();
    for i in 0..count {
        let name = format!("svc-{i}");
        app.create_service(&admin, &name, "", "")
            .await
            .expect("setup");
        let oncall = ServiceOncallInput {
            team: None,
            escalation_policy: Some("bench".into()),
            tags: vec![],
            depends_on: vec![],
        };
        app.set_service_oncall(&admin, &name, oncall)
            .await
            .expect("setup");
        keys.push(
            app.create_integration(&admin, &name, "events_v2")
                .await
                .expect("setup")
                .routing_key,
        );
    }

    app.create_service(&admin, "background", "", "")
        .await
        .expect("setup");
    let background = app
        .create_integration(&admin, "background", "events_v2")
        .await
        .expect("setup")
        .routing_key;

    let alertmanager = start_alertmanager(&sink, dir.path()).await;
    let http = reqwest::Client::new();
    let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let senders: Vec<_> = (0..if load > 0 { 32 } else { 0 })
        .map(|sender| {
            let (http, key, accepted) = (http.clone(), background.clone(), accepted.clone());
            let url = format!("http://{address}/v2/enqueue");
            let interval = Duration::from_secs_f64(32.0 / load as f64);
            tokio::spawn(async move {
                let start = Instant::now();
                for n in 0..(load * seconds / 32) {
                    tokio::time::sleep_until((start + interval.mul_f64(n as f64)).into()).await;
                    let event = json!({"routing_key": key, "event_action": "trigger",
                        "dedup_key": format!("bg-{sender}-{n}"),
                        "payload": {"summary": "background", "source": "bench", "severity": "warning"}});
                    if let Ok(r) = http.post(&url).json(&event).send().await
                        && r.status().is_success()
                    {
                        accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        tokio::time::sleep_until((start + interval * i as u32).into()).await;
        let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("a{i}"),
                           "payload": {"summary": format!("latency-{i}"), "source": "bench", "severity": "critical"}});
        sent.insert(format!("aplomb:latency-{i}"), Instant::now());
        let r = http
            .post(format!("http://{address}/v2/enqueue"))
            .json(&event)
            .send()
            .await
            .expect("aplomb answers");
        assert!(r.status().is_success());
        if let Some((am, _)) = &alertmanager {
            let alert = json!([{"labels": {"alertname": "latency", "n": format!("{i}")}}]);
            sent.insert(format!("am:{i}"), Instant::now());
            http.post(format!("{am}/api/v2/alerts"))
                .json(&alert)
                .send()
                .await
                .expect("alertmanager answers");
        }
    }
    for sender in senders {
        let _ = sender.await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    engine.stop().await;
    let arrivals = arrivals.lock().expect("arrivals").clone();
    report("aplomb", "aplomb:", &sent, &arrivals, count);
    if let Some((_, mut child)) = alertmanager {
        report("alertmanager", "am:", &sent, &arrivals, count);
        let _ = child.start_kill();
    }
    println!(
        "rate {rate}/s for {seconds} s; each alert its own service (aplomb) or group (alertmanager)"
    );
    if load > 0 {
        let accepted = accepted.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "aplomb also took {accepted} background events ({:.0}/s of {load}/s asked)",
            accepted as f64 / seconds as f64
        );
    }
}

fn report(
    label: &str,
    prefix: &str,
    sent: &HashMap<String, Instant>,
    arrivals: &HashMap<String, Instant>,
    count: u64,
) {
    let mut ms: Vec<f64> = sent
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter_map(|(k, at)| {
            arrivals
                .get(k)
                .map(|a| a.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        ms.get(((ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{label}: {} of {count} delivered | p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms.len(),
        pct(0.5),
        pct(0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

async fn start_alertmanager(
    sink: &str,
    dir: &std::path::Path,
) -> Option<(String, tokio::process::Child)> {
    let binary = "/usr/bin/prometheus-alertmanager";
    if !std::path::Path::new(binary).exists() {
        println!("Alertmanager not installed: its run is skipped");
        return None;
    }
    let config = format!(
        "route:\n  receiver: sink\n  group_by: ['n']\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: sink\n    webhook_configs:\n      - url: '{sink}/am'\n"
    );
    std::fs::write(dir.join("am.yml"), config).ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let child = tokio::process::Command::new(binary)
        .arg(format!("--config.file={}", dir.join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=error")
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{url}/-/ready"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Some((url, child));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
