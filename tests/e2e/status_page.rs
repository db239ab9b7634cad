//! The public status page, through the running server: components administered by the API
//! and the CLI, a public update setting a component's status, and every public surface (the
//! page, an incident's page, Statuspage's JSON, the Atom feed read by Python's feedparser,
//! the badges) showing it, and never a private incident or an update to stakeholders or
//! responders.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{aplomb, stdout};
use crate::helpers::TestApp;
use crate::sinks::eventually;

crate::on_both_backends!(
    components_are_checked_and_listed,
    a_public_update_reaches_every_public_surface_and_nothing_else_does,
    the_status_page_is_administered_through_plain_forms,
    an_admin_brands_the_status_page_and_readers_see_it,
);

/// The public surfaces, as anyone on the Internet reads them.
const SURFACES: &[&str] = &[
    "/status",
    "/status/feed.atom",
    "/status/badge.svg",
    "/status/api/v2/summary.json",
    "/status/api/v2/status.json",
    "/status/api/v2/components.json",
    "/status/api/v2/incidents.json",
    "/status/api/v2/incidents/unresolved.json",
    "/status/api/v2/scheduled-maintenances.json",
    "/status/api/v2/scheduled-maintenances/upcoming.json",
    "/status/api/v2/scheduled-maintenances/active.json",
];

async fn public(app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = reqwest::get(format!("{}{path}", app.base))
        .await
        .expect("the server answers");
    (r.status(), r.text().await.expect("a body"))
}

/// An Atom feed as Python's feedparser reads it: whether it was malformed, its title, and
/// each entry's title, link and summary.
async fn read_feed(app: &TestApp, path: &str) -> Value {
    let (status, feed) = public(app, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {feed}");
    let parsed = std::process::Command::new("python3")
        .args(["-c", "import sys, json, feedparser\nf = feedparser.parse(sys.stdin.read())\nprint(json.dumps({'bozo': bool(f.bozo), 'title': f.feed.title, 'entries': [[e.title, e.link, e.summary] for e in f.entries]}))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(feed.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 with feedparser (pip install feedparser)");
    let read: Value = serde_json::from_slice(&parsed.stdout)
        .unwrap_or_else(|_| panic!("feedparser: {}", String::from_utf8_lossy(&parsed.stderr)));
    assert_eq!(read["bozo"], false, "{path} is a well-formed feed: {feed}");
    read
}

async fn summary(app: &TestApp) -> Value {
    let (status, body) = public(app, "/status/api/v2/summary.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

async fn components_are_checked_and_listed(app: TestApp) {
    let carla = app.user("carla", "responder").await;
    let add = |body: Value| app.admin(Method::POST, "/api/v1/status/components", Some(body));
    let (status, checkout) = add(json!({"name": "Checkout", "group": "Shop",
        "services": ["checkout-api"]}))
    .await;
    // No such service yet: the field is named.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{checkout}");
    assert_eq!(checkout["error"]["field"], "services");
    app.admin(
        Method::POST,
        "/api/v1/services",
        Some(json!({"name": "checkout-api"})),
    )
    .await;
    let (status, checkout) = add(json!({"name": "Checkout", "group": "Shop",
        "services": ["checkout-api"]}))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{checkout}");
    assert_eq!(
        (
            &checkout["status"],
            &checkout["group"],
            &checkout["services"]
        ),
        (
            &json!("operational"),
            &json!("Shop"),
            &json!(["checkout-api"])
        )
    );
    for (body, status, field) in [
        (json!({"name": "Checkout"}), StatusCode::CONFLICT, None),
        (
            json!({"name": " "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
        (
            json!({"name": "API", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
        (
            json!({"name": "x".repeat(101)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
    ] {
        let (got, answer) = add(body.clone()).await;
        assert_eq!(got, status, "{body} → {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
    }
    let (status, _) = app
        .call(
            &carla,
            Method::POST,
            "/api/v1/status/components",
            Some(json!({"name": "API"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins shape the page");
    let (status, _) = app
        .admin(
            Method::PATCH,
            "/api/v1/status/components/999",
            Some(json!({"name": "Gone"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The CLI adds, edits (leaving what it does not name) and lists.
    let out = stdout(
        &aplomb(
            &app,
            crate::helpers::ADMIN_TOKEN,
            &[
                "component",
                "add",
                "Public API",
                "--description",
                "REST and webhooks",
            ],
        )
        .await,
    );
    assert!(out.contains("added: Public API"), "{out}");
    let id = checkout["id"].to_string();
    let out = stdout(
        &aplomb(
            &app,
            crate::helpers::ADMIN_TOKEN,
            &["component", "edit", &id, "--group", "Storefront"],
        )
        .await,
    );
    assert!(out.contains("changed: Checkout"), "{out}");
    let listed = stdout(&aplomb(&app, &carla, &["component", "list"]).await);
    let checkout_line = listed
        .lines()
        .find(|l| l.contains("Checkout"))
        .expect(&listed);
    assert!(
        checkout_line.contains("Storefront") && checkout_line.contains("checkout-api"),
        "{listed}"
    );
    assert!(listed.contains("Public API"), "{listed}");
}

async fn a_public_update_reaches_every_public_surface_and_nothing_else_does(app: TestApp) {
    let carla = app.user("carla", "responder").await;
    let (status, checkout) = app
        .admin(
            Method::POST,
            "/api/v1/status/components",
            Some(json!({"name": "Checkout", "group": "Shop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{checkout}");
    let (_, api) = app
        .admin(
            Method::POST,
            "/api/v1/status/components",
            Some(json!({"name": "API"})),
        )
        .await;
    let cid = checkout["id"].as_i64().expect("an id");
    let before = summary(&app).await;
    assert_eq!(before["status"]["indicator"], "none", "{before}");
    assert_eq!(before["status"]["description"], "All Systems Operational");

    // A private incident and words for stakeholders or responders only: never public.
    let secret = app
        .declare(&carla, json!({"title": "Hush breach of vault", "severity": "SEV1", "type": "security", "private": true}))
        .await;
    let id = app
        .declare(
            &carla,
            json!({"title": "Card payments failing", "severity": "SEV2"}),
        )
        .await;
    let post = async |incident: i64, body: Value| {
        let path = format!("/api/v1/incidents/{incident}/updates");
        app.call(&carla, Method::POST, &path, Some(body)).await
    };
    let (status, answer) = post(
        secret,
        json!({"text": "Hush: the vault keys were copied.", "phase": "investigating",
        "audiences": ["stakeholders"], "publish": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    for (audience, text) in [
        ("stakeholders", "Hush: revenue at risk."),
        ("responders", "Hush: db-7 is swapping."),
    ] {
        let (status, answer) = post(
            id,
            json!({"text": text, "phase": "investigating",
            "audiences": [audience], "publish": true}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    // Component statuses are the public page's: only a public update sets them.
    let (status, refused) = post(
        id,
        json!({"text": "Checkout is slow.", "audiences": ["stakeholders"],
        "components": [{"name": "Checkout", "status": "degraded_performance"}]}),
    )
    .await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("components"))
    );
    for bad in [
        json!([{"name": "Nope", "status": "major_outage"}]),
        json!([{"name": "Checkout", "status": "down"}]),
    ] {
        let (status, refused) = post(
            id,
            json!({"text": "x", "audiences": ["public"], "components": bad}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["field"], "components");
    }

    // A draft shows nowhere; published, it shows on every surface.
    let text =
        "Some card payments fail at checkout. We are investigating and will update by 15:00 UTC.";
    let (status, draft) = post(
        id,
        json!({"text": text, "phase": "investigating", "audiences": ["public", "stakeholders"],
        "components": [{"name": "Checkout", "status": "partial_outage"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!(
        draft["components"],
        json!([{"name": "Checkout", "status": "partial_outage"}])
    );
    let path = format!("/api/v1/incidents/{id}/updates/{}", draft["id"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        summary(&app).await["incidents"],
        json!([]),
        "a draft is the response's"
    );
    let (status, published) = app
        .call(&carla, Method::PATCH, &path, Some(json!({"publish": true})))
        .await;
    assert_eq!(status, StatusCode::OK, "{published}");
    let now = eventually("the page shows the update", async || {
        let s = summary(&app).await;
        (s["incidents"].as_array().map(Vec::len) == Some(1)).then_some(s)
    })
    .await;
    assert_eq!(now["page"]["name"], "Service status");
    assert_eq!(now["page"]["url"], format!("{}/status", app.base));
    assert_eq!(now["status"]["indicator"], "major", "{now}");
    let incident = &now["incidents"][0];
    assert_eq!(
        (
            &incident["id"],
            &incident["name"],
            &incident["status"],
            &incident["impact"]
        ),
        (
            &json!(id.to_string()),
            &json!("Card payments failing"),
            &json!("investigating"),
            &json!("major")
        )
    );
    let update = &incident["incident_updates"][0];
    assert_eq!(update["body"], text);
    assert_eq!(
        update["affected_components"],
        json!([{"code": cid.to_string(), "name": "Checkout", "old_status": "operational", "new_status": "partial_outage"}])
    );
    assert_eq!(
        incident["incident_updates"].as_array().map(Vec::len),
        Some(1),
        "only the public update"
    );
    let statuses: Vec<(String, String)> = now["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").into(),
                c["status"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("Shop", "partial_outage"),
            ("Checkout", "partial_outage"),
            ("API", "operational")
        ]
        .map(|(n, s)| (n.to_string(), s.to_string()))
    );
    let (_, listed) = app
        .call(&carla, Method::GET, "/api/v1/status/components", None)
        .await;
    assert_eq!(listed[0]["status"], "partial_outage", "{listed}");

    // The page, the incident's page, the feed and the badges say it too.
    let (_, page) = public(&app, "/status").await;
    assert!(
        page.contains("Partial System Outage") && page.contains(text),
        "{page}"
    );
    assert!(
        page.contains(&format!("id=\"component-{cid}\"")) && page.contains("<svg class=\"bars\"")
    );
    let (status, history) = public(&app, &format!("/status/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(history.contains("Card payments failing") && history.contains(text));
    let (_, badge) = public(&app, &format!("/status/components/{cid}/badge.svg")).await;
    assert!(badge.contains("Checkout: Partial outage"), "{badge}");
    let (status, _) = public(
        &app,
        &format!(
            "/status/components/{}/badge.svg",
            api["id"].as_i64().unwrap_or(0) + 100
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let read = read_feed(&app, "/status/feed.atom").await;
    assert_eq!(
        read["entries"][0][0],
        "Card payments failing (Investigating)"
    );
    assert_eq!(
        read["entries"][0][1],
        format!("{}/status/incidents/{id}", app.base)
    );
    assert!(
        read["entries"][0][2].as_str().unwrap_or("").contains(text),
        "{read}"
    );
    // A component's feed carries the incidents that named it, and only those.
    let read = read_feed(&app, &format!("/status/components/{cid}/feed.atom")).await;
    assert_eq!(read["title"], "Service status: Checkout");
    assert_eq!(
        read["entries"][0][0],
        "Card payments failing (Investigating)"
    );
    let quiet = read_feed(&app, &format!("/status/components/{}/feed.atom", api["id"])).await;
    assert_eq!(quiet["entries"], json!([]), "{quiet}");

    // Nothing private or internal on any surface; the private incident's page is not found.
    let component_surfaces = [
        format!("/status/components/{cid}/feed.atom"),
        format!("/status/components/{cid}/badge.svg"),
    ];
    for surface in SURFACES
        .iter()
        .copied()
        .chain(component_surfaces.iter().map(String::as_str))
    {
        let (status, body) = public(&app, surface).await;
        assert_eq!(status, StatusCode::OK, "{surface}");
        assert!(!body.contains("Hush"), "{surface} leaks: {body}");
    }
    let (status, body) = public(&app, &format!("/status/incidents/{secret}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("Hush"));

    // Readers revalidate for the cost of a header.
    let first = reqwest::get(format!("{}/status/api/v2/summary.json", app.base))
        .await
        .expect("answers");
    let etag = first.headers()["etag"].clone();
    let again = reqwest::Client::new()
        .get(format!("{}/status/api/v2/summary.json", app.base))
        .header("If-None-Match", etag)
        .send()
        .await
        .expect("answers");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Resolved: the component is operational again and the incident is history.
    let (status, _) = app
        .call(
            &carla,
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let calm = eventually("the page calms", async || {
        let s = summary(&app).await;
        (s["status"]["indicator"] == "none").then_some(s)
    })
    .await;
    assert_eq!(calm["incidents"], json!([]));
    assert!(
        calm["components"]
            .as_array()
            .expect("components")
            .iter()
            .all(|c| c["status"] == "operational"),
        "{calm}"
    );
    let (_, all) = public(&app, "/status/api/v2/incidents.json").await;
    let all: Value = serde_json::from_str(&all).expect("JSON");
    assert_eq!(all["incidents"][0]["status"], "resolved", "{all}");
    assert!(all["incidents"][0]["resolved_at"].is_string());
    // The outage is in the component's history: today's bar is no longer all green.
    let (_, page) = public(&app, "/status").await;
    assert!(
        page.contains("Partial outage"),
        "today's bar says the worst of the day"
    );
}

/// Admins shape the page's components and subscribers from the web UI, responders plan and
/// cancel maintenance there; every form needs its CSRF token and answers by a redirect back.
async fn the_status_page_is_administered_through_plain_forms(app: TestApp) {
    app.user("ada", "admin").await;
    app.user("rui", "responder").await;
    let ada = app.web_session("ada").await;
    let rui = app.web_session("rui").await;
    let posted = async |web: &crate::helpers::WebSession, path: &str, form: &[(&str, &str)]| {
        let csrf = web.csrf().await;
        let mut with: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        with.extend_from_slice(form);
        let answer = web.post_form(path, &with).await;
        let to = answer
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (answer.status(), to, answer.text().await.unwrap_or_default())
    };

    let (status, page) = ada.page("/status-page").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No component yet") && page.contains("Add a component"));
    let (status, to, _) = posted(
        &ada,
        "/status-page/components",
        &[("name", "Checkout"), ("group", "Shop"), ("services", "")],
    )
    .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/status-page")
    );
    let (status, to, _) = posted(&ada, "/status-page/components", &[("name", " ")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        to.starts_with("/status-page?error=") && to.contains("name"),
        "{to}"
    );
    let (_, page) = ada.page("/status-page").await;
    assert!(
        page.contains("<td>Checkout</td>") || page.contains("<td>Checkout<"),
        "listed"
    );
    assert!(page.contains("Operational"));
    let (_, components) = app
        .admin(Method::GET, "/api/v1/status/components", None)
        .await;
    assert_eq!(components[0]["group"], "Shop", "{components}");
    let cid = components[0]["id"].to_string();
    let (_, to, _) = posted(
        &ada,
        &format!("/status-page/components/{cid}"),
        &[
            ("name", "Checkout"),
            ("group", "Store"),
            ("description", "Paying"),
            ("services", ""),
        ],
    )
    .await;
    assert_eq!(to, "/status-page");
    let (_, components) = app
        .admin(Method::GET, "/api/v1/status/components", None)
        .await;
    assert_eq!(
        (&components[0]["group"], &components[0]["description"]),
        (&json!("Store"), &json!("Paying"))
    );

    // A responder sees the components but shapes nothing, and sees no subscriber.
    let (_, page) = rui.page("/status-page").await;
    assert!(page.contains("Checkout") && !page.contains("Add a component"));
    assert!(!page.contains("subscribers-admin"));
    let (status, _, refusal) = posted(&rui, "/status-page/components", &[("name", "API")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");
    assert!(refusal.contains("admin"), "{refusal}");

    // Rui plans maintenance two hours from now (UTC: he set no time zone), then cancels it.
    let at = |hours: i64| {
        (aplomb::clock::Clock::now(&aplomb::clock::SystemClock)
            + jiff::SignedDuration::from_hours(hours))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
    };
    let (from, until) = (at(2), at(3));
    let (_, to, _) = posted(
        &rui,
        "/status-page/maintenances",
        &[
            ("title", "Database upgrade"),
            ("from", &from),
            ("until", &until),
            ("components", "Checkout"),
        ],
    )
    .await;
    assert_eq!(to, "/status-page");
    let (_, to, _) = posted(
        &rui,
        "/status-page/maintenances",
        &[("title", "Bad"), ("until", "tomorrow")],
    )
    .await;
    assert!(to.contains("error=") && to.contains("until"), "{to}");
    let (_, list) = app.admin(Method::GET, "/api/v1/maintenances", None).await;
    let planned = &list[0];
    assert_eq!(
        (&planned["status"], &planned["components"]),
        (&json!("scheduled"), &json!(["Checkout"])),
        "{list}"
    );
    assert!(
        planned["scheduled_for"]
            .as_str()
            .is_some_and(|t| t.starts_with(&from[..16])),
        "{planned} from {from}"
    );
    let mid = planned["id"].to_string();
    let (_, page) = rui.page("/status-page").await;
    assert!(page.contains(&format!("id=\"maintenance-{mid}-cancel\"")));
    let (_, to, _) = posted(
        &rui,
        &format!("/status-page/maintenances/{mid}/status"),
        &[("status", "cancelled")],
    )
    .await;
    assert_eq!(to, "/status-page");
    let (_, one) = app
        .admin(Method::GET, &format!("/api/v1/maintenances/{mid}"), None)
        .await;
    assert_eq!(one["status"], "cancelled");

    // Ada adds a webhook subscriber: its signing secret is shown once; then removes it.
    let (status, _, shown) = posted(
        &ada,
        "/status-page/subscribers",
        &[
            ("kind", "webhook"),
            ("address", "https://hooks.example.org/status"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(shown.contains("id=\"signing-secret\""), "{shown}");
    let (_, subscribers) = app
        .admin(Method::GET, "/api/v1/status/subscribers", None)
        .await;
    let sid = subscribers[0]["id"].to_string();
    let (_, page) = ada.page("/status-page").await;
    assert!(page.contains("https://hooks.example.org/status") && page.contains("subscribed"));
    let (_, to, _) = posted(&ada, &format!("/status-page/subscribers/{sid}/remove"), &[]).await;
    assert_eq!(to, "/status-page");
    let (_, page) = ada.page("/status-page").await;
    assert!(
        !page.contains("https://hooks.example.org/status"),
        "removed"
    );

    let forged = ada
        .post_form(
            "/status-page/components",
            &[("csrf", "forged"), ("name", "API")],
        )
        .await;
    assert!(!forged.status().is_success() && forged.status() != StatusCode::SEE_OTHER);
}

async fn an_admin_brands_the_status_page_and_readers_see_it(app: TestApp) {
    let carla = app.user("carla", "responder").await;
    let (status, brand) = app
        .call(&carla, Method::GET, "/api/v1/status/branding", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&brand["name"], &brand["accent"], &brand["logo_url"]),
        (&json!("Service status"), &json!("#1f4e79"), &Value::Null),
        "aplomb's default until one is set: {brand}"
    );
    let put = async |token: &str, body: Value| {
        app.call(token, Method::PUT, "/api/v1/status/branding", Some(body))
            .await
    };
    let (status, refused) = put(&carla, json!({"name": "Acme", "accent": "#aa3300"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let admin = crate::helpers::ADMIN_TOKEN.to_string();
    for (body, field) in [
        (json!({"name": "Acme", "accent": "orange"}), "accent"),
        (json!({"name": "", "accent": "#aa3300"}), "name"),
        (
            json!({"name": "Acme", "accent": "#aa3300", "logo_url": "javascript:alert(1)"}),
            "logo_url",
        ),
        (
            json!({"name": "Acme", "accent": "#aa3300", "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, refused) = put(&admin, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    let (status, set) = put(
        &admin,
        json!({"name": "Acme status", "accent": "#AA3300", "logo_url": "https://acme.example/logo.png"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["accent"], "#aa3300");
    assert_eq!(set["url"], format!("{}/status", app.base));

    // Readers see it within a second: the page, its JSON, the sign-up answers.
    let page = eventually("the page wears the brand", async || {
        let (_, page) = public(&app, "/status").await;
        page.contains("Acme status").then_some(page)
    })
    .await;
    assert!(
        page.contains("--accent: #aa3300")
            && page.contains("src=\"https://acme.example/logo.png\""),
        "{page}"
    );
    assert_eq!(summary(&app).await["page"]["name"], "Acme status");

    // The CLI changes one thing and keeps the rest; an empty logo removes it.
    let out = stdout(
        &aplomb(
            &app,
            crate::helpers::ADMIN_TOKEN,
            &["branding", "set", "--accent", "#003366", "--logo-url", ""],
        )
        .await,
    );
    assert!(
        out.contains("name: Acme status")
            && out.contains("accent: #003366")
            && out.contains("logo: none"),
        "{out}"
    );
    let out = stdout(&aplomb(&app, &carla, &["branding", "show"]).await);
    assert!(out.contains("accent: #003366"), "{out}");

    // And the administration page's form, for admins only.
    app.user("ada", "admin").await;
    let ada = app.web_session("ada").await;
    let (_, admin_page) = ada.page("/status-page").await;
    assert!(
        admin_page.contains("id=\"branding-form\"") && admin_page.contains("value=\"#003366\"")
    );
    let csrf = ada.csrf().await;
    let answer = ada
        .post_form(
            "/status-page/branding",
            &[
                ("csrf", &csrf),
                ("name", "Acme"),
                ("logo_url", ""),
                ("accent", "#225522"),
            ],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let csrf = ada.csrf().await;
    let answer = ada
        .post_form(
            "/status-page/branding",
            &[
                ("csrf", &csrf),
                ("name", "Acme"),
                ("logo_url", ""),
                ("accent", "green"),
            ],
        )
        .await;
    let to = answer.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(to.contains("error=") && to.contains("accent"), "{to}");
    let (_, brand) = app
        .call(&carla, Method::GET, "/api/v1/status/branding", None)
        .await;
    assert_eq!(
        (&brand["name"], &brand["accent"]),
        (&json!("Acme"), &json!("#225522"))
    );
    let carla_web = app.web_session("carla").await;
    let (_, carla_page) = carla_web.page("/status-page").await;
    assert!(!carla_page.contains("branding-form") && carla_page.contains("#225522"));
    eventually("the page wears the new colour", async || {
        let (_, page) = public(&app, "/status").await;
        page.contains("--accent: #225522").then_some(())
    })
    .await;
}
