//! The web UI at 3 a.m. (issue 10), over plain HTTP: stale forms, kept input, viewers, times,
//! announcements and confirmations, as the server's HTML proves them. Each story runs on both
//! backends.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, WebSession};

crate::on_both_backends!(
    a_stale_severity_form_is_refused_naming_who_changed_what,
    the_api_refuses_a_patch_from_a_stale_version,
    a_refused_declaration_keeps_what_was_typed,
    a_failed_sign_in_keeps_the_username,
    a_viewer_is_shown_a_read_only_view,
    times_are_absolute_in_the_responders_time_zone,
    an_action_is_announced_and_focus_returns_to_its_control,
    consequential_changes_are_confirmed_first,
);

/// The value of the first `name="{name}" value="…"` in a page.
fn form_value(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("a {name} field in {html}"))
        + needle.len();
    html[at..].split('"').next().expect("a value").to_string()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string()
}

async fn incident_json(app: &TestApp, id: i64) -> serde_json::Value {
    let (status, body) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Bob's page was rendered before Alice raised the incident to SEV1. His "Set severity" is
/// refused with who changed what and when, and the incident stays SEV1.
async fn a_stale_severity_form_is_refused_naming_who_changed_what(app: TestApp) {
    let alice_token = app.user("alice", "responder").await;
    app.user("bob", "responder").await;
    let id = app
        .declare(
            &alice_token,
            json!({"title": "Payments time out", "severity": "SEV2"}),
        )
        .await;
    let (alice, bob): (WebSession, WebSession) =
        (app.web_session("alice").await, app.web_session("bob").await);
    let page = format!("/incidents/{id}");
    let (_, bobs_page) = bob.page(&page).await;
    let bobs_version = form_value(&bobs_page, "version");
    let bob_csrf = form_value(&bobs_page, "csrf");

    let (_, alices_page) = alice.page(&page).await;
    let raised = alice
        .post_form(
            &format!("{page}/severity"),
            &[
                ("csrf", &form_value(&alices_page, "csrf")),
                ("version", &form_value(&alices_page, "version")),
                ("severity", "SEV1"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(
        raised.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        raised.text().await
    );
    assert!(
        !location(&raised).contains("error="),
        "{}",
        location(&raised)
    );

    // The live fragment carries the new version and values for the page's forms.
    let (_, fragment) = bob.page(&format!("{page}/live")).await;
    assert!(
        fragment.contains("data-severity=\"SEV1\"")
            && !fragment.contains(&format!("data-version=\"{bobs_version}\"")),
        "{fragment}"
    );

    // Bob submits the form he loaded before: back to SEV2, he thinks.
    let stale = bob
        .post_form(
            &format!("{page}/severity"),
            &[
                ("csrf", &bob_csrf),
                ("version", &bobs_version),
                ("severity", "SEV2"),
            ],
        )
        .await;
    let (_, shown) = bob.page(&location(&stale)).await;
    let message = shown
        .split("class=\"error\"")
        .nth(1)
        .unwrap_or_else(|| panic!("an error on the page: {shown}"));
    assert!(
        message.contains("changed by alice")
            && message.contains("UTC")
            && message.contains("now SEV1")
            && message.contains("reload"),
        "{message}"
    );
    assert_eq!(incident_json(&app, id).await["severity"], "SEV1");

    // Reloaded, his form is current and his change goes through.
    let (_, fresh) = bob.page(&page).await;
    let lowered = bob
        .post_form(
            &format!("{page}/severity"),
            &[
                ("csrf", &bob_csrf),
                ("version", &form_value(&fresh, "version")),
                ("severity", "SEV2"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert!(
        !location(&lowered).contains("error="),
        "{}",
        location(&lowered)
    );
    assert_eq!(incident_json(&app, id).await["severity"], "SEV2");
}

/// A script reads the incident, someone changes it, and the script's PATCH from what it read
/// is refused: 412 with `If-Match`, 409 `stale` with a `version` field.
async fn the_api_refuses_a_patch_from_a_stale_version(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let id = app
        .declare(&bob, json!({"title": "DNS flaps", "severity": "SEV3"}))
        .await;
    let url = format!("{}/api/v1/incidents/{id}", app.base);
    let read = app
        .http
        .get(&url)
        .bearer_auth(&bob)
        .send()
        .await
        .expect("answer");
    let etag = read.headers()["etag"].to_str().expect("ascii").to_string();
    let body: serde_json::Value = read.json().await.expect("json");
    let version = body["version"].as_i64().expect("a version");
    assert_eq!(etag, format!("\"{version}\""));

    let (status, changed) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"severity": "SEV1", "version": version})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["version"], version + 1);

    let precondition = app
        .http
        .patch(&url)
        .bearer_auth(&bob)
        .header("if-match", &etag)
        .json(&json!({"status": "investigating"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(precondition.status(), StatusCode::PRECONDITION_FAILED);
    let error: serde_json::Value = precondition.json().await.expect("json");
    assert_eq!(error["error"]["code"], "stale", "{error}");
    assert_eq!(error["error"]["field"], "If-Match");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("changed by admin") && m.contains("now SEV1")),
        "{error}"
    );

    let (status, error) = app
        .call(
            &bob,
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"status": "investigating", "version": version})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(
        (&error["error"]["code"], &error["error"]["field"]),
        (&json!("stale"), &json!("version"))
    );
    let now = incident_json(&app, id).await;
    assert_eq!(
        (&now["status"], &now["severity"]),
        (&json!("triage"), &json!("SEV1"))
    );

    // A current If-Match goes through and answers the next ETag.
    let current = app
        .http
        .patch(&url)
        .bearer_auth(&bob)
        .header("if-match", format!("\"{}\"", version + 1))
        .json(&json!({"status": "investigating"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(current.status(), StatusCode::OK);
    assert_eq!(
        current.headers()["etag"],
        format!("\"{}\"", version + 2).as_str()
    );

    let (status, error) = app
        .call(&bob, Method::GET, "/api/v1/openapi.json", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let patch = &error["paths"]["/api/v1/incidents/{id}"]["patch"];
    assert!(patch["responses"]["412"].is_object(), "{patch}");
    assert!(
        patch["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "If-Match")),
        "{patch}"
    );
}

/// The text of the element with `id` (up to its closing tag), for asserting what sits where.
fn element<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("an element #{id} in {html}"));
    let rest = &html[at..];
    &rest[..rest.find("</").unwrap_or(rest.len())]
}

/// At 3 a.m. Bob types a long title and summary and picks a service that was removed from
/// the catalog meanwhile; the form comes back with everything he typed and the problem beside
/// the services. Services are picked from the catalog, not typed.
async fn a_refused_declaration_keeps_what_was_typed(app: TestApp) {
    app.user("bob", "responder").await;
    for name in ["checkout-api", "search"] {
        let (status, body) = app
            .admin(
                Method::POST,
                "/api/v1/services",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let web = app.web_session("bob").await;
    let (_, form) = web.page("/incidents/new").await;
    assert!(
        form.contains("type=\"checkbox\" name=\"service:checkout-api\"")
            && form.contains("name=\"service:search\""),
        "the catalog is listed to pick from: {form}"
    );
    let csrf = form_value(&form, "csrf");
    let summary = "Card payments fail for 30% of EU users since 02:50; rollback under way";
    let refused = web
        .post_form(
            "/incidents",
            &[
                ("csrf", &csrf),
                ("title", "Checkout returns 502"),
                ("severity", "SEV2"),
                ("incident_type", "outage"),
                ("summary", summary),
                ("service:checkout-api", "on"),
                ("service:payments-gateway", "on"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("a page");
    assert!(
        element(&html, "services-error").contains("no service named"),
        "{html}"
    );
    assert!(
        element(&html, "title").contains("value=\"Checkout returns 502\""),
        "{html}"
    );
    assert!(html.contains(&format!(">{summary}</textarea>")), "{html}");
    assert!(html.contains("<option value=\"SEV2\" selected"), "{html}");
    assert!(
        html.contains("name=\"service:checkout-api\" checked"),
        "the real service stays picked: {html}"
    );

    // An empty title is named beside the title, and the summary is still there.
    let refused = web
        .post_form(
            "/incidents",
            &[
                ("csrf", &csrf),
                ("title", " "),
                ("severity", "SEV2"),
                ("summary", summary),
            ],
        )
        .await;
    let html = refused.text().await.expect("a page");
    assert!(
        element(&html, "title-error").contains("must not be empty"),
        "{html}"
    );
    assert!(html.contains("aria-describedby=\"title-error\""), "{html}");
    assert!(html.contains(summary), "{html}");

    let declared = web
        .post_form(
            "/incidents",
            &[
                ("csrf", &csrf),
                ("title", "Checkout returns 502"),
                ("severity", "SEV2"),
                ("service:checkout-api", "on"),
            ],
        )
        .await;
    assert_eq!(declared.status(), StatusCode::SEE_OTHER);
    let id: i64 = location(&declared)
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("the incident page");
    assert_eq!(
        incident_json(&app, id).await["services"],
        json!(["checkout-api"])
    );
}

/// A mistyped password brings the sign-in form back with the username still in it and the
/// error beside the password.
async fn a_failed_sign_in_keeps_the_username(app: TestApp) {
    app.user("bob", "responder").await;
    let r = crate::helpers::post_login(
        &app.http,
        &app.base,
        &[
            ("username", "bob"),
            ("password", "not it"),
            ("next", "/incidents"),
        ],
    )
    .await;
    let html = r.text().await.expect("a page");
    assert!(
        element(&html, "username").contains("value=\"bob\""),
        "{html}"
    );
    assert!(
        element(&html, "password-error").contains("wrong password"),
        "{html}"
    );
    assert!(
        html.contains("aria-describedby=\"password-error\""),
        "{html}"
    );
}

/// Erin is a viewer: no Declare link or button, the declare page says she cannot, and the
/// incident page has no controls, only a note that it is read-only.
async fn a_viewer_is_shown_a_read_only_view(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    app.user("erin", "viewer").await;
    let id = app
        .declare(
            &bob,
            json!({"title": "Status page is stale", "severity": "SEV3"}),
        )
        .await;
    let erin = app.web_session("erin").await;
    let (_, list) = erin.page("/incidents").await;
    assert!(!list.contains("href=\"/incidents/new\""), "{list}");
    let (status, declare) = erin.page("/incidents/new").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        element(&declare, "cannot-declare").contains("viewer")
            && !declare.contains("action=\"/incidents\""),
        "{declare}"
    );
    let (_, page) = erin.page(&format!("/incidents/{id}")).await;
    assert!(
        page.contains("id=\"read-only\"") && !page.contains("/severity\""),
        "{page}"
    );

    // Bob, a responder, still has both.
    let bob = app.web_session("bob").await;
    let (_, list) = bob.page("/incidents").await;
    assert!(list.contains("href=\"/incidents/new\""), "{list}");
    let (status, _) = bob.page("/incidents/new").await;
    assert_eq!(status, StatusCode::OK);
}

/// Bob's profile says Europe/Lisbon: the incident page and list give absolute times to the
/// second in his zone, say so, and add "how long ago" beside them. Carol has no profile and
/// reads UTC, said as such.
async fn times_are_absolute_in_the_responders_time_zone(app: TestApp) {
    let bob_token = app.user("bob", "responder").await;
    app.user("carol", "responder").await;
    let id = app
        .declare(
            &bob_token,
            json!({"title": "Queue backlog", "severity": "SEV3"}),
        )
        .await;
    let bob = app.web_session("bob").await;
    let (_, responders) = bob.page("/responders").await;
    let saved = bob
        .post_form(
            "/responders/me/profile",
            &[
                ("csrf", &form_value(&responders, "csrf")),
                ("time_zone", "Europe/Lisbon"),
                ("skills", ""),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let declared_at: jiff::Timestamp = incident_json(&app, id).await["declared_at"]
        .as_str()
        .expect("declared_at")
        .parse()
        .expect("a timestamp");
    let in_zone = |zone: &str| {
        declared_at
            .to_zoned(jiff::tz::TimeZone::get(zone).expect("a zone"))
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    };

    let (_, page) = bob.page(&format!("/incidents/{id}")).await;
    assert!(
        element(&page, "declared-at").ends_with(&format!(">{}", in_zone("Europe/Lisbon"))),
        "{page}"
    );
    assert!(
        page.contains("(just now)"),
        "a relative hint beside it: {page}"
    );
    assert!(
        element(&page, "time-zone").contains("Europe/Lisbon"),
        "{page}"
    );
    let timeline = element(&page, "timeline");
    assert!(
        page.contains(&format!(
            "<span class=\"when\">{}</span>",
            in_zone("Europe/Lisbon")
        )),
        "the declaration's entry, to the second: {timeline} {page}"
    );
    let (_, list) = bob.page("/incidents").await;
    assert!(list.contains(&in_zone("Europe/Lisbon")), "{list}");

    let carol = app.web_session("carol").await;
    let (_, page) = carol.page(&format!("/incidents/{id}")).await;
    assert!(
        element(&page, "declared-at").ends_with(&format!(">{}", in_zone("UTC"))),
        "{page}"
    );
    assert!(element(&page, "time-zone").contains("UTC"), "{page}");
}

/// After "Set severity" the page says what happened in a polite live region and focuses the
/// severity control again; the page has a skip link and marks where the navigation is.
async fn an_action_is_announced_and_focus_returns_to_its_control(app: TestApp) {
    let bob_token = app.user("bob", "responder").await;
    let id = app
        .declare(
            &bob_token,
            json!({"title": "Login is slow", "severity": "SEV3"}),
        )
        .await;
    let bob = app.web_session("bob").await;
    let page = format!("/incidents/{id}");
    let (_, html) = bob.page(&page).await;
    assert!(
        element(&html, "announce").contains("aria-live=\"polite\""),
        "{html}"
    );
    assert!(
        element(&html, "live").contains("aria-live=\"polite\""),
        "{html}"
    );
    let skip = html.find("Skip to content").expect("a skip link");
    assert!(
        skip < html.find("<nav").expect("a nav") && html.contains("href=\"#content\""),
        "{html}"
    );
    assert!(html.contains("id=\"content\""), "{html}");
    assert!(
        html.contains("<a href=\"/incidents\" aria-current=\"page\">Incidents</a>"),
        "{html}"
    );

    let set = bob
        .post_form(
            &format!("{page}/severity"),
            &[
                ("csrf", &form_value(&html, "csrf")),
                ("version", &form_value(&html, "version")),
                ("severity", "SEV2"),
                ("confirm", "yes"),
            ],
        )
        .await;
    let back = location(&set);
    assert_eq!(back, format!("{page}?done=severity-SEV2"));
    let (_, html) = bob.page(&back).await;
    assert!(
        element(&html, "announce").ends_with(">Severity set to SEV2."),
        "{html}"
    );
    assert!(
        element(&html, "severity-select").contains("autofocus"),
        "focus goes back to the control used: {html}"
    );
    assert_eq!(html.matches(" autofocus").count(), 1, "{html}");

    // Only what the server can say: a crafted link announces nothing.
    let (_, html) = bob
        .page(&format!("{page}?done=severity-%3Cb%3Ehacked"))
        .await;
    assert!(
        element(&html, "announce").ends_with("aria-live=\"polite\">"),
        "{html}"
    );

    let (_, list) = bob.page("/responders").await;
    assert!(
        list.contains("<a href=\"/responders\" aria-current=\"page\">Responders</a>"),
        "{list}"
    );
}

/// Resolving and changing severity are asked about on a second page that says what they
/// will do (no script needed), and happen only once confirmed; acknowledging says it is for
/// everyone's pages; removing a contact method needs its box ticked.
async fn consequential_changes_are_confirmed_first(app: TestApp) {
    let bob_token = app.user("bob", "responder").await;
    let id = app
        .declare(
            &bob_token,
            json!({"title": "Backups failing", "severity": "SEV3"}),
        )
        .await;
    let bob = app.web_session("bob").await;
    let page = format!("/incidents/{id}");
    let (_, html) = bob.page(&page).await;
    assert!(
        element(&html, "acknowledge").contains("Acknowledge all pages for this incident"),
        "{html}"
    );
    let (csrf, version) = (form_value(&html, "csrf"), form_value(&html, "version"));

    let asked = bob
        .post_form(
            &format!("{page}/severity"),
            &[("csrf", &csrf), ("version", &version), ("severity", "SEV1")],
        )
        .await;
    assert_eq!(
        asked.status(),
        StatusCode::OK,
        "a confirmation page, not a redirect"
    );
    let question = asked.text().await.expect("a page");
    assert!(
        element(&question, "question").contains("from SEV3 to SEV1")
            && question.contains("SEV1 requires Incident lead, Communications lead, Scribe (unfilled: Incident lead, Communications lead, Scribe)")
            && question.contains("name=\"confirm\" value=\"yes\"")
            && question.contains(&format!("name=\"version\" value=\"{version}\"")),
        "{question}"
    );
    assert_eq!(
        incident_json(&app, id).await["severity"],
        "SEV3",
        "nothing changed yet"
    );

    let asked = bob
        .post_form(
            &format!("{page}/status"),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("status", "resolved"),
            ],
        )
        .await;
    let question = asked.text().await.expect("a page");
    assert!(
        element(&question, "question").contains("Resolve incident")
            && question.contains("Paging stops for everyone"),
        "{question}"
    );
    assert_eq!(incident_json(&app, id).await["status"], "triage");
    let confirmed = bob
        .post_form(
            &format!("{page}/status"),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("status", "resolved"),
                ("reason", ""),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(location(&confirmed), format!("{page}?done=status-resolved"));
    let (_, html) = bob.page(&location(&confirmed)).await;
    assert!(
        element(&html, "announce").contains("Incident resolved"),
        "{html}"
    );
    assert_eq!(incident_json(&app, id).await["status"], "resolved");

    // Other status changes are not asked about.
    let (_, html) = bob.page(&page).await;
    let reopened = bob
        .post_form(
            &format!("{page}/status"),
            &[
                ("csrf", &csrf),
                ("version", &form_value(&html, "version")),
                ("status", "investigating"),
                ("reason", "errors came back"),
            ],
        )
        .await;
    assert_eq!(
        location(&reopened),
        format!("{page}?done=status-investigating")
    );

    let added = bob
        .post_form(
            "/responders/me/contact-methods",
            &[
                ("csrf", &csrf),
                ("kind", "email"),
                ("address", "bob@example.org"),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let (_, responders) = bob.page("/responders").await;
    let remove = responders.split("/remove\"").nth(1).expect("a remove form");
    assert!(
        remove[..remove.find("</form>").expect("its end")]
            .contains("type=\"checkbox\" name=\"confirm\" value=\"yes\" required"),
        "{responders}"
    );
}
