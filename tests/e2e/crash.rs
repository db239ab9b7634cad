//! Durable before acknowledged: the real server process is killed with SIGKILL while events
//! stream in; after a restart, every event that got a 202 is there.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::{ADMIN_TOKEN, Db, TestDb};

crate::for_both_backends!(every_acknowledged_event_survives_a_sigkill);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_instances_killed_mid_storm_loses_no_acknowledged_event() {
    every_acknowledged_event_survives_one_of_two_instances_killed().await;
}

/// Starts the real binary on `port` and waits until it takes connections; `extra` adds flags.
pub async fn start_server(url: &str, port: u16, extra: &[&str]) -> Child {
    start_server_with(url, port, extra, Stdio::null()).await
}

/// Like `start_server`, with its log (standard error) going to `log`.
pub async fn start_server_with(url: &str, port: u16, extra: &[&str], log: Stdio) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            url,
        ])
        .args(extra)
        .env("APLOMB_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not start listening");
}

/// A trigger of the storm tests' `queue` service.
pub fn queue_event(key: &str, dedup: &str) -> Value {
    json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
           "payload": {"summary": "queue depth high", "source": "q", "severity": "warning"}})
}

/// The dedup keys of the alerts `base` lists for `queue`; `None` while it cannot answer.
pub async fn stored_keys(http: &reqwest::Client, base: &str) -> Option<Vec<String>> {
    let alerts: Value = http
        .get(format!("{base}/api/v1/alerts?service=queue&limit=1000"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        alerts
            .as_array()?
            .iter()
            .filter_map(|a| a["dedup_key"].as_str().map(String::from))
            .collect(),
    )
}

/// Waits until `base` lists as many alerts of `queue` as were `accepted` (10 s at most), then
/// asserts that each accepted key is among them.
pub async fn assert_none_lost(http: &reqwest::Client, base: &str, accepted: &[String]) {
    let stored = crate::sinks::eventually("every acknowledged event is listed", || async {
        stored_keys(http, base)
            .await
            .filter(|keys| keys.len() >= accepted.len())
    })
    .await;
    let lost: Vec<&String> = accepted.iter().filter(|k| !stored.contains(k)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost: {lost:?}",
        lost.len()
    );
}

/// Creates `service` with an events_v2 integration on a running server; returns its routing key.
pub async fn service_with_integration(http: &reqwest::Client, base: &str, service: &str) -> String {
    let post = |path: String, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    post("/api/v1/services".into(), json!({"name": service}))
        .await
        .expect("service");
    let integration: Value = post(
        format!("/api/v1/services/{service}/integrations"),
        json!({"kind": "events_v2"}),
    )
    .await
    .expect("integration")
    .json()
    .await
    .expect("json");
    integration["routing_key"]
        .as_str()
        .expect("a routing key")
        .to_string()
}

pub fn free_port() -> u16 {
    // Below Linux's ephemeral range (32768 and up): a port the kernel handed out and took back
    // could be given to another test's outgoing connection before the server binds it. Each
    // call takes the next port of this process's own run of them, skipping any in use.
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 1000) as u16 * 10;
    loop {
        let port = start + NEXT.fetch_add(1, Ordering::Relaxed) % 2_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

async fn every_acknowledged_event_survives_a_sigkill(db: Db) {
    let Some(test_db) = TestDb::new(db).await else {
        return;
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&test_db.url, port, &[]).await;
    let http = reqwest::Client::new();
    let key = service_with_integration(&http, &base, "queue").await;

    // 20 senders, 40 events each at most, recording every key that was acknowledged.
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let senders: Vec<_> = (0..20)
        .map(|sender| {
            let (http, base, key, accepted) =
                (http.clone(), base.clone(), key.clone(), accepted.clone());
            tokio::spawn(async move {
                for i in 0..40 {
                    let dedup = format!("s{sender}-e{i}");
                    let event = queue_event(&key, &dedup);
                    match http
                        .post(format!("{base}/v2/enqueue"))
                        .json(&event)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == StatusCode::ACCEPTED => {
                            accepted.lock().expect("lock").push(dedup)
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Kill it mid-stream.
    for _ in 0..200 {
        if accepted.lock().expect("lock").len() >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.start_kill().expect("SIGKILL");
    server.wait().await.expect("it died");
    for s in senders {
        let _ = s.await;
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert!(
        accepted.len() >= 200,
        "the kill came mid-stream, after {} events",
        accepted.len()
    );
    assert!(accepted.len() < 800, "and before the end");

    let mut server = start_server(&test_db.url, port, &[]).await;
    assert_none_lost(&http, &base, &accepted).await;
    server.start_kill().expect("stop");
    let _ = server.wait().await;
}

/// Two instances on one PostgreSQL database take a storm together, as behind a load balancer;
/// one is SIGKILLed mid-stream and its senders go on to the other. Every event either
/// acknowledged is stored, and the survivor serves them all.
async fn every_acknowledged_event_survives_one_of_two_instances_killed() {
    let Some(test_db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let ports = [free_port(), free_port()];
    let bases = ports.map(|p| format!("http://127.0.0.1:{p}"));
    let mut doomed = start_server(&test_db.url, ports[0], &[]).await;
    let mut survivor = start_server(&test_db.url, ports[1], &[]).await;
    let http = reqwest::Client::new();
    let key = service_with_integration(&http, &bases[0], "queue").await;

    // 20 senders, half to each instance, 40 events each; a sender whose instance stops
    // answering sends the unanswered event, and the rest, to the other.
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let senders: Vec<_> = (0..20)
        .map(|sender| {
            let (http, key, accepted) = (http.clone(), key.clone(), accepted.clone());
            let mut targets = vec![bases[sender % 2].clone(), bases[1].clone()];
            targets.dedup();
            tokio::spawn(async move {
                let mut target = 0;
                for i in 0..40 {
                    let dedup = format!("s{sender}-e{i}");
                    let event = queue_event(&key, &dedup);
                    loop {
                        let sent = http
                            .post(format!("{}/v2/enqueue", targets[target]))
                            .json(&event)
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status() == StatusCode::ACCEPTED => {
                                accepted.lock().expect("lock").push(dedup);
                                break;
                            }
                            Ok(r) => panic!("{} answered {}", targets[target], r.status()),
                            Err(_) if target + 1 < targets.len() => target += 1,
                            Err(e) => panic!("the survivor did not answer: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for _ in 0..400 {
        if accepted.lock().expect("lock").len() >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    doomed.start_kill().expect("SIGKILL");
    doomed.wait().await.expect("it died");
    let killed_after = accepted.lock().expect("lock").len();
    for s in senders {
        s.await.expect("a sender finished");
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert!(
        (200..800).contains(&killed_after),
        "the kill came mid-stream, after {killed_after} events"
    );
    assert_eq!(accepted.len(), 800, "the survivor took the rest");

    assert_none_lost(&http, &bases[1], &accepted).await;
    survivor.start_kill().expect("stop");
    let _ = survivor.wait().await;
}
