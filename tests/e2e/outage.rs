//! The database goes away and comes back (PostgreSQL: SQLite is a file in the process, with no
//! connection to lose). The event writer reconnects by itself, and while the database is
//! unreachable every answer is 503 in the API's error shape, never a 500.

use reqwest::{Method, StatusCode};

use crate::alerts::{enqueue, monitored_service, trigger};
use crate::helpers::{Db, TestApp, pg_connect, required};
use crate::sinks::WebhookSink;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_reconnects_after_postgres_drops_its_connections_and_an_outage_answers_503() {
    let hooks = WebhookSink::start(0).await;
    let Some(app) = TestApp::spawn(Db::Postgres).await else {
        return;
    };
    let key = monitored_service(&app, &hooks.url).await;
    let (status, _) = enqueue(&app, "/v2/enqueue", &trigger(&key, "one", "info")).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // An administrator ends every session of aplomb's database (as a restart or failover would).
    let name = app
        .database_url
        .rsplit('/')
        .next()
        .expect("a name")
        .to_string();
    let admin_url = std::env::var("APLOMB_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = match pg_connect(&admin_url).await {
        Ok(c) => c,
        Err(e) if required() => panic!("PostgreSQL is required under CI: {e}"),
        Err(_) => return,
    };
    let end_sessions =
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'");
    admin.batch_execute(&end_sessions).await.expect("terminate");

    // The next event is stored: the writer took a new connection and ran its batch again.
    let (status, body) = enqueue(&app, "/v2/enqueue", &trigger(&key, "two", "info")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = app.admin(Method::GET, "/api/v1/alerts", None).await;
    assert_eq!(status, StatusCode::OK);

    // The database refuses connections for a while: 503s in the error shape, no 500.
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .expect("close the database");
    admin.batch_execute(&end_sessions).await.expect("terminate");
    let (status, body) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let (status, body) = enqueue(&app, "/v2/enqueue", &trigger(&key, "three", "info")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let ready = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Back again: everything works without a restart.
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .expect("open the database");
    let (status, body) = enqueue(&app, "/v2/enqueue", &trigger(&key, "four", "info")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = app.admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(status, StatusCode::OK);
    app.shutdown().await;
}

/// A libpq-style URL with several hosts: the first refuses connections (a primary that is down),
/// the second is the database. aplomb starts, answers, and keeps working through the second;
/// `target_session_attrs=read-write` is understood (a standby, read-only, would be skipped the
/// same way: this machine has one PostgreSQL server, so only the unreachable host is shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_with_several_hosts_reaches_the_one_that_answers() {
    let hooks = WebhookSink::start(0).await;
    let Some(app) = TestApp::spawn(Db::Postgres).await else {
        return;
    };
    let url = &app.database_url;
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, hosts_and_path) = match rest.split_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let several =
        format!("{scheme}://{user}127.0.0.1:1,{hosts_and_path}?target_session_attrs=read-write");
    let second = app.another_instance_at(several).await;
    let key = monitored_service(&second, &hooks.url).await;
    let (status, body) = enqueue(&second, "/v2/enqueue", &trigger(&key, "one", "critical")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // What the second instance stored, the first (on the plain URL) reads.
    let (status, body) = app.admin(Method::GET, "/api/v1/alerts", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["dedup_key"], "one", "{body}");
}
