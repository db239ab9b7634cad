//! The web UI over plain HTTP (no browser): sessions, CSRF, first-run setup and demo data.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Db, TestApp};

crate::on_both_backends!(
    forms_need_a_session_and_its_csrf_token,
    pages_render_for_a_signed_in_responder,
    a_responder_makes_an_api_token_on_the_tokens_page_and_revokes_it
);

async fn forms_need_a_session_and_its_csrf_token(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let id = app
        .declare(&bob, json!({"title": "VPN down", "severity": "SEV2"}))
        .await;

    // Without a session a page redirects to the login form.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = anonymous
        .get(format!("{}/incidents/{id}", app.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        format!("/login?next=/incidents/{id}")
    );

    let web = app.web_session("bob").await;
    let forged = web
        .post_form(
            &format!("/incidents/{id}/notes"),
            &[("csrf", "forged"), ("text", "x")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let csrf = web.csrf().await;
    let posted = web
        .post_form(
            &format!("/incidents/{id}/notes"),
            &[("csrf", &csrf), ("text", "Tunnel flapping since 09:12")],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let (_, html) = web.page(&format!("/incidents/{id}")).await;
    assert!(html.contains("Tunnel flapping since 09:12"));

    // A rule violation comes back as a readable message on the page.
    let refused = web
        .post_form(
            &format!("/incidents/{id}/status"),
            &[("csrf", &csrf), ("status", "triage")],
        )
        .await;
    let location = refused.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        location.starts_with(&format!("/incidents/{id}?error=")),
        "{location}"
    );
    let (_, html) = web.page(&location).await;
    assert!(html.contains("already triage"), "{html}");

    // Signing out ends the session.
    let out = web.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let r = web.get("/incidents").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

async fn pages_render_for_a_signed_in_responder(app: TestApp) {
    app.user("bob", "responder").await;
    let web = app.web_session("bob").await;
    let csrf = web.csrf().await;
    let declared = web
        .post_form(
            "/incidents",
            &[
                ("csrf", &csrf),
                ("title", "Printer on fire"),
                ("severity", "SEV4"),
                ("incident_type", "other"),
                ("private", "on"),
            ],
        )
        .await;
    assert_eq!(declared.status(), StatusCode::SEE_OTHER);
    let location = declared.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    let (status, html) = web.page(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Printer on fire") && html.contains("private"));
    let (status, html) = web.page("/incidents/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Declare an incident"));
    let (status, _) = web.page("/users").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "responders are refused the admin page"
    );
    let (status, _) = web.page("/static/app.js").await;
    assert_eq!(status, StatusCode::OK);

    // A responder keeps their own profile, contact methods and notification rules.
    for (path, form) in [
        (
            "/responders/me/profile",
            vec![("time_zone", "Europe/Lisbon"), ("skills", "network, dns")],
        ),
        (
            "/responders/me/contact-methods",
            vec![("kind", "sms"), ("address", "+351910000003")],
        ),
    ] {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(form);
        let r = web.post_form(path, &fields).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{path}: {:?}",
            r.text().await
        );
    }
    let bad = web
        .post_form(
            "/responders/me/contact-methods",
            &[("csrf", &csrf), ("kind", "email"), ("address", "nope")],
        )
        .await;
    assert!(
        bad.headers()["location"]
            .to_str()
            .expect("ascii")
            .starts_with("/responders?error=")
    );
    let (_, html) = web.page("/responders").await;
    assert!(
        html.contains("Europe/Lisbon") && html.contains("network, dns"),
        "{html}"
    );
    let id_at = html
        .find("<option value=\"")
        .expect("a contact method to choose")
        + 15;
    let method_id: String = html[id_at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let r = web
        .post_form(
            "/responders/me/notification-rules",
            &[
                ("csrf", &csrf),
                ("contact_method_id", &method_id),
                ("delay_minutes", "5"),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], "/responders");

    // Their own calendar feed is linked from the page, and a calendar app reads it with the
    // key in the link alone (no session, no token).
    let (_, html) = web.page("/responders").await;
    let needle = "class=\"calendar-feed\" href=\"";
    let at = html.find(needle).expect("a calendar feed link") + needle.len();
    let link = html[at..]
        .split('"')
        .next()
        .expect("href")
        .replace("&#61;", "=");
    let feed = reqwest::get(format!("{}{link}", app.base))
        .await
        .expect("answer");
    assert_eq!(feed.status(), StatusCode::OK, "{link}");
    assert!(
        feed.text()
            .await
            .expect("text")
            .starts_with("BEGIN:VCALENDAR"),
        "{link}"
    );

    // The rule and the method are listed with buttons that remove them.
    assert!(
        html.contains("sms +351910000003 after 5 min"),
        "the rule is listed: {html}"
    );
    let action = |kind: &str| {
        let needle = format!("action=\"/responders/me/{kind}/");
        let at = html.find(&needle).expect("a remove button") + needle.len() - 1;
        html[at..].split('"').next().expect("action").to_string()
    };
    let (rule, method) = (
        format!(
            "/responders/me/notification-rules{}",
            action("notification-rules")
        ),
        format!(
            "/responders/me/contact-methods{}",
            action("contact-methods")
        ),
    );
    for path in [&rule, &method] {
        let r = web.post_form(path, &[("csrf", &csrf)]).await;
        assert_eq!(r.headers()["location"], "/responders", "{path}");
    }
    let (_, html) = web.page("/responders").await;
    assert!(
        !html.contains("+351910000003") && html.contains("You: "),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_sqlite_server_is_set_up_by_its_first_visitor() {
    first_visit_creates_the_administrator(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_postgres_server_is_set_up_by_its_first_visitor() {
    first_visit_creates_the_administrator(Db::Postgres).await;
}

/// No `APLOMB_ADMIN_TOKEN`: the server sends its first visitor to /setup, which takes the
/// one-time setup token from the log, creates the administrator and signs them in, once.
async fn first_visit_creates_the_administrator(db: Db) {
    let Some(db) = crate::helpers::TestDb::new(db).await else {
        return;
    };
    let options = aplomb::server::ServeOptions::new("127.0.0.1:0", &db.url);
    let app = aplomb::server::prepare(&options, std::sync::Arc::new(aplomb::clock::SystemClock))
        .await
        .expect("starts");
    // prepare() logged a token; asking again replaces it with one this test can read.
    let token = app
        .bootstrap(None)
        .await
        .expect("bootstrap")
        .expect("a setup token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(aplomb::http::serve(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .get(format!("{base}/incidents"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.headers()["location"], "/setup");

    let setup = |setup_token: &str, username: &str| {
        client
            .post(format!("{base}/setup"))
            .form(&[
                ("setup_token", setup_token),
                ("username", username),
                ("password", "long password"),
            ])
            .send()
    };
    let wrong = setup("wrong", "root").await.expect("answer");
    assert!(
        wrong.headers()["location"]
            .to_str()
            .expect("ascii")
            .starts_with("/setup?error=")
    );
    let r = setup(&token, "root").await.expect("answer");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .starts_with("aplomb_session=")
    );

    let again = setup(&token, "intruder").await.expect("answer");
    assert!(
        again.headers()["location"]
            .to_str()
            .expect("ascii")
            .starts_with("/setup?error=")
    );
    let r = client
        .get(format!("{base}/setup"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.headers()["location"], "/login", "setup happens once");
    let users = app.store.list_users().await.expect("users");
    assert_eq!(users.len(), 1);
    assert_eq!(
        (users[0].username.as_str(), users[0].role.as_str()),
        ("root", "admin")
    );

    let _ = stop.send(());
    server.await.expect("server task").expect("clean stop");
    app.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_shows_a_living_organisation() {
    for db in [Db::Sqlite, Db::Postgres] {
        let clock = std::sync::Arc::new(aplomb::clock::SystemClock);
        let demo = |o: &mut aplomb::server::ServeOptions| o.demo = true;
        let Some(app) = TestApp::spawn_configured(db, clock, Default::default(), demo).await else {
            continue;
        };
        let (_, page) = app.admin(Method::GET, "/api/v1/incidents", None).await;
        let items = page["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{db:?}");
        assert_eq!(items[0]["status"], "investigating");
        assert_eq!(items[0]["incident_lead"], "bob");
        let (_, services) = app.admin(Method::GET, "/api/v1/services", None).await;
        assert_eq!(services.as_array().map(Vec::len), Some(4));
        // The story is told in times just before now, whenever the demo starts.
        let id = items[0]["id"].as_i64().expect("an id");
        let (_, incident) = app
            .admin(Method::GET, &format!("/api/v1/incidents/{id}"), None)
            .await;
        let now = app.app.now();
        let around = [20, 21].map(|m| {
            (now - jiff::SignedDuration::from_mins(m))
                .strftime("since %H:%M UTC")
                .to_string()
        });
        let summary = incident["summary"].as_str().expect("a summary");
        assert!(around.iter().any(|t| summary.contains(t)), "{summary}");
        // Demo responders have no contact method: the page says nobody was notified.
        let web = app
            .web_session_with("alice", aplomb::demo::DEMO_PASSWORD)
            .await;
        let page = crate::sinks::eventually("the on-call is paged", || async {
            let (_, page) = web.page(&format!("/incidents/{id}")).await;
            page.contains("<h2>Paging</h2>").then_some(page)
        })
        .await;
        assert!(
            page.contains("no contact method: nobody was notified"),
            "{page}"
        );
        // Demo users sign in with the documented password.
        assert!(
            app.app
                .login("alice", aplomb::demo::DEMO_PASSWORD, None)
                .await
                .is_ok()
        );
        app.shutdown().await;
    }
}

async fn a_responder_makes_an_api_token_on_the_tokens_page_and_revokes_it(app: TestApp) {
    app.user("bob", "responder").await;
    let web = app.web_session("bob").await;
    let (status, page) = web.page("/tokens").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("href=\"/tokens\""),
        "a link in the navigation"
    );
    assert!(
        page.contains("tests"),
        "the token the harness made is listed: {page}"
    );
    let csrf = web.csrf().await;

    // The new token is shown once, on the answer to the form.
    let created = web
        .post_form("/tokens", &[("csrf", &csrf), ("name", "work laptop")])
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    let page = created.text().await.expect("a page");
    let start = page.find("<code id=\"new-token\">").expect("the new token") + 21;
    let token = page[start..].split('<').next().expect("text").to_string();
    assert!(token.starts_with("apl_"), "{token}");
    let (status, me) = app
        .call(&token, reqwest::Method::GET, "/api/v1/whoami", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "bob");

    let (_, page) = web.page("/tokens").await;
    assert!(page.contains("work laptop"), "{page}");
    assert!(!page.contains(&token), "never shown again");

    let (_, listed) = app
        .call(
            &token,
            reqwest::Method::GET,
            "/api/v1/users/bob/tokens",
            None,
        )
        .await;
    let id = listed
        .as_array()
        .and_then(|l| l.iter().find(|t| t["name"] == "work laptop"))
        .and_then(|t| t["id"].as_i64())
        .expect("listed by the API");
    let revoked = web
        .post_form(&format!("/tokens/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let (status, _) = app
        .call(&token, reqwest::Method::GET, "/api/v1/whoami", None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token stops working"
    );
    let (_, page) = web.page("/tokens").await;
    assert!(!page.contains("work laptop"), "{page}");
}
