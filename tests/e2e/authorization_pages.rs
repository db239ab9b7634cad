//! The authorization matrix of the web UI: every page and form of the UI's routers (read from
//! their `.route(…)` lines, so a new one cannot skip it) × every kind of caller, signed in
//! through the login form (anonymous, viewer, responder, participant, admin) × a public and a
//! private incident where the route is about one, each answered as its access rule says.
//!
//! A form is posted with its session's CSRF token and fields that are valid input, so what
//! decides the answer is who asks (roles go to pat, already in the private incident: one given
//! to rita would let her in). In the UI, "unauthenticated" is a redirect to the login
//! page, "forbidden" a 403 page, "hidden" a 404; "allowed" is anything else but a server
//! error (a redirect carrying a validation message included: the caller got past the gate).
//! Every form is also posted by the admin without the token, and must be refused.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};

use crate::authorization::{
    Caller, Expect, Rule, World, expected, incident_label, settle_matrix, world,
};
use crate::helpers::{TestApp, WebSession};

crate::on_both_backends!(every_page_and_form_answers_each_caller_as_its_rule_says);

/// Each UI route, its rule, and for a form the fields that are valid input (`k=v&…`, values
/// unencoded; `{name}` is an id of the matrix's world).
const PAGES: &[(&str, Rule, &str)] = &[
    ("GET /", Rule::Open, ""),
    ("GET /static/app.css", Rule::Open, ""),
    ("GET /static/app.js", Rule::Open, ""),
    ("GET /static/status.js", Rule::Open, ""),
    ("GET /login", Rule::Open, ""),
    (
        "POST /login",
        Rule::LoginForm,
        "username=rita&password=rita-password&csrf=forged",
    ),
    ("GET /setup", Rule::Open, ""),
    (
        "POST /setup",
        Rule::Open,
        "setup_token=guess&username=mallory&password=correct-horse",
    ),
    ("GET /report", Rule::Open, ""),
    (
        "POST /report",
        Rule::Open,
        "service=checkout&text=Checkout spins forever",
    ),
    ("GET /ack/{page}/{signature}", Rule::Link, ""),
    ("POST /ack/{page}/{signature}", Rule::Link, ""),
    (
        "POST /status/subscribe",
        Rule::Open,
        "email=reader@example.org",
    ),
    ("GET /status/subscribe/confirm/{token}", Rule::Link, ""),
    ("GET /status/unsubscribe/{token}", Rule::Link, ""),
    ("POST /status/unsubscribe/{token}", Rule::Link, ""),
    ("GET /incidents", Rule::Read, ""),
    (
        "POST /incidents",
        Rule::Act,
        "title=Checkout errors&severity=SEV3",
    ),
    ("GET /incidents/list", Rule::Read, ""),
    ("GET /incidents/new", Rule::Act, ""),
    ("GET /events", Rule::Read, ""),
    ("GET /incidents/{id}", Rule::IncidentRead, ""),
    ("GET /incidents/{id}/live", Rule::IncidentRead, ""),
    ("GET /incidents/{id}/events", Rule::IncidentRead, ""),
    ("GET /incidents/{id}/review", Rule::IncidentRead, ""),
    ("GET /incidents/{id}/review.md", Rule::IncidentRead, ""),
    (
        "POST /incidents/{id}/review",
        Rule::IncidentAct,
        "text=The index was missing.&version=0",
    ),
    (
        "POST /incidents/{id}/review/blame",
        Rule::IncidentRead,
        "text=Nothing warned of the expiry.",
    ),
    ("POST /incidents/{id}/review/publish", Rule::IncidentAct, ""),
    (
        "POST /incidents/{id}/review/comments",
        Rule::IncidentAct,
        "text=The canary ran for two minutes",
    ),
    (
        "POST /incidents/{id}/review/meeting",
        Rule::IncidentAct,
        "starts_at=2036-03-04T14:00&duration_minutes=45&attendees=rita",
    ),
    (
        "POST /incidents/{id}/review/action-items",
        Rule::IncidentAct,
        "title=Alert on edge timeouts&priority=high",
    ),
    ("GET /action-items", Rule::Read, ""),
    ("GET /response-metrics", Rule::Read, ""),
    ("GET /drills", Rule::Read, ""),
    (
        "POST /drills",
        Rule::Act,
        "scenario=title%20%3D%20%22Practice%22%0Aseverity%20%3D%20%22SEV4%22%0Apaging%20%3D%20%22everyone%22",
    ),
    ("GET /drills/{id}", Rule::Read, ""),
    ("GET /playbooks", Rule::Read, ""),
    (
        "POST /playbooks",
        Rule::Act,
        "incident_type=outage&steps=Page the edge team",
    ),
    ("GET /playbooks/{id}", Rule::Read, ""),
    (
        "POST /playbooks/{id}",
        Rule::Act,
        "version=1&steps=Page the edge team&reason=clearer steps",
    ),
    (
        "POST /incidents/{id}/checklist/{step}",
        Rule::IncidentAct,
        "checked=true",
    ),
    (
        "POST /action-items/{item}",
        Rule::IncidentAct,
        "state=in_progress&back=review",
    ),
    (
        "POST /incidents/{id}/notes",
        Rule::IncidentAct,
        "text=Rolled back the deploy",
    ),
    (
        "POST /incidents/{id}/status",
        Rule::IncidentAct,
        "status=investigating",
    ),
    (
        "POST /incidents/{id}/severity",
        Rule::IncidentAct,
        "severity=SEV2&confirm=yes",
    ),
    (
        "POST /incidents/{id}/roles",
        Rule::IncidentAct,
        "role=scribe&user=pat",
    ),
    (
        "POST /incidents/{id}/participants",
        Rule::IncidentAct,
        "user=pat",
    ),
    (
        "POST /incidents/{id}/evidence",
        Rule::IncidentAct,
        "kind=log&summary=5xx spike at 14:02",
    ),
    (
        "POST /incidents/{id}/evidence/{eid}/pin",
        Rule::IncidentAct,
        "pinned=1",
    ),
    (
        "POST /incidents/{id}/evidence/{eid}/attachments",
        Rule::IncidentAct,
        "",
    ),
    (
        "GET /incidents/{id}/evidence/{eid}/attachments/{aid}",
        Rule::IncidentRead,
        "",
    ),
    (
        "POST /incidents/{id}/hypotheses",
        Rule::IncidentAct,
        "statement=The config push lowered the timeout",
    ),
    (
        "POST /incidents/{id}/hypotheses/{hid}/tests",
        Rule::IncidentAct,
        "description=Replayed on staging&result=Reproduced",
    ),
    (
        "POST /incidents/{id}/hypotheses/{hid}/state",
        Rule::IncidentAct,
        "state=testing",
    ),
    (
        "POST /incidents/{id}/updates",
        Rule::IncidentAct,
        "text=We are investigating checkout errors.&phase=investigating&audience_stakeholders=on",
    ),
    (
        "POST /incidents/{id}/updates/{uid}/publish",
        Rule::IncidentAct,
        "",
    ),
    (
        "POST /incidents/{id}/updates/snooze",
        Rule::IncidentAct,
        "minutes=30",
    ),
    (
        "POST /incidents/{id}/updates/tone",
        Rule::IncidentRead,
        "text=We are investigating.&phase=investigating",
    ),
    (
        "POST /incidents/{id}/tasks",
        Rule::IncidentAct,
        "title=Check BGP sessions",
    ),
    (
        "POST /incidents/{id}/tasks/{tid}/check-ins",
        Rule::IncidentAct,
        "note=Two of four sessions flapping",
    ),
    (
        "POST /incidents/{id}/tasks/{tid}/status",
        Rule::IncidentAct,
        "status=in_progress",
    ),
    (
        "POST /incidents/{id}/changes",
        Rule::IncidentAct,
        "system=edge-proxy&description=Timeout back to 30s&reason=Impact is growing",
    ),
    (
        "POST /incidents/{id}/changes/{cid}/rollback",
        Rule::IncidentAct,
        "",
    ),
    ("POST /incidents/{id}/acknowledge", Rule::IncidentAct, ""),
    ("GET /briefing", Rule::Read, ""),
    ("GET /me/work", Rule::Read, ""),
    ("GET /alerts", Rule::Read, ""),
    ("GET /alerts/{id}", Rule::Read, ""),
    ("GET /oncall", Rule::Read, ""),
    ("GET /oncall/config", Rule::Admin, ""),
    ("POST /oncall/config", Rule::Admin, "document="),
    (
        "POST /schedules/{id}/overrides",
        Rule::Act,
        "user=rita&start=2036-01-05T14:00&end=2036-01-05T18:00",
    ),
    ("GET /responders", Rule::Read, ""),
    (
        "POST /responders/me/profile",
        Rule::Read,
        "time_zone=Europe/Lisbon",
    ),
    (
        "POST /responders/me/contact-methods",
        Rule::Read,
        "kind=email&address=me@example.org",
    ),
    (
        "POST /responders/me/notification-rules",
        Rule::Read,
        "contact_method_id={contact_method}&delay_minutes=5",
    ),
    (
        "POST /responders/me/contact-methods/{id}/rotate-secret",
        Rule::Owned,
        "",
    ),
    (
        "POST /responders/me/notification-rules/{id}/remove",
        Rule::Owned,
        "",
    ),
    (
        "POST /responders/me/contact-methods/{id}/remove",
        Rule::Owned,
        "",
    ),
    ("GET /users", Rule::Admin, ""),
    (
        "POST /users",
        Rule::Admin,
        "username=sam&password=correct-horse&role=responder",
    ),
    ("GET /tokens", Rule::Read, ""),
    ("POST /tokens", Rule::Read, "name=ci"),
    ("POST /tokens/{id}/revoke", Rule::Owned, ""),
    ("GET /reports", Rule::Act, ""),
    ("GET /status-page", Rule::Read, ""),
    (
        "POST /status-page/branding",
        Rule::Admin,
        "name=Example Status&accent=#1f4e79",
    ),
    ("POST /status-page/components", Rule::Admin, "name=Search"),
    (
        "POST /status-page/components/{id}",
        Rule::Admin,
        "name=Checkout",
    ),
    (
        "POST /status-page/maintenances",
        Rule::Act,
        "title=Database upgrade&until=2036-01-01T03:00",
    ),
    (
        "POST /status-page/maintenances/{id}/status",
        Rule::Act,
        "status=cancelled",
    ),
    (
        "POST /status-page/subscribers",
        Rule::Admin,
        "kind=email&address=reader@example.org",
    ),
    ("POST /status-page/subscribers/{id}/remove", Rule::Admin, ""),
    // Last: it ends each caller's session.
    ("POST /logout", Rule::Read, ""),
];

/// Every route the UI's routers declare, as "METHOD /path".
fn ui_routes() -> Vec<String> {
    let http = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files: Vec<_> = std::fs::read_dir(http.join("ui"))
        .expect("src/http/ui")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.push(http.join("public/subscribe.rs"));
    let mut routes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for (path, methods) in aplomb::http::routes_declared_in(&text) {
            routes.extend(
                methods
                    .iter()
                    .map(|m| format!("{} {path}", m.to_uppercase())),
            );
        }
    }
    routes
}

/// Whether a page's answer is what `expect` says.
fn answers(expect: Expect, response: &reqwest::Response) -> bool {
    let status = response.status();
    let to_login = status == StatusCode::SEE_OTHER
        && response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.starts_with("/login?next="));
    match expect {
        Expect::Allowed => {
            !status.is_server_error() && !to_login && !matches!(status.as_u16(), 401 | 403 | 404)
        }
        Expect::Unauthenticated => to_login,
        Expect::Forbidden => status == StatusCode::FORBIDDEN,
        Expect::Hidden => status == StatusCode::NOT_FOUND,
    }
}

/// The fields of a form, with the world's ids put in and the session's CSRF token added.
fn fields(world: &World, form: &str, csrf: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = form
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("name=value");
            let value = match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                Some(id) => world.ids[id].to_string(),
                None => value.to_string(),
            };
            (name.to_string(), value)
        })
        .collect();
    if let Some(csrf) = csrf {
        out.push(("csrf".into(), csrf.into()));
    }
    out
}

/// An attachment upload as a browser sends it: multipart, the CSRF token beside the file.
fn attachment(builder: reqwest::RequestBuilder, csrf: Option<&str>) -> reqwest::RequestBuilder {
    let boundary = "matrix-boundary";
    let mut body = String::new();
    if let Some(csrf) = csrf {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"edge.log\"\r\n\
         Content-Type: text/plain\r\n\r\n502 upstream timeout\r\n--{boundary}--\r\n"
    ));
    builder
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
}

async fn every_page_and_form_answers_each_caller_as_its_rule_says(app: TestApp) {
    let world = world(&app).await;
    app.user("ada", "admin").await;
    let mut sessions: BTreeMap<Caller, (WebSession, String)> = BTreeMap::new();
    for (caller, name) in [
        (Caller::Viewer, "vic"),
        (Caller::Responder, "rita"),
        (Caller::Participant, "pat"),
        (Caller::Admin, "ada"),
    ] {
        let session = app.web_session(name).await;
        let csrf = session.csrf().await;
        sessions.insert(caller, (session, csrf));
    }
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");

    let rules: BTreeMap<&str, (Rule, &str)> = PAGES
        .iter()
        .map(|(name, rule, form)| (*name, (*rule, *form)))
        .collect();
    let routes = ui_routes();
    let unruled: Vec<&String> = routes
        .iter()
        .filter(|r| !rules.contains_key(r.as_str()))
        .collect();
    assert!(
        unruled.is_empty(),
        "no access rule in PAGES for {unruled:#?}"
    );
    let stale: Vec<&str> = PAGES
        .iter()
        .map(|(name, _, _)| *name)
        .filter(|name| !routes.iter().any(|r| r == name))
        .collect();
    assert!(
        stale.is_empty(),
        "PAGES names routes the UI lacks: {stale:#?}"
    );

    let mut cells = 0;
    let mut wrong = Vec::new();
    for (name, rule, form) in PAGES {
        let (method, path) = name.split_once(' ').expect("METHOD /path");
        let method: Method = method.parse().expect("a method");
        let about_incident = path.starts_with("/incidents/{id}");
        let incidents: &[usize] = if about_incident { &[0, 1] } else { &[0] };
        // Forms of a session are also sent without its CSRF token, by the admin.
        let session_form =
            method == Method::POST && !matches!(rule, Rule::Open | Rule::Link | Rule::LoginForm);
        for &which in incidents {
            let url = format!("{}{}", app.base, world.fill(path, which));
            let private = which == 1;
            let mut sends: Vec<(Caller, bool)> = [
                Caller::Anonymous,
                Caller::Viewer,
                Caller::Responder,
                Caller::Participant,
                Caller::Admin,
            ]
            .into_iter()
            .map(|caller| (caller, true))
            .collect();
            if session_form {
                sends.insert(0, (Caller::Admin, false));
            }
            for (caller, with_token) in sends {
                let session = sessions.get(&caller);
                let client = session.map_or(&anonymous, |(s, _)| &s.client);
                let csrf = session
                    .filter(|_| session_form && with_token)
                    .map(|(_, csrf)| csrf.as_str());
                let mut builder = client.request(method.clone(), &url);
                if let Some((s, _)) = session {
                    builder = builder.header("cookie", &s.cookie);
                }
                if method == Method::POST {
                    builder = if path.ends_with("/attachments") {
                        attachment(builder, csrf)
                    } else {
                        builder.form(&fields(&world, form, csrf))
                    };
                }
                let expect = if with_token {
                    expected(*rule, caller, private)
                } else {
                    Expect::Forbidden
                };
                // Only the status is read: a live stream's body never ends.
                let response = builder.send().await.expect("an answer");
                cells += 1;
                if !answers(expect, &response) {
                    let incident = incident_label(about_incident, private);
                    let to = response
                        .headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .map(|l| format!(" to {l}"))
                        .unwrap_or_default();
                    wrong.push(format!(
                        "{name} as {caller:?}{incident}{}: {}{to}, expected {expect}",
                        if with_token {
                            ""
                        } else {
                            " without the CSRF token"
                        },
                        response.status()
                    ));
                }
            }
        }
    }
    settle_matrix(&wrong, cells, &format!("{} web UI routes", PAGES.len()));
}
