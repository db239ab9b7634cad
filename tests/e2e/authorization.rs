//! The authorization matrix: every operation of the OpenAPI document (itself checked against
//! the router) × every kind of caller (anonymous, viewer, responder, participant, admin) × a
//! public and a private incident where the operation is about one, each answered with the
//! status its access rule gives. An operation the table below does not name fails the test,
//! so a new route cannot skip it.
//!
//! A request is sent with every path parameter naming something that exists and a body
//! holding the schema's required fields, so what decides its answer is who asks. "Allowed"
//! is any answer but 401, 403 and 404 (a validation error included: the caller got past the
//! gate); "forbidden" is 403; "hidden" is 404, what an outsider learns of a private incident.
//! Every answer must also be one the document lists for the operation.

use std::collections::BTreeMap;
use std::fmt;

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::alerts::trigger;
use crate::helpers::{ADMIN_TOKEN, TestApp};
use crate::paging::ok;
use crate::sinks::eventually;

crate::on_both_backends!(every_operation_answers_each_caller_as_its_rule_says);

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Anyone, without a token (sign-in, the document, receivers that check their own key).
    Open,
    /// Only a request signed with the integration's secret: a token is not that (forge
    /// webhooks).
    Signed,
    /// Anyone signed in.
    Read,
    /// Responders and admins.
    Act,
    /// Admins only.
    Admin,
    /// Anyone, without a token, for an incident the status page shows; no one, not even an
    /// admin, for a private one: the public page never shows it.
    StatusPage,
    /// Only the holder of the credential in the path (a signed link, a subscriber's token):
    /// a wrong one is not found, whoever asks and whatever session they hold.
    Link,
    /// A thing of the responder's own (rita's contact method, token): hers alone; not found
    /// for anyone else, admins included, since a page acts for the one signed in.
    Owned,
    /// The login form: refused (403) without the token of the form a browser loaded.
    LoginForm,
    /// The user named in the path, and admins.
    OwnUser,
    /// Anyone signed in who may see the incident (a private one: participants and admins).
    IncidentRead,
    /// Responders and admins who may see the incident.
    IncidentAct,
}

/// The rule of every operation, as "METHOD /path" in the document.
const RULES: &[(&str, Rule)] = &[
    ("GET /api/v1/alerts", Rule::Read),
    ("GET /api/v1/alerts/{id}", Rule::Read),
    ("POST /api/v1/alerts/{id}/acknowledge", Rule::Act),
    ("POST /api/v1/alerts/{id}/resolve", Rule::Act),
    ("POST /api/v1/apply", Rule::Admin),
    ("POST /api/v1/blame-check", Rule::Read),
    ("GET /api/v1/backup", Rule::Admin),
    ("GET /api/v1/briefing", Rule::Read),
    ("POST /api/v1/engagement-rules", Rule::Admin),
    ("GET /api/v1/escalation-policies", Rule::Read),
    ("POST /api/v1/escalation-policies", Rule::Admin),
    ("GET /api/v1/export", Rule::Admin),
    ("GET /api/v1/incidents", Rule::Read),
    ("POST /api/v1/incidents", Rule::Act),
    ("GET /api/v1/incidents/{id}", Rule::IncidentRead),
    ("PATCH /api/v1/incidents/{id}", Rule::IncidentAct),
    ("POST /api/v1/incidents/{id}/acknowledge", Rule::IncidentAct),
    ("GET /api/v1/incidents/{id}/cadence", Rule::IncidentRead),
    (
        "POST /api/v1/incidents/{id}/cadence/snooze",
        Rule::IncidentAct,
    ),
    ("GET /api/v1/incidents/{id}/changes", Rule::IncidentRead),
    ("POST /api/v1/incidents/{id}/changes", Rule::IncidentAct),
    (
        "PATCH /api/v1/incidents/{id}/changes/{cid}",
        Rule::IncidentAct,
    ),
    ("GET /api/v1/incidents/{id}/events", Rule::IncidentRead),
    ("GET /api/v1/incidents/{id}/evidence", Rule::IncidentRead),
    ("POST /api/v1/incidents/{id}/evidence", Rule::IncidentAct),
    (
        "DELETE /api/v1/incidents/{id}/evidence/{eid}",
        Rule::IncidentAct,
    ),
    (
        "PATCH /api/v1/incidents/{id}/evidence/{eid}",
        Rule::IncidentAct,
    ),
    (
        "POST /api/v1/incidents/{id}/evidence/{eid}/attachments",
        Rule::IncidentAct,
    ),
    (
        "GET /api/v1/incidents/{id}/evidence/{eid}/attachments/{aid}",
        Rule::IncidentRead,
    ),
    (
        "DELETE /api/v1/incidents/{id}/evidence/{eid}/attachments/{aid}",
        Rule::IncidentAct,
    ),
    ("GET /api/v1/incidents/{id}/hypotheses", Rule::IncidentRead),
    ("POST /api/v1/incidents/{id}/hypotheses", Rule::IncidentAct),
    (
        "PATCH /api/v1/incidents/{id}/hypotheses/{hid}",
        Rule::IncidentAct,
    ),
    (
        "POST /api/v1/incidents/{id}/hypotheses/{hid}/tests",
        Rule::IncidentAct,
    ),
    ("GET /api/v1/incidents/{id}/pages", Rule::IncidentRead),
    (
        "POST /api/v1/incidents/{id}/participants",
        Rule::IncidentAct,
    ),
    (
        "GET /api/v1/incidents/{id}/recent-changes",
        Rule::IncidentRead,
    ),
    ("PUT /api/v1/incidents/{id}/roles/{role}", Rule::IncidentAct),
    ("GET /api/v1/incidents/{id}/tasks", Rule::IncidentRead),
    ("POST /api/v1/incidents/{id}/tasks", Rule::IncidentAct),
    (
        "PATCH /api/v1/incidents/{id}/tasks/{tid}",
        Rule::IncidentAct,
    ),
    (
        "POST /api/v1/incidents/{id}/tasks/{tid}/check-ins",
        Rule::IncidentAct,
    ),
    ("GET /api/v1/incidents/{id}/timeline", Rule::IncidentRead),
    ("POST /api/v1/incidents/{id}/timeline", Rule::IncidentAct),
    ("GET /api/v1/incidents/{id}/review", Rule::IncidentRead),
    ("PUT /api/v1/incidents/{id}/review", Rule::IncidentAct),
    ("GET /api/v1/incidents/{id}/review.md", Rule::IncidentRead),
    (
        "GET /api/v1/incidents/{id}/review/history",
        Rule::IncidentRead,
    ),
    (
        "GET /api/v1/incidents/{id}/review/comments",
        Rule::IncidentRead,
    ),
    (
        "POST /api/v1/incidents/{id}/review/comments",
        Rule::IncidentAct,
    ),
    (
        "GET /api/v1/incidents/{id}/review/meeting",
        Rule::IncidentRead,
    ),
    (
        "PUT /api/v1/incidents/{id}/review/meeting",
        Rule::IncidentAct,
    ),
    (
        "POST /api/v1/incidents/{id}/review/publish",
        Rule::IncidentAct,
    ),
    (
        "GET /api/v1/incidents/{id}/review/action-items",
        Rule::IncidentRead,
    ),
    (
        "POST /api/v1/incidents/{id}/review/action-items",
        Rule::IncidentAct,
    ),
    ("GET /api/v1/action-items", Rule::Read),
    ("GET /api/v1/metrics/response", Rule::Read),
    ("GET /api/v1/drills", Rule::Read),
    ("POST /api/v1/drills", Rule::Act),
    ("GET /api/v1/drills/{id}", Rule::Read),
    ("GET /api/v1/playbooks", Rule::Read),
    ("POST /api/v1/playbooks", Rule::Act),
    ("GET /api/v1/playbooks/{id}", Rule::Read),
    ("PUT /api/v1/playbooks/{id}", Rule::Act),
    ("GET /api/v1/playbooks/{id}/diff", Rule::Read),
    ("GET /api/v1/incidents/{id}/checklist", Rule::IncidentRead),
    (
        "PUT /api/v1/incidents/{id}/checklist/{step}",
        Rule::IncidentAct,
    ),
    ("GET /api/v1/action-items/{item}", Rule::IncidentRead),
    ("PATCH /api/v1/action-items/{item}", Rule::IncidentAct),
    ("GET /api/v1/incidents/{id}/updates", Rule::IncidentRead),
    ("POST /api/v1/incidents/{id}/updates", Rule::IncidentAct),
    (
        "GET /api/v1/incidents/{id}/updates/template",
        Rule::IncidentRead,
    ),
    (
        "PATCH /api/v1/incidents/{id}/updates/{uid}",
        Rule::IncidentAct,
    ),
    ("DELETE /api/v1/integrations/{id}", Rule::Admin),
    ("POST /api/v1/integrations/{id}/rotate", Rule::Admin),
    ("POST /api/v1/login", Rule::Open),
    ("GET /api/v1/maintenances", Rule::Read),
    ("POST /api/v1/maintenances", Rule::Act),
    ("GET /api/v1/maintenances/{id}", Rule::Read),
    ("PATCH /api/v1/maintenances/{id}", Rule::Act),
    ("GET /api/v1/me/work", Rule::Read),
    ("GET /api/v1/openapi.json", Rule::Open),
    ("GET /api/v1/reports", Rule::Act),
    ("POST /api/v1/reports", Rule::Open),
    ("GET /api/v1/schedules", Rule::Read),
    ("POST /api/v1/schedules", Rule::Admin),
    ("GET /api/v1/schedules/{id}", Rule::Read),
    ("GET /api/v1/schedules/{id}/calendar-link", Rule::Read),
    ("GET /api/v1/schedules/{id}/calendar.ics", Rule::Read),
    ("POST /api/v1/schedules/{id}/overrides", Rule::Act),
    ("GET /api/v1/services", Rule::Read),
    ("POST /api/v1/services", Rule::Admin),
    ("PUT /api/v1/services/{name}/alert-rules", Rule::Admin),
    ("GET /api/v1/services/{name}/integrations", Rule::Read),
    ("POST /api/v1/services/{name}/integrations", Rule::Admin),
    ("GET /api/v1/services/{name}/oncall", Rule::Read),
    ("PUT /api/v1/services/{name}/oncall", Rule::Admin),
    ("GET /api/v1/silences", Rule::Read),
    ("POST /api/v1/silences", Rule::Act),
    ("DELETE /api/v1/silences/{id}", Rule::Act),
    ("GET /api/v1/status/branding", Rule::Read),
    ("PUT /api/v1/status/branding", Rule::Admin),
    ("GET /api/v1/status/components", Rule::Read),
    ("POST /api/v1/status/components", Rule::Admin),
    ("PATCH /api/v1/status/components/{id}", Rule::Admin),
    ("GET /api/v1/status/subscribers", Rule::Admin),
    ("POST /api/v1/status/subscribers", Rule::Admin),
    ("DELETE /api/v1/status/subscribers/{id}", Rule::Admin),
    ("GET /api/v1/teams", Rule::Read),
    ("POST /api/v1/teams", Rule::Admin),
    ("POST /api/v1/tone-check", Rule::Read),
    ("GET /api/v1/update-templates", Rule::Read),
    (
        "PUT /api/v1/update-templates/{audience}/{phase}",
        Rule::Admin,
    ),
    (
        "DELETE /api/v1/update-templates/{audience}/{phase}",
        Rule::Admin,
    ),
    ("GET /api/v1/users", Rule::Admin),
    ("POST /api/v1/users", Rule::Admin),
    ("GET /api/v1/users/{username}/calendar-link", Rule::Read),
    ("GET /api/v1/users/{username}/calendar.ics", Rule::Read),
    (
        "GET /api/v1/users/{username}/contact-methods",
        Rule::OwnUser,
    ),
    (
        "POST /api/v1/users/{username}/contact-methods",
        Rule::OwnUser,
    ),
    (
        "DELETE /api/v1/users/{username}/contact-methods/{id}",
        Rule::OwnUser,
    ),
    (
        "POST /api/v1/users/{username}/contact-methods/{id}/rotate-secret",
        Rule::OwnUser,
    ),
    (
        "GET /api/v1/users/{username}/notification-rules",
        Rule::OwnUser,
    ),
    (
        "POST /api/v1/users/{username}/notification-rules",
        Rule::OwnUser,
    ),
    (
        "DELETE /api/v1/users/{username}/notification-rules/{id}",
        Rule::OwnUser,
    ),
    ("PUT /api/v1/users/{username}/profile", Rule::OwnUser),
    ("GET /api/v1/users/{username}/subscriptions", Rule::OwnUser),
    ("POST /api/v1/users/{username}/subscriptions", Rule::OwnUser),
    (
        "DELETE /api/v1/users/{username}/subscriptions/{id}",
        Rule::OwnUser,
    ),
    ("GET /api/v1/users/{username}/tokens", Rule::OwnUser),
    ("POST /api/v1/users/{username}/tokens", Rule::OwnUser),
    ("DELETE /api/v1/users/{username}/tokens/{id}", Rule::OwnUser),
    ("GET /api/v1/whoami", Rule::Read),
    ("GET /healthz", Rule::Open),
    ("POST /integrations/alertmanager/{routing_key}", Rule::Open),
    ("POST /integrations/forge/{routing_key}", Rule::Signed),
    ("POST /integrations/grafana/{routing_key}", Rule::Open),
    ("GET /metrics", Rule::Open),
    ("GET /readyz", Rule::Open),
    ("GET /status", Rule::Open),
    ("GET /status/api/v2/components.json", Rule::Open),
    ("GET /status/api/v2/incidents.json", Rule::Open),
    ("GET /status/api/v2/incidents/unresolved.json", Rule::Open),
    ("GET /status/api/v2/scheduled-maintenances.json", Rule::Open),
    (
        "GET /status/api/v2/scheduled-maintenances/active.json",
        Rule::Open,
    ),
    (
        "GET /status/api/v2/scheduled-maintenances/upcoming.json",
        Rule::Open,
    ),
    ("GET /status/api/v2/status.json", Rule::Open),
    ("GET /status/api/v2/summary.json", Rule::Open),
    ("GET /status/badge.svg", Rule::Open),
    ("GET /status/components/{id}/badge.svg", Rule::Open),
    ("GET /status/components/{id}/feed.atom", Rule::Open),
    ("GET /status/feed.atom", Rule::Open),
    ("GET /status/incidents/{id}", Rule::StatusPage),
    ("POST /v2/change/enqueue", Rule::Open),
    ("POST /v2/enqueue", Rule::Open),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Caller {
    Anonymous,
    Viewer,
    Responder,
    /// A responder taking part in the private incident.
    Participant,
    Admin,
}

/// What a caller should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    Allowed,
    Unauthenticated,
    Forbidden,
    Hidden,
}

impl Expect {
    fn matches(self, status: StatusCode, deleting: bool) -> bool {
        match self {
            // What an earlier caller deleted is gone for a later one.
            Self::Allowed => {
                !status.is_server_error()
                    && (!matches!(status.as_u16(), 401 | 403 | 404)
                        || (deleting && status == StatusCode::NOT_FOUND))
            }
            Self::Unauthenticated => status == StatusCode::UNAUTHORIZED,
            Self::Forbidden => status == StatusCode::FORBIDDEN,
            Self::Hidden => status == StatusCode::NOT_FOUND,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allowed => "allowed",
            Self::Unauthenticated => "401",
            Self::Forbidden => "403",
            Self::Hidden => "404",
        })
    }
}

/// The answer `caller` should get under `rule`, on a private incident or not.
pub(crate) fn expected(rule: Rule, caller: Caller, private: bool) -> Expect {
    use Caller::*;
    if rule == Rule::Signed {
        return Expect::Unauthenticated;
    }
    if rule == Rule::StatusPage {
        return if private {
            Expect::Hidden
        } else {
            Expect::Allowed
        };
    }
    match rule {
        Rule::Link => return Expect::Hidden,
        Rule::LoginForm => return Expect::Forbidden,
        _ => {}
    }
    if caller == Anonymous {
        return if rule == Rule::Open {
            Expect::Allowed
        } else {
            Expect::Unauthenticated
        };
    }
    let sees = !private || matches!(caller, Participant | Admin);
    let acts = caller != Viewer;
    let allowed = |yes: bool| {
        if yes {
            Expect::Allowed
        } else {
            Expect::Forbidden
        }
    };
    match rule {
        Rule::Open | Rule::Read | Rule::StatusPage => Expect::Allowed,
        Rule::Signed => Expect::Unauthenticated,
        Rule::Act => allowed(acts),
        Rule::Admin => allowed(caller == Admin),
        // The path names the responder.
        Rule::OwnUser => allowed(matches!(caller, Responder | Admin)),
        Rule::IncidentRead if !sees => Expect::Hidden,
        Rule::IncidentRead => Expect::Allowed,
        Rule::IncidentAct if !sees => Expect::Hidden,
        Rule::IncidentAct => allowed(acts),
        Rule::Owned if caller == Responder => Expect::Allowed,
        Rule::Owned | Rule::Link => Expect::Hidden,
        Rule::LoginForm => Expect::Forbidden,
    }
}

/// What exists for the requests to name.
pub(crate) struct World {
    tokens: BTreeMap<Caller, String>,
    /// Per incident (public, then private): its id and its evidence, attachment, hypothesis,
    /// task, change and update.
    incidents: [BTreeMap<&'static str, i64>; 2],
    pub(crate) ids: BTreeMap<&'static str, i64>,
    routing_key: String,
    forge_key: String,
}

fn id_of(answer: &Value) -> i64 {
    answer["id"].as_i64().expect("an id")
}

pub(crate) async fn world(app: &TestApp) -> World {
    let mut tokens = BTreeMap::from([(Caller::Admin, ADMIN_TOKEN.to_string())]);
    for (caller, name, role) in [
        (Caller::Viewer, "vic", "viewer"),
        (Caller::Responder, "rita", "responder"),
        (Caller::Participant, "pat", "responder"),
    ] {
        tokens.insert(caller, app.user(name, role).await);
    }
    let mut ids = BTreeMap::new();
    ok(
        app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "checkout"}),
    )
    .await;
    let integration = ok(
        app,
        Method::POST,
        "/api/v1/services/checkout/integrations",
        json!({"kind": "events_v2"}),
    )
    .await;
    ids.insert("integration", id_of(&integration));
    let routing_key = integration["routing_key"]
        .as_str()
        .expect("a key")
        .to_string();
    let forge = ok(
        app,
        Method::POST,
        "/api/v1/services/checkout/integrations",
        json!({"kind": "forge"}),
    )
    .await;
    let forge_key = forge["routing_key"].as_str().expect("a key").to_string();
    let schedule = ok(
        app,
        Method::POST,
        "/api/v1/schedules",
        json!({"name": "primary", "time_zone": "UTC", "layers": [{"name": "week",
               "start": "2026-01-05T09:00", "shift_count": 1, "shift_unit": "week",
               "participants": ["rita"]}]}),
    )
    .await;
    ids.insert("schedule", id_of(&schedule));
    let silence = ok(
        app,
        Method::POST,
        "/api/v1/silences",
        json!({"ends_at": (app.app.now() + jiff::SignedDuration::from_hours(24)).to_string(),
               "reason": "load test", "service": "checkout"}),
    )
    .await;
    ids.insert("silence", id_of(&silence));
    let maintenance = ok(
        app,
        Method::POST,
        "/api/v1/maintenances",
        json!({"title": "Database upgrade", "scheduled_for": "2036-01-01T02:00:00Z",
               "scheduled_until": "2036-01-01T03:00:00Z"}),
    )
    .await;
    ids.insert("maintenance", id_of(&maintenance));
    let component = ok(
        app,
        Method::POST,
        "/api/v1/status/components",
        json!({"name": "Checkout"}),
    )
    .await;
    ids.insert("component", id_of(&component));
    let subscriber = ok(
        app,
        Method::POST,
        "/api/v1/status/subscribers",
        json!({"kind": "email", "address": "reader@example.com"}),
    )
    .await;
    ids.insert("subscriber", id_of(&subscriber));
    let contact = ok(
        app,
        Method::POST,
        "/api/v1/users/rita/contact-methods",
        json!({"kind": "email", "address": "rita@example.com"}),
    )
    .await;
    ids.insert("contact_method", id_of(&contact));
    let rule = ok(
        app,
        Method::POST,
        "/api/v1/users/rita/notification-rules",
        json!({"contact_method_id": id_of(&contact), "delay_minutes": 0}),
    )
    .await;
    ids.insert("notification_rule", id_of(&rule));
    let subscription = ok(
        app,
        Method::POST,
        "/api/v1/users/rita/subscriptions",
        json!({"scope": "all", "contact_method_id": id_of(&contact)}),
    )
    .await;
    ids.insert("subscription", id_of(&subscription));
    let token = ok(
        app,
        Method::POST,
        "/api/v1/users/rita/tokens",
        json!({"name": "spare"}),
    )
    .await;
    ids.insert("token", id_of(&token));
    let (status, _) = crate::alerts::enqueue(
        app,
        "/v2/enqueue",
        &trigger(&routing_key, "matrix", "warning"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let alert = eventually("the alert is stored", || async {
        let (_, alerts) = app.admin(Method::GET, "/api/v1/alerts", None).await;
        alerts[0]["id"].as_i64()
    })
    .await;
    ids.insert("alert", alert);

    // The incidents below run it: their checklists have a step 1.
    let playbook = ok(
        app,
        Method::POST,
        "/api/v1/playbooks",
        json!({"incident_type": "other", "steps": ["Page the edge team"]}),
    )
    .await;
    ids.insert("playbook", id_of(&playbook));
    let drill = ok(
        app,
        Method::POST,
        "/api/v1/drills",
        json!({"scenario": "title = \"Practice\"\nseverity = \"SEV4\"\npaging = \"everyone\"\n"}),
    )
    .await;
    ids.insert(
        "drill",
        drill["incident_id"].as_i64().expect("the drill's incident"),
    );
    let mut incidents = [BTreeMap::new(), BTreeMap::new()];
    for (private, seeds) in [false, true].into_iter().zip(incidents.iter_mut()) {
        let incident = ok(
            app,
            Method::POST,
            "/api/v1/incidents",
            json!({"title": "Checkout errors", "severity": "SEV3", "private": private}),
        )
        .await;
        let id = id_of(&incident);
        let at = |rest: &str| format!("/api/v1/incidents/{id}/{rest}");
        if private {
            ok(
                app,
                Method::POST,
                &at("participants"),
                json!({"user": "pat"}),
            )
            .await;
        }
        ok(
            app,
            Method::PUT,
            &at("review/meeting"),
            // Someone who may see the incident: pat takes part in the private one.
            json!({"starts_at": "2036-03-04T14:00:00Z", "duration_minutes": 45,
                   "attendees": [if private { "pat" } else { "rita" }]}),
        )
        .await;
        let evidence = ok(
            app,
            Method::POST,
            &at("evidence"),
            json!({"kind": "log", "summary": "5xx rate rose at 14:02"}),
        )
        .await;
        let eid = id_of(&evidence);
        let attachment: Value = app
            .http
            .post(format!(
                "{}{}?name=edge.log",
                app.base,
                at(&format!("evidence/{eid}/attachments"))
            ))
            .bearer_auth(ADMIN_TOKEN)
            .header("Content-Type", "text/plain")
            .body("502 upstream timeout")
            .send()
            .await
            .expect("an answer")
            .json()
            .await
            .expect("the attachment");
        let aid = id_of(&attachment);
        let hypothesis = ok(
            app,
            Method::POST,
            &at("hypotheses"),
            json!({"statement": "The 14:00 config push lowered the upstream timeout"}),
        )
        .await;
        let task = ok(
            app,
            Method::POST,
            &at("tasks"),
            json!({"title": "Check the edge"}),
        )
        .await;
        let change = ok(app, Method::POST,
            &at("changes"),
            json!({"system": "edge-proxy", "description": "Rolled the timeout back", "reason": "errors climbing"}),
        )
        .await;
        let update = ok(
            app,
            Method::POST,
            &at("updates"),
            json!({"text": "We are looking into checkout errors.", "audiences": ["responders"]}),
        )
        .await;
        if !private {
            // Told the public, so the status page shows it (private: it never does).
            ok(
                app,
                Method::POST,
                &at("updates"),
                json!({"text": "We are looking into checkout errors.", "audiences": ["public"], "publish": true}),
            )
            .await;
            eventually("the status page shows the incident", || async {
                let page = app
                    .http
                    .get(format!("{}/status/incidents/{id}", app.base))
                    .send()
                    .await
                    .ok()?;
                page.status().is_success().then_some(())
            })
            .await;
        }
        let item = ok(
            app,
            Method::POST,
            &at("review/action-items"),
            json!({"title": "Alert on edge timeouts"}),
        )
        .await;
        seeds.extend([
            ("item", id_of(&item)),
            ("step", 1),
            ("id", id),
            ("eid", eid),
            ("aid", aid),
            ("hid", id_of(&hypothesis)),
            ("tid", id_of(&task)),
            ("cid", id_of(&change)),
            ("uid", id_of(&update)),
        ]);
    }
    World {
        tokens,
        incidents,
        ids,
        routing_key,
        forge_key,
    }
}

impl World {
    /// `path` with each parameter naming something that exists, on incident `which`.
    pub(crate) fn fill(&self, path: &str, which: usize) -> String {
        let incident = &self.incidents[which];
        let global = |what: &str| self.ids[what].to_string();
        let mut out = String::new();
        let mut rest = path;
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').expect("a closing brace") + start;
            out.push_str(&rest[..start]);
            let name = &rest[start + 1..end];
            let value = match (name, path) {
                ("routing_key", p) if p.contains("/forge/") => self.forge_key.clone(),
                ("routing_key", _) => self.routing_key.clone(),
                ("name", _) => "checkout".into(),
                ("username", _) => "rita".into(),
                ("role", _) => "scribe".into(),
                ("audience", _) => "public".into(),
                ("phase", _) => "update".into(),
                ("id", p)
                    if p.starts_with("/api/v1/incidents/")
                        || p.starts_with("/status/incidents/")
                        || p.starts_with("/incidents/") =>
                {
                    incident["id"].to_string()
                }
                // A link's credential, made up: only its holder has the real one.
                ("page" | "signature" | "token", _) => "0".into(),
                ("id", p) if p.starts_with("/alerts/") => global("alert"),
                ("id", p) if p.starts_with("/schedules/") => global("schedule"),
                ("id", p) if p.starts_with("/status-page/components/") => global("component"),
                ("id", p) if p.starts_with("/status-page/maintenances/") => global("maintenance"),
                ("id", p) if p.starts_with("/status-page/subscribers/") => global("subscriber"),
                ("id", p) if p.starts_with("/status/components/") => global("component"),
                ("id", p) if p.starts_with("/api/v1/alerts/") => global("alert"),
                ("id", p) if p.starts_with("/api/v1/integrations/") => global("integration"),
                ("id", p) if p.starts_with("/api/v1/maintenances/") => global("maintenance"),
                ("id", p) if p.starts_with("/api/v1/schedules/") => global("schedule"),
                ("id", p) if p.starts_with("/api/v1/drills/") || p.starts_with("/drills/") => {
                    global("drill")
                }
                ("id", p)
                    if p.starts_with("/api/v1/playbooks/") || p.starts_with("/playbooks/") =>
                {
                    global("playbook")
                }
                ("id", p) if p.starts_with("/api/v1/silences/") => global("silence"),
                ("id", p) if p.starts_with("/api/v1/status/components/") => global("component"),
                ("id", p) if p.starts_with("/api/v1/status/subscribers/") => global("subscriber"),
                ("id", p) if p.contains("/contact-methods/") => global("contact_method"),
                ("id", p) if p.contains("/notification-rules/") => global("notification_rule"),
                ("id", p) if p.contains("/subscriptions/") => global("subscription"),
                ("id", p) if p.contains("/tokens/") => global("token"),
                (other, _) => incident
                    .get(other)
                    .unwrap_or_else(|| panic!("no value for {{{other}}} in {path}"))
                    .to_string(),
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Follows a `$ref` within the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(doc, doc.pointer(pointer).expect("the reference resolves"))
        }
        None => schema,
    }
}

/// The smallest value `schema` allows: required properties only, the first of an enum. With
/// `blank`, every free string is empty instead: the right shape, but input the operation
/// refuses, to show that who asks is decided before what is asked.
fn instance(doc: &Value, schema: &Value, blank: bool) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[combinator].get(0) {
            return instance(doc, first, blank);
        }
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|k| *k != "null")
            .and_then(Value::as_str)
            .unwrap_or("null"),
        other => other.as_str().unwrap_or("object"),
    };
    match kind {
        "string" if schema["format"] == "date-time" => json!("2036-01-01T00:00:00Z"),
        "string" if blank => json!(""),
        "string" => {
            let length = schema["minLength"].as_u64().unwrap_or(1).max(1);
            json!("x".repeat(usize::try_from(length).expect("a length")))
        }
        "integer" | "number" => json!(schema["minimum"].as_i64().unwrap_or(1).max(1)),
        "boolean" => json!(false),
        "array" => match schema["minItems"].as_u64() {
            Some(n) if n > 0 => json!([instance(doc, &schema["items"], blank)]),
            _ => json!([]),
        },
        "null" => Value::Null,
        _ => {
            let mut object = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().expect("a property name");
                object.insert(
                    name.to_string(),
                    instance(doc, &schema["properties"][name], blank),
                );
            }
            Value::Object(object)
        }
    }
}

/// One request of the matrix: the operation's path filled in, its required query parameters,
/// and a body of its first content type.
fn request(
    app: &TestApp,
    doc: &Value,
    method: &Method,
    operation: &Value,
    path: String,
    blank: bool,
) -> reqwest::RequestBuilder {
    let mut query = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let parameter = resolve(doc, parameter);
        if parameter["in"] == "query" && parameter["required"] == true {
            let value = match instance(doc, &parameter["schema"], false) {
                Value::String(s) => s,
                other => other.to_string(),
            };
            query.push((
                parameter["name"].as_str().expect("a name").to_string(),
                value,
            ));
        }
    }
    let mut builder = app
        .http
        .request(method.clone(), format!("{}{path}", app.base))
        .query(&query);
    if let Some((content_type, media)) =
        operation["requestBody"]["content"]
            .as_object()
            .and_then(|c| {
                c.iter()
                    .find(|(t, _)| t.as_str() == "application/json")
                    .or(c.iter().next())
            })
    {
        builder = if content_type == "application/json" {
            builder.json(&instance(doc, &media["schema"], blank))
        } else {
            builder
                .header("Content-Type", content_type.as_str())
                .body("x")
        };
    }
    builder
}

async fn every_operation_answers_each_caller_as_its_rule_says(app: TestApp) {
    let world = world(&app).await;
    let (status, doc) = app.admin(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let rules: BTreeMap<&str, Rule> = RULES.iter().copied().collect();

    let mut operations = Vec::new();
    let mut unruled = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("an operation map") {
            let name = format!("{} {path}", method.to_uppercase());
            match rules.get(name.as_str()) {
                Some(rule) => {
                    operations.push((name, *rule, path.clone(), method.clone(), operation.clone()))
                }
                None => unruled.push(name),
            }
        }
    }
    assert!(
        unruled.is_empty(),
        "no access rule in RULES for {unruled:#?}"
    );
    assert_eq!(
        operations.len(),
        RULES.len(),
        "RULES names operations the document lacks"
    );
    // Deletions last, so what they remove is not missed by the other operations.
    operations.sort_by_key(|(_, _, _, method, _)| method == "delete");

    let mut cells = 0;
    let mut wrong = Vec::new();
    for (name, rule, path, method, operation) in &operations {
        let method: Method = method.to_uppercase().parse().expect("a method");
        let about_incident = path.starts_with("/api/v1/incidents/{id}")
            || path.starts_with("/status/incidents/{id}");
        let incidents: &[usize] = if about_incident { &[0, 1] } else { &[0] };
        for &which in incidents {
            for caller in [
                Caller::Anonymous,
                Caller::Viewer,
                Caller::Responder,
                Caller::Participant,
                Caller::Admin,
            ] {
                let private = which == 1;
                let expect = expected(*rule, caller, private);
                // A refused caller is refused whatever it sends: also with blank input.
                let refused = matches!(expect, Expect::Forbidden | Expect::Hidden);
                let has_json = !operation["requestBody"]["content"]["application/json"].is_null();
                let passes: &[bool] = if refused && has_json {
                    &[false, true]
                } else {
                    &[false]
                };
                for &blank in passes {
                    let mut builder = request(
                        &app,
                        &doc,
                        &method,
                        operation,
                        world.fill(path, which),
                        blank,
                    );
                    if let Some(token) = world.tokens.get(&caller) {
                        builder = builder.bearer_auth(token);
                    }
                    // Only the status is read: a live stream's body never ends.
                    let status = builder.send().await.expect("an answer").status();
                    cells += 1;
                    let documented = operation["responses"].get(status.as_str()).is_some();
                    if !expect.matches(status, method == Method::DELETE) || !documented {
                        let incident = incident_label(about_incident, private);
                        wrong.push(format!(
                            "{name} as {caller:?}{incident}{}: {status}, expected {expect}{}",
                            if blank { " with blank input" } else { "" },
                            if documented {
                                ""
                            } else {
                                " (and undocumented)"
                            }
                        ));
                    }
                }
            }
        }
    }
    settle_matrix(&wrong, cells, &format!("{} operations", operations.len()));
}

/// Fails with every cell that answered otherwise, or says how many cells were checked.
pub(crate) fn settle_matrix(wrong: &[String], cells: usize, over: &str) {
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells answered otherwise:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!("authorization matrix: {cells} cells over {over}");
}

/// How a cell names its incident: none, the public one or the private one.
pub(crate) fn incident_label(about_incident: bool, private: bool) -> &'static str {
    match (about_incident, private) {
        (false, _) => "",
        (true, false) => " (public)",
        (true, true) => " (private)",
    }
}
