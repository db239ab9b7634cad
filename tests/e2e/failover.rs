//! PostgreSQL fails over in the middle of an alert storm. The test makes two clusters of its
//! own on free ports with Debian's tools (never the machine's cluster on 5432): a primary and
//! a synchronous streaming standby from `pg_basebackup`. aplomb runs on a multi-host URL with
//! `target_session_attrs=read-write`; the primary is stopped at once and the standby
//! promoted, and aplomb carries on against the new primary by itself, losing no event it
//! acknowledged. And a lone PostgreSQL stopped and started again under load: meanwhile every
//! answer is a clean 503 and `/readyz` says so, and aplomb recovers without a restart.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::crash::{
    assert_none_lost, free_port, queue_event, service_with_integration, start_server, stored_keys,
};
use crate::helpers::{ADMIN_TOKEN, required};
use crate::sinks::eventually;

/// Runs a command to its end; panics with its output when it fails.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PostgreSQL cluster of this test's, dropped with it.
struct Cluster {
    version: String,
    name: String,
    port: u16,
}

impl Cluster {
    fn new(version: &str, name: String, port: u16) -> Self {
        // One left by an earlier run that was killed goes first.
        let _ = Command::new("pg_dropcluster")
            .args(["--stop", version, &name])
            .output();
        let port_text = port.to_string();
        run(
            "pg_createcluster",
            &[version, &name, "-p", &port_text, "--", "--auth=trust"],
        );
        Self {
            version: version.into(),
            name,
            port,
        }
    }

    fn config(&self) -> String {
        format!(
            "/etc/postgresql/{}/{}/postgresql.conf",
            self.version, self.name
        )
    }

    fn data(&self) -> String {
        format!("/var/lib/postgresql/{}/{}", self.version, self.name)
    }

    fn configure(&self, lines: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.config())
            .expect("the cluster's configuration");
        writeln!(file, "{lines}").expect("written");
    }

    fn ctl(&self, args: &[&str]) {
        let mut all = vec![self.version.as_str(), self.name.as_str()];
        all.extend_from_slice(args);
        run("pg_ctlcluster", &all);
    }

    /// A primary whose commits wait until a standby has them.
    fn primary(version: &str, name: String, port: u16) -> Self {
        let cluster = Self::new(version, name, port);
        cluster.configure("listen_addresses = '127.0.0.1'\nsynchronous_standby_names = '*'");
        cluster.ctl(&["start"]);
        cluster
    }

    /// A lone server, with a database `aplomb`.
    fn single(version: &str, name: String, port: u16) -> Self {
        let cluster = Self::new(version, name, port);
        cluster.configure("listen_addresses = '127.0.0.1'");
        cluster.ctl(&["start"]);
        cluster.create_database();
        cluster
    }

    fn create_database(&self) {
        let port = self.port.to_string();
        run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-qc",
                "CREATE DATABASE aplomb",
            ],
        );
    }

    /// A streaming standby of `primary`, made from its base backup.
    fn standby(primary: &Cluster, name: String, port: u16) -> Self {
        let cluster = Self::new(&primary.version, name, port);
        cluster.configure("listen_addresses = '127.0.0.1'");
        let data = cluster.data();
        // Emptied, not removed: postgres owns the directory, and pg_basebackup runs as it.
        for entry in std::fs::read_dir(&data).expect("the new cluster's data") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
            .expect("removed");
        }
        let backup = format!(
            "pg_basebackup -h 127.0.0.1 -p {} -U postgres -D {data} -R -X stream",
            primary.port
        );
        run("su", &["postgres", "-c", &backup]);
        cluster.ctl(&["start"]);
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("pg_dropcluster")
            .args(["--stop", &self.version, &self.name])
            .output();
    }
}

/// The installed PostgreSQL version with Debian's cluster tools, run as root; `None` (or a
/// panic under CI) when they are not here.
fn cluster_tools() -> Option<String> {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned());
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let tools = Command::new("pg_createcluster")
        .arg("--help")
        .output()
        .is_ok();
    match version {
        Some(v) if root && tools => Some(v),
        _ => {
            assert!(
                !required(),
                "PostgreSQL's cluster tools, as root, are required under CI"
            );
            eprintln!("NOTICE: skipping the failover: needs pg_createcluster as root");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fails_over_mid_storm_and_no_acknowledged_event_is_lost() {
    let Some(version) = cluster_tools() else {
        return;
    };
    let id = std::process::id();
    let (p1, p2) = (free_port(), free_port());
    let primary = Cluster::primary(&version, format!("aplomb_primary_{id}"), p1);
    let standby = Cluster::standby(&primary, format!("aplomb_standby_{id}"), p2);
    primary.create_database();
    let url = format!(
        "postgres://postgres@127.0.0.1:{p1},127.0.0.1:{p2}/aplomb?target_session_attrs=read-write"
    );
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&url, port, &[]).await;
    let http = reqwest::Client::new();
    let key = service_with_integration(&http, &base, "queue").await;

    // 10 senders, 60 events each; a sender tries an event again until it is acknowledged
    // (503 while the database is away), as a monitoring system's retry queue would.
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let refused = Arc::new(Mutex::new(0_usize));
    let senders: Vec<_> = (0..10)
        .map(|sender| {
            let (http, base, key) = (http.clone(), base.clone(), key.clone());
            let (accepted, refused) = (accepted.clone(), refused.clone());
            tokio::spawn(async move {
                for i in 0..60 {
                    let dedup = format!("s{sender}-e{i}");
                    let event = queue_event(&key, &dedup);
                    let mut tries = 0;
                    loop {
                        let answer = http
                            .post(format!("{base}/v2/enqueue"))
                            .json(&event)
                            .send()
                            .await;
                        match answer.map(|r| r.status()) {
                            Ok(StatusCode::ACCEPTED) => break,
                            Ok(status) => {
                                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{dedup}")
                            }
                            Err(e) => panic!("aplomb stopped answering: {e}"),
                        }
                        *refused.lock().expect("lock") += 1;
                        tries += 1;
                        assert!(tries < 120, "{dedup} was refused for 30 s");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    accepted.lock().expect("lock").push(dedup);
                }
            })
        })
        .collect();
    for _ in 0..600 {
        if accepted.lock().expect("lock").len() >= 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = accepted.lock().expect("lock").len();
    primary.ctl(&["stop", "-m", "immediate"]);
    standby.ctl(&["promote"]);
    for s in senders {
        s.await.expect("a sender finished");
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert!(
        (150..600).contains(&before),
        "the failover came mid-storm, after {before} events"
    );
    assert_eq!(
        accepted.len(),
        600,
        "every event was acknowledged in the end"
    );

    assert_none_lost(&http, &base, &accepted).await;
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz answers");
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "ready again on the new primary"
    );
    eprintln!(
        "failover: {before} events before it, {} refusals (503) while it happened",
        refused.lock().expect("lock")
    );
    server.start_kill().expect("stop");
    let _ = server.wait().await;
    drop(standby);
    drop(primary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_answers_503_and_aplomb_recovers_by_itself() {
    let Some(version) = cluster_tools() else {
        return;
    };
    let db_port = free_port();
    let cluster = Cluster::single(
        &version,
        format!("aplomb_restart_{}", std::process::id()),
        db_port,
    );
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let url = format!("postgres://postgres@127.0.0.1:{db_port}/aplomb");
    let mut server = start_server(&url, port, &[]).await;
    let http = reqwest::Client::new();
    let key = service_with_integration(&http, &base, "queue").await;
    let send = |dedup: String| {
        let (http, base) = (http.clone(), base.clone());
        let body = queue_event(&key, &dedup);
        async move {
            http.post(format!("{base}/v2/enqueue"))
                .json(&body)
                .send()
                .await
                .expect("aplomb answers")
                .status()
        }
    };
    assert_eq!(send("before".into()).await, StatusCode::ACCEPTED);

    cluster.ctl(&["stop", "-m", "fast"]);
    // While it is down: readiness says so, the API answers 503 in its error shape.
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let incidents = http
        .get(format!("{base}/api/v1/incidents"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("an answer");
    assert_eq!(incidents.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = incidents.json().await.expect("the error shape");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert_eq!(send("during".into()).await, StatusCode::SERVICE_UNAVAILABLE);
    let alive = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert!(alive.status().is_success(), "the process itself is alive");

    cluster.ctl(&["start"]);
    eventually("aplomb is ready again", || {
        let http = http.clone();
        let url = format!("{base}/readyz");
        async move {
            let status = http.get(url).send().await.ok()?.status();
            (status == StatusCode::OK).then_some(())
        }
    })
    .await;
    // Under load again: 200 events from 10 senders, all acknowledged and all kept.
    let senders: Vec<_> = (0..10)
        .map(|s| {
            let sends: Vec<_> = (0..20).map(|i| send(format!("after-{s}-{i}"))).collect();
            tokio::spawn(async move {
                for sent in sends {
                    assert_eq!(sent.await, StatusCode::ACCEPTED);
                }
            })
        })
        .collect();
    for s in senders {
        s.await.expect("a sender finished");
    }
    let count = eventually("every event is kept", || async {
        let n = stored_keys(&http, &base).await?.len();
        (n == 201).then_some(n)
    })
    .await;
    assert_eq!(
        count, 201,
        "the one before and the 200 after; none from the outage"
    );
    server.start_kill().expect("stop");
    let _ = server.wait().await;
}
