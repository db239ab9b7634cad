//! Big incidents, many viewers (shared/design/PERFORMANCE.md scenario 6): an incident whose timeline holds
//! `--entries` entries (alerts that joined it), its page and API read at that size, and then
//! `--viewers` browsers following it live (each holds the page's event stream and fetches the
//! live update on every announcement, as app.js does) while new alerts join it at `--rate`
//! events per second for `--seconds`. Ingestion latency is measured with and without the viewers.
//!
//! Run: `cargo bench --bench big_incident -- --entries 50000 --viewers 50 --rate 1000 --seconds 10`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aplomb::app::NewUser;
use serde_json::{Value, json};

mod support;

use support::arg;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(
        arg("--entries", 50_000),
        arg("--viewers", 50),
        arg("--rate", 1_000).max(1),
        arg("--seconds", 10).max(1),
    ));
}

/// One server and what the bench needs to talk to it.
struct Bench {
    base: String,
    http: reqwest::Client,
    routing_key: String,
    cookie: String,
}

async fn run(entries: u64, viewers: u64, rate: u64, seconds: u64) {
    let support::Server {
        app,
        address,
        engine,
        admin,
        dir: _dir,
    } = support::start("big.db").await;
    let viewer = NewUser {
        username: "viewer".into(),
        display_name: None,
        password: Some("a long bench password".into()),
        role: "viewer".into(),
    };
    app.create_user(&admin, viewer).await.expect("setup");
    app.create_service(&admin, "big", "", "")
        .await
        .expect("setup");
    let routing_key = app
        .create_integration(&admin, "big", "events_v2")
        .await
        .expect("setup")
        .routing_key
        .expect("a new integration shows its routing key");
    let base = format!("http://{address}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = sign_in(&http, &base).await;
    let bench = Arc::new(Bench {
        base,
        http,
        routing_key,
        cookie,
    });

    // The first critical alert opens the incident; every later one joins it with an entry.
    assert!(bench.trigger("first", "critical").await.is_some());
    let incident = bench.incident_of_first_alert().await;
    let started = Instant::now();
    fill(&bench, entries).await;
    println!(
        "incident #{incident}: {entries} alerts joined in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let page = format!("/incidents/{incident}");
    let (bytes, times) = bench.fetch_times(&page, 20).await;
    println!(
        "incident page: {} KB, p50 {:.1} ms, max {:.1} ms over 20 loads",
        bytes / 1024,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 1.0))
    );
    let api = format!("/api/v1/incidents/{incident}/timeline");
    let (bytes, times) = bench.fetch_times(&api, 20).await;
    println!(
        "GET {api} (default page): {} KB, p50 {:.1} ms",
        bytes / 1024,
        ms(percentile(&times, 0.5))
    );
    let before = bench.last_entry(incident).await;
    assert!(bench.trigger("one more", "warning").await.is_some());
    let (bytes, times) = bench
        .fetch_times(&format!("/incidents/{incident}/live?after={before}"), 20)
        .await;
    println!(
        "live update for one new entry: {:.1} KB, p50 {:.1} ms",
        bytes as f64 / 1024.0,
        ms(percentile(&times, 0.5))
    );

    let alone = ingest(&bench, "alone", rate, seconds).await;
    report("ingestion, no viewers", &alone, rate, seconds);

    let fetched = Arc::new(AtomicU64::new(0));
    let fetched_bytes = Arc::new(AtomicU64::new(0));
    let after = bench.last_entry(incident).await;
    let watching: Vec<_> = (0..viewers)
        .map(|_| {
            let (bench, fetched, fetched_bytes) =
                (bench.clone(), fetched.clone(), fetched_bytes.clone());
            tokio::spawn(
                async move { follow(&bench, incident, after, &fetched, &fetched_bytes).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let watched = ingest(&bench, "watched", rate, seconds).await;
    for viewer in &watching {
        viewer.abort();
    }
    report(
        &format!("ingestion, {viewers} viewers"),
        &watched,
        rate,
        seconds,
    );
    let updates = fetched.load(Ordering::Relaxed);
    println!(
        "viewers fetched {updates} live updates ({:.1}/s each, {:.1} KB on average)",
        updates as f64 / viewers.max(1) as f64 / seconds as f64,
        fetched_bytes.load(Ordering::Relaxed) as f64 / updates.max(1) as f64 / 1024.0
    );
    println!(
        "p99 with viewers / without: {:.2}x (floor 2x)",
        percentile(&watched, 0.99).as_secs_f64() / percentile(&alone, 0.99).as_secs_f64()
    );
    engine.stop().await;
}

async fn sign_in(http: &reqwest::Client, base: &str) -> String {
    let response = http
        .post(format!("{base}/login"))
        .form(&[
            ("username", "viewer"),
            ("password", "a long bench password"),
            ("next", "/incidents"),
        ])
        .send()
        .await
        .expect("login answers");
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}

impl Bench {
    /// Sends one trigger; how long until it was acknowledged, if it was.
    async fn trigger(&self, dedup_key: &str, severity: &str) -> Option<Duration> {
        let event = json!({"routing_key": self.routing_key, "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {"summary": format!("bench {dedup_key}"), "source": "bench", "severity": severity}});
        let sent = Instant::now();
        let response = self
            .http
            .post(format!("{}/v2/enqueue", self.base))
            .json(&event)
            .send()
            .await
            .ok()?;
        response.status().is_success().then(|| sent.elapsed())
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .bearer_auth("bench")
            .send()
            .await
            .expect("aplomb answers")
    }

    async fn incident_of_first_alert(&self) -> i64 {
        let alerts: Value = self
            .get("/api/v1/alerts?service=big")
            .await
            .json()
            .await
            .expect("json");
        alerts[0]["incident_id"]
            .as_i64()
            .expect("the first critical alert opened an incident")
    }

    async fn last_entry(&self, incident: i64) -> i64 {
        let entries: Value = self
            .get(&format!("/api/v1/incidents/{incident}/timeline?limit=1"))
            .await
            .json()
            .await
            .expect("json");
        entries[0]["id"].as_i64().expect("an entry")
    }

    /// The size of `path`'s answer and how long each of `times` loads took.
    async fn fetch_times(&self, path: &str, times: usize) -> (usize, Vec<Duration>) {
        let mut took = Vec::with_capacity(times);
        let mut size = 0;
        for _ in 0..times {
            let start = Instant::now();
            let response = self.get(path).await;
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            size = response.bytes().await.expect("body").len();
            took.push(start.elapsed());
        }
        (size, took)
    }
}

/// Joins `entries` alerts to the incident, 32 senders at a time.
async fn fill(bench: &Arc<Bench>, entries: u64) {
    let senders: Vec<_> = (0..32)
        .map(|sender| {
            let bench = bench.clone();
            tokio::spawn(async move {
                for n in (sender..entries).step_by(32) {
                    assert!(
                        bench
                            .trigger(&format!("fill-{n}"), "warning")
                            .await
                            .is_some()
                    );
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
}

/// New alerts joining the incident at `rate` per second for `seconds`, from 16 senders; the
/// latency of each acknowledged one.
async fn ingest(bench: &Arc<Bench>, name: &str, rate: u64, seconds: u64) -> Vec<Duration> {
    let interval = Duration::from_secs_f64(16.0 / rate as f64);
    let senders: Vec<_> = (0..16)
        .map(|sender| {
            let (bench, name) = (bench.clone(), name.to_string());
            tokio::spawn(async move {
                let start = Instant::now();
                let mut took = Vec::new();
                for n in 0..(rate * seconds / 16) {
                    tokio::time::sleep_until((start + interval.mul_f64(n as f64)).into()).await;
                    if let Some(t) = bench
                        .trigger(&format!("{name}-{sender}-{n}"), "warning")
                        .await
                    {
                        took.push(t);
                    }
                }
                took
            })
        })
        .collect();
    let mut all = Vec::new();
    for sender in senders {
        all.extend(sender.await.expect("sender"));
    }
    all
}

/// One browser following the incident: the event stream, and on each announcement the live
/// update after the last entry it has (announcements that arrive meanwhile make one fetch).
async fn follow(
    bench: &Bench,
    incident: i64,
    mut after: i64,
    fetched: &AtomicU64,
    fetched_bytes: &AtomicU64,
) {
    let mut events = bench.get(&format!("/incidents/{incident}/events")).await;
    while let Ok(Some(chunk)) = events.chunk().await {
        if !String::from_utf8_lossy(&chunk).contains("event: changed") {
            continue;
        }
        let update = bench
            .get(&format!("/incidents/{incident}/live?after={after}"))
            .await
            .text()
            .await
            .unwrap_or_default();
        fetched.fetch_add(1, Ordering::Relaxed);
        fetched_bytes.fetch_add(update.len() as u64, Ordering::Relaxed);
        if let Some(last) = update
            .split("id=\"timeline-new\"")
            .nth(1)
            .and_then(|rest| rest.split("data-after=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .and_then(|n| n.parse().ok())
        {
            after = last;
        }
    }
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(name: &str, samples: &[Duration], rate: u64, seconds: u64) {
    println!(
        "{name}: {} of {} acknowledged, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        rate * seconds,
        ms(percentile(samples, 0.5)),
        ms(percentile(samples, 0.99)),
        ms(percentile(samples, 1.0))
    );
}
