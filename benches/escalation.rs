//! How late do escalation steps fire, with 100,000 of them pending, and does each fire exactly
//! once? Run: `cargo bench --bench escalation` (options: `-- --steps N --window-secs S`).
//!
//! Schedules N escalation steps due evenly over a window starting a few seconds ahead, runs the
//! real paging engine (one instance on SQLite; two instances sharing one PostgreSQL, when
//! reachable at APLOMB_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/postgres), waits for
//! every step, then reports lateness (page time − due time) as p50/p99/max, duplicates and
//! misses. Page time is when the step's batch started firing; its commit follows within
//! milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aplomb::app::{DeclareInput, LevelInput, PolicyInput, TargetInput};
use aplomb::clock::{Clock, SystemClock};
use aplomb::engine::channels::OutboundConfig;
use aplomb::server::{ServeOptions, prepare, start_engine};
use jiff::{SignedDuration, Timestamp};

struct Args {
    steps: usize,
    window_secs: i64,
}

fn args() -> Args {
    let mut args = Args {
        steps: 100_000,
        window_secs: 60,
    };
    let raw: Vec<String> = std::env::args().collect();
    for pair in raw.windows(2) {
        match pair[0].as_str() {
            "--steps" => args.steps = pair[1].parse().expect("--steps N"),
            "--window-secs" => args.window_secs = pair[1].parse().expect("--window-secs S"),
            _ => {}
        }
    }
    args
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
        run("SQLite, 1 instance", &sqlite, 1, &args).await;
        match postgres_database().await {
            Some(url) => run("PostgreSQL, 2 instances", &url, 2, &args).await,
            None => println!("PostgreSQL unreachable: its run is skipped"),
        }
    });
}

async fn postgres_database() -> Option<String> {
    let admin = std::env::var("APLOMB_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (conn, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    conn.batch_execute("DROP DATABASE IF EXISTS aplomb_bench WITH (FORCE)")
        .await
        .ok()?;
    conn.batch_execute("CREATE DATABASE aplomb_bench")
        .await
        .ok()?;
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string())?;
    Some(format!("{base}/aplomb_bench"))
}

async fn run(label: &str, url: &str, instances: usize, args: &Args) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut options = ServeOptions::new("127.0.0.1:0", url);
    options.admin_token = Some("bench".into());
    let app = prepare(&options, clock.clone())
        .await
        .expect("aplomb starts");
    let admin = app
        .actor_for_token("bench")
        .await
        .expect("token")
        .expect("admin");
    let policy = app
        .create_policy(
            &admin,
            PolicyInput {
                name: "bench".into(),
                repeat: 0,
                levels: vec![LevelInput {
                    delay_minutes: 1440,
                    targets: vec![TargetInput {
                        kind: "responder".into(),
                        name: "admin".into(),
                    }],
                }],
            },
        )
        .await
        .expect("policy");
    let (incident, _) = app
        .declare(
            &admin,
            DeclareInput {
                title: "Escalation benchmark".into(),
                severity: "SEV4".into(),
                ..DeclareInput::default()
            },
            None,
        )
        .await
        .expect("incident");
    let incident = incident.incident.id;

    let start = clock.now() + SignedDuration::from_secs(10);
    let step =
        SignedDuration::from_secs(args.window_secs) / i32::try_from(args.steps).expect("steps fit");
    let due: Vec<Timestamp> = (0..args.steps)
        .map(|i| start + step * i32::try_from(i).expect("fits"))
        .collect();
    let setup = Instant::now();
    for chunk in due.chunks(5_000) {
        let items: Vec<(i64, i64, Timestamp)> =
            chunk.iter().map(|d| (incident, policy, *d)).collect();
        app.store
            .start_escalations(&items, clock.now())
            .await
            .expect("insert");
    }
    println!(
        "{label}: {} steps pending, due over {} s from {} (scheduled in {:.1} s)",
        args.steps,
        args.window_secs,
        start,
        setup.elapsed().as_secs_f64()
    );
    assert!(
        clock.now() < start,
        "scheduling took longer than the lead time; lower --steps"
    );

    let mut engines = Vec::new();
    for i in 0..instances {
        let instance = if i == 0 {
            app.clone()
        } else {
            prepare(&options, clock.clone())
                .await
                .expect("another instance")
        };
        engines.push(
            start_engine(
                &instance,
                OutboundConfig::default(),
                Duration::from_millis(200),
            )
            .await
            .expect("engine"),
        );
    }

    // Wait for the window to pass and every step to fire (or give up well after).
    let deadline =
        Instant::now() + Duration::from_secs(u64::try_from(args.window_secs).unwrap_or(60) + 120);
    let firings = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let firings = app.store.page_times(incident).await.expect("pages");
        if firings.len() >= args.steps || Instant::now() > deadline {
            break firings;
        }
    };
    for engine in engines {
        engine.stop().await;
    }

    let first_id = firings.iter().filter_map(|(e, _)| *e).min().unwrap_or(0);
    let mut seen = vec![0u32; args.steps];
    let mut late_ms: Vec<i64> = Vec::with_capacity(firings.len());
    for (escalation, at) in &firings {
        let Some(index) = escalation.and_then(|e| usize::try_from(e - first_id).ok()) else {
            continue;
        };
        if let Some(count) = seen.get_mut(index) {
            *count += 1;
            late_ms.push(at.duration_since(due[index]).as_millis() as i64);
        }
    }
    let duplicates = seen.iter().filter(|c| **c > 1).count();
    let misses = seen.iter().filter(|c| **c == 0).count();
    late_ms.sort_unstable();
    let pct = |p: f64| {
        late_ms
            .get(((late_ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{label}: fired {} of {} | lateness p50 {} ms, p99 {} ms, max {} ms | duplicates {duplicates}, misses {misses}",
        firings.len(),
        args.steps,
        pct(0.50),
        pct(0.99),
        late_ms.last().copied().unwrap_or(0),
    );
    app.store.close().await;
}
