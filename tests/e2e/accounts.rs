//! Accounts as operators and people meet them: start-up with an admin token, signing in,
//! API tokens.

use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::crash::free_port;
use crate::helpers::{ADMIN_TOKEN, Db, TestApp, TestDb, password};

crate::on_both_backends!(
    a_flood_of_wrong_passwords_leaves_the_server_responsive,
    guessing_a_password_is_refused_after_five_tries,
    guessing_across_accounts_is_refused_per_address,
    tokens_are_listed_and_revoked_by_their_holder_or_an_admin,
    the_api_trades_a_password_for_a_token_and_throttles_guesses,
    pages_are_strict_with_browsers_and_a_forged_login_is_refused,
);

/// Starts `aplomb serve` on `port` without waiting for it.
fn serve(url: &str, port: u16) -> Child {
    serve_with_token(url, port, ADMIN_TOKEN)
}

fn serve_with_token(url: &str, port: u16, admin_token: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            url,
        ])
        .env("APLOMB_ADMIN_TOKEN", admin_token)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts")
}

/// Waits until the server on `port` answers `/healthz`, or says how it exited.
async fn ready(child: &mut Child, port: u16) -> Result<(), String> {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            let mut log = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = stderr.read_to_string(&mut log).await;
            }
            return Err(format!("exited with {status}: {log}"));
        }
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("did not become ready in 15 s".into())
}

/// Instances deployed together on a fresh PostgreSQL database, all given the admin token:
/// all start, and the token works on each. (Three rounds of three: the race is narrow.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_with_an_admin_token_all_start() {
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let Some(db) = TestDb::new(Db::Postgres).await else {
            return;
        };
        let ports = [free_port(), free_port(), free_port()];
        let mut children: Vec<Child> = ports.iter().map(|&p| serve(&db.url, p)).collect();
        for (child, &port) in children.iter_mut().zip(&ports) {
            ready(child, port)
                .await
                .unwrap_or_else(|e| panic!("the instance on port {port} {e}"));
            let whoami = http
                .get(format!("http://127.0.0.1:{port}/api/v1/whoami"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("an answer");
            assert_eq!(whoami.status(), StatusCode::OK);
        }
        for mut child in children {
            let _ = child.kill().await;
        }
    }
}

/// An operator sets a new APLOMB_ADMIN_TOKEN on a database that already has users: it cannot
/// apply, and the log says so instead of ignoring it silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_token_on_a_database_with_users_is_refused_with_a_warning() {
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let port = free_port();
    let mut first = serve(&db.url, port);
    ready(&mut first, port).await.expect("the first start");
    first.kill().await.expect("stopped");

    let mut second = serve_with_token(&db.url, port, "a-new-token");
    ready(&mut second, port).await.expect("the second start");
    let refused = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/whoami"))
        .bearer_auth("a-new-token")
        .send()
        .await
        .expect("an answer");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    second.kill().await.expect("stopped");
    let mut log = String::new();
    if let Some(mut stderr) = second.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = stderr.read_to_string(&mut log).await;
    }
    assert!(
        log.contains("APLOMB_ADMIN_TOKEN is ignored"),
        "no warning in: {log}"
    );
}

/// Sixteen people mistype their passwords at the same moment. Checking a password costs tens
/// of milliseconds of CPU; the server must keep answering everyone else meanwhile.
async fn a_flood_of_wrong_passwords_leaves_the_server_responsive(app: TestApp) {
    let names: Vec<String> = (0..16).map(|i| format!("user{i}")).collect();
    for name in &names {
        app.user(name, "responder").await;
    }
    let logins = names.iter().map(|name| {
        let base = app.base.clone();
        let name = name.clone();
        async move {
            crate::helpers::post_login(
                &reqwest::Client::new(),
                &base,
                &[("username", name.as_str()), ("password", "not my password")],
            )
            .await
            .status()
        }
    });
    let logins = futures_util::future::join_all(logins);
    let probe = async {
        let http = reqwest::Client::new();
        let mut slowest = Duration::ZERO;
        for _ in 0..40 {
            let started = std::time::Instant::now();
            let r = http
                .get(format!("{}/healthz", app.base))
                .send()
                .await
                .expect("healthz answers");
            assert!(r.status().is_success());
            slowest = slowest.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        slowest
    };
    let (statuses, slowest) = tokio::join!(logins, probe);
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "each wrong password gets the form back: {statuses:?}"
    );
    eprintln!("slowest /healthz during the flood: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(150),
        "/healthz took {slowest:?} while passwords were checked"
    );
}

/// Signs in through the login form; returns the status, Retry-After and the page.
async fn sign_in(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (StatusCode, Option<String>, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = crate::helpers::post_login(
        &client,
        &app.base,
        &[
            ("username", username),
            ("password", password),
            ("next", "/incidents"),
        ],
    )
    .await;
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (status, retry, response.text().await.expect("a page"))
}

/// Someone tries passwords for bob: after five wrong ones, even the right one is refused for
/// a while, and the form says when to try again, with the username still in it.
async fn guessing_a_password_is_refused_after_five_tries(app: TestApp) {
    app.user("bob", "responder").await;
    for guess in ["123456", "password", "qwerty", "letmein", "bob"] {
        let (status, _, page) = sign_in(&app, "bob", guess).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Unknown user or wrong password."), "{page}");
    }
    let (status, retry, page) = sign_in(&app, "bob", &password("bob")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(
        page.contains("Too many failed sign-ins for this account; try again in"),
        "{page}"
    );
    assert!(
        page.contains("value=\"bob\""),
        "the username is kept: {page}"
    );

    // Another account is not held back by bob's.
    app.user("carol", "responder").await;
    let (status, _, _) = sign_in(&app, "carol", &password("carol")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// One address tries one password on many accounts: after twenty failures it is refused,
/// whichever account it names next.
async fn guessing_across_accounts_is_refused_per_address(app: TestApp) {
    for n in 0..20 {
        let (status, _, _) = sign_in(&app, &format!("nobody{n}"), "summer2026").await;
        assert_eq!(status, StatusCode::OK);
    }
    app.user("dan", "responder").await;
    let (status, retry, page) = sign_in(&app, "dan", &password("dan")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    assert!(retry.is_some());
    assert!(page.contains("from this address"), "{page}");
}

async fn tokens_are_listed_and_revoked_by_their_holder_or_an_admin(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let carol = app.user("carol", "responder").await;
    let (status, listed) = app
        .call(&bob, Method::GET, "/api/v1/users/bob/tokens", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let first = &listed[0];
    assert_eq!(first["name"], "tests");
    assert!(
        first["id"].is_i64() && first["created_at"].is_string(),
        "{first}"
    );
    assert!(
        first.get("token").is_none() && first.get("token_hash").is_none(),
        "never the secret or its hash: {first}"
    );
    let id = first["id"].as_i64().expect("an id");

    let (status, body) = app
        .call(&carol, Method::GET, "/api/v1/users/bob/tokens", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .call(
            &carol,
            Method::DELETE,
            &format!("/api/v1/users/bob/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .call(
            &bob,
            Method::DELETE,
            "/api/v1/users/bob/tokens/424242",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["message"], "token not found");
    // carol's token id is not one of bob's.
    let (_, carols) = app
        .call(&carol, Method::GET, "/api/v1/users/carol/tokens", None)
        .await;
    let carols = carols[0]["id"].as_i64().expect("an id");
    let (status, _) = app
        .call(
            &bob,
            Method::DELETE,
            &format!("/api/v1/users/bob/tokens/{carols}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/users/bob/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call(&bob, Method::GET, "/api/v1/whoami", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked at once");

    let (_, doc) = app.admin(Method::GET, "/api/v1/openapi.json", None).await;
    let tokens = &doc["paths"]["/api/v1/users/{username}/tokens"];
    assert!(tokens["get"]["responses"]["403"].is_object(), "{tokens}");
    let one = &doc["paths"]["/api/v1/users/{username}/tokens/{id}"]["delete"]["responses"];
    for code in ["204", "401", "403", "404"] {
        assert!(
            one[code].is_object(),
            "DELETE token documents {code}: {one}"
        );
    }
    let login = &doc["paths"]["/api/v1/login"]["post"]["responses"];
    for code in ["201", "422", "429"] {
        assert!(
            login[code].is_object(),
            "POST login documents {code}: {login}"
        );
    }
}

async fn the_api_trades_a_password_for_a_token_and_throttles_guesses(app: TestApp) {
    app.user("bob", "responder").await;
    let login = |password: String| {
        let http = app.http.clone();
        let url = format!("{}/api/v1/login", app.base);
        async move {
            let r = http
                .post(url)
                .json(&json!({"username": "bob", "password": password, "token_name": "laptop"}))
                .send()
                .await
                .expect("an answer");
            let status = r.status();
            let retry = r.headers().get("retry-after").cloned();
            (status, retry, r.json::<Value>().await.expect("json"))
        }
    };
    let (status, _, issued) = login(password("bob")).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().expect("a token");
    assert_eq!(issued["username"], "bob");
    let (status, me) = app.call(token, Method::GET, "/api/v1/whoami", None).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (StatusCode::OK, Some("bob"))
    );

    for _ in 0..5 {
        let (status, _, body) = login("guess".into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "password");
    }
    let (status, retry, body) = login(password("bob")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some(), "Retry-After");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("for this account; try again in")),
        "{body}"
    );
}

/// Every HTML page forbids inline script and framing; every answer forbids sniffing and keeps
/// its address from other sites; a login form posted without its CSRF token is refused before
/// any password is checked; signing in mints a new session whatever cookie the browser had.
async fn pages_are_strict_with_browsers_and_a_forged_login_is_refused(app: TestApp) {
    app.user("bob", "responder").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for path in ["/login", "/status"] {
        let page = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("answers");
        let h = page.headers();
        let policy = h["content-security-policy"].to_str().unwrap_or_default();
        assert!(
            policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "plain HTTP: {path}"
        );
    }
    let json = http
        .get(format!("{}/status/api/v2/status.json", app.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(json.headers()["x-content-type-options"], "nosniff");
    assert!(json.headers().get("content-security-policy").is_none());

    // No page of aplomb's runs inline script, so the policy breaks none.
    let templates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for entry in std::fs::read_dir(&templates).expect("templates") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("a template");
        // An attribute like ` onclick="`.
        let inline_handler = text.split(" on").skip(1).any(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with("=\"")
        });
        assert!(
            !text.contains("<script>") && !inline_handler && !text.contains("javascript:"),
            "{} runs inline script",
            path.display()
        );
    }

    // The login form's cookie: out of scripts' reach, sent back by aplomb's own pages.
    let form = http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("answers");
    let set = form.headers()["set-cookie"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        set.starts_with("aplomb_login=")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP: {set}");

    // Forged: no token, or a token that is not the cookie's. Refused, and no attempt is
    // counted (five wrong passwords would lock bob out).
    let forged = |cookie: Option<&'static str>| {
        let mut post = http.post(format!("{}/login", app.base));
        if let Some(cookie) = cookie {
            post = post.header("cookie", cookie);
        }
        post.form(&[
            ("username", "bob"),
            ("password", "guess"),
            ("csrf", "made-up"),
        ])
        .send()
    };
    for cookie in [
        None,
        Some("aplomb_login=another"),
        None,
        Some("aplomb_login="),
        None,
        None,
    ] {
        let refused = forged(cookie).await.expect("answers");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let page = refused.text().await.expect("a page");
        assert!(page.contains("came from another site"), "{page}");
    }

    // A browser that arrives with a session id someone planted gets a new one.
    let planted = "aplomb_session=planted-by-someone";
    let form = http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("answers");
    let login_cookie = crate::helpers::set_cookie(&form, "aplomb_login").expect("a cookie");
    let csrf = login_cookie.trim_start_matches("aplomb_login=").to_string();
    let bob = crate::helpers::password("bob");
    let signed = http
        .post(format!("{}/login", app.base))
        .header("cookie", format!("{planted}; {login_cookie}"))
        .form(&[
            ("username", "bob"),
            ("password", bob.as_str()),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(
        signed.status(),
        StatusCode::SEE_OTHER,
        "bob was not locked out"
    );
    let session = crate::helpers::set_cookie(&signed, "aplomb_session").expect("a session");
    assert_ne!(session, planted);
    assert!(session.len() > "aplomb_session=".len() + 30, "{session}");
}
