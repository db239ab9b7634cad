//! Web pages for assembling the team: who is on call (schedules with a 14-day timeline of
//! shifts, overrides), escalation policies, teams, services, responders; and acknowledging
//! from the incident page.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::incidents::{Done, done_to};
use super::{NoFields, Posted, SecretPage, Session, comma_separated, fail, instant_typed, render};
use crate::app::{AppError, CalendarFeed, Outcome, OverrideInput, PlannedObject, PolicySummary};
use crate::domain::access::Actor;
use crate::http::AppState;
use crate::markup::human_time;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oncall", get(oncall_page))
        .route("/oncall/config", get(config_page).post(apply_config))
        .route("/schedules/{id}/overrides", post(add_override))
        .route("/responders", get(responders_page))
        .route("/responders/me/profile", post(set_my_profile))
        .route(
            "/responders/me/contact-methods",
            post(add_my_contact_method),
        )
        .route(
            "/responders/me/notification-rules",
            post(add_my_notification_rule),
        )
        .route(
            "/responders/me/contact-methods/{id}/remove",
            post(remove_my_contact_method),
        )
        .route(
            "/responders/me/contact-methods/{id}/rotate-secret",
            post(rotate_my_contact_secret),
        )
        .route(
            "/responders/me/notification-rules/{id}/remove",
            post(remove_my_notification_rule),
        )
        .route("/incidents/{id}/acknowledge", post(acknowledge))
        .route("/ack/{page}/{signature}", get(ack_page).post(ack_by_link))
}

/// Days shown on a schedule's timeline.
const DAYS: i64 = 14;

/// One shift drawn as a bar, positioned in percent of the timeline's width.
struct Bar {
    user: String,
    left: f64,
    width: f64,
    hue: u32,
    title: String,
}

struct ScheduleRow {
    id: i64,
    name: String,
    time_zone: String,
    on_call: String,
    bars: Vec<Bar>,
    days: Vec<String>,
    /// The schedule's calendar feed, key included.
    calendar: String,
}

struct ServiceRow {
    name: String,
    owner: String,
    policy: String,
    on_call: String,
    tags: String,
}

#[derive(Template)]
#[template(path = "oncall.html")]
struct OncallPage {
    me: Actor,
    csrf: String,
    schedules: Vec<ScheduleRow>,
    policies: Vec<PolicySummary>,
    teams: Vec<(String, String, String)>,
    services: Vec<ServiceRow>,
    users: Vec<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ErrorQuery {
    error: Option<String>,
}

/// A stable colour per person, so their shifts are recognisable across schedules.
fn hue(name: &str) -> u32 {
    name.bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360
}

async fn load_oncall(
    state: &AppState,
    now: Timestamp,
) -> Result<(Vec<ScheduleRow>, Vec<PolicySummary>, Vec<ServiceRow>), AppError> {
    let until = now + SignedDuration::from_hours(24 * DAYS);
    let span = until.duration_since(now).as_secs_f64();
    let signing_key = state.signing_key().await?;
    let mut schedules = Vec::new();
    for record in state.store.schedules().await? {
        let view = state.schedule_view(record.id, now, until).await?;
        let bars = view
            .shifts
            .iter()
            .map(|(user, shift)| Bar {
                user: user.clone(),
                left: shift.start.duration_since(now).as_secs_f64() / span * 100.0,
                width: shift.end.duration_since(shift.start).as_secs_f64() / span * 100.0,
                hue: hue(user),
                title: format!(
                    "{user}: {} – {}",
                    human_time(shift.start),
                    human_time(shift.end)
                ),
            })
            .collect();
        let days = (0..DAYS)
            .map(|d| {
                (now + SignedDuration::from_hours(24 * d))
                    .strftime("%a %d")
                    .to_string()
            })
            .collect();
        schedules.push(ScheduleRow {
            calendar: CalendarFeed::Schedule(record.id).link(&signing_key),
            id: record.id,
            name: record.name,
            time_zone: record.time_zone,
            on_call: view.on_call.unwrap_or_else(|| "nobody".into()),
            bars,
            days,
        });
    }
    let policies = state.policy_summaries(now).await?;
    let teams = state.store.teams().await?;
    let services = state
        .list_services()
        .await?
        .into_iter()
        .map(|s| {
            let policy = s
                .escalation_policy_id
                .and_then(|id| policies.iter().find(|p| p.id == id));
            ServiceRow {
                owner: s
                    .team_id
                    .and_then(|id| teams.iter().find(|t| t.id == id))
                    .map_or_else(|| s.owner_team.clone(), |t| t.name.clone()),
                policy: policy.map_or_else(|| "—".into(), |p| p.name.clone()),
                on_call: policy.map_or_else(|| "—".into(), |p| p.first_level_now.join(", ")),
                tags: s.tags.join(", "),
                name: s.name,
            }
        })
        .collect();
    Ok((schedules, policies, services))
}

async fn oncall_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ErrorQuery>,
) -> Response {
    let now = state.now();
    let (schedules, policies, services) = match load_oncall(&state, now).await {
        Ok(found) => found,
        Err(e) => return fail(e, "/incidents"),
    };
    let (teams, users) = match (state.store.teams().await, state.store.list_users().await) {
        (Ok(teams), Ok(users)) => (teams, users),
        (Err(e), _) | (_, Err(e)) => return fail(e.into(), "/incidents"),
    };
    render(&OncallPage {
        me: session.actor,
        csrf: session.csrf,
        schedules,
        policies,
        teams: teams
            .into_iter()
            .map(|t| (t.name, t.domain, t.members.join(", ")))
            .collect(),
        services,
        users: users.into_iter().map(|u| u.username).collect(),
        error: q.error,
    })
}

#[derive(Deserialize)]
struct OverrideForm {
    user: String,
    /// `datetime-local` inputs, read as UTC.
    start: String,
    end: String,
}

async fn add_override(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<OverrideForm>,
) -> Response {
    let utc = jiff::tz::TimeZone::UTC;
    let typed = instant_typed(&utc, "start", &form.start)
        .and_then(|start| Ok((start, instant_typed(&utc, "end", &form.end)?)));
    let (start, end) = match typed {
        Ok(typed) => typed,
        Err(e) => return fail(e.into(), "/oncall"),
    };
    let input = OverrideInput {
        user: form.user,
        start,
        end,
    };
    match state.add_override(&session.actor, id, input).await {
        Ok(_) => Redirect::to("/oncall").into_response(),
        Err(e) => fail(e, "/oncall"),
    }
}

struct ResponderRow {
    username: String,
    name: String,
    role: String,
    time_zone: String,
    skills: String,
    contacts: String,
}

#[derive(Template)]
#[template(path = "responders.html")]
struct RespondersPage {
    me: Actor,
    csrf: String,
    responders: Vec<ResponderRow>,
    /// The signed-in responder's contact methods: (id, "kind address").
    my_methods: Vec<(i64, String)>,
    /// The signed-in responder's notification rules: (id, "kind address after N min").
    my_rules: Vec<(i64, String)>,
    /// The signed-in responder's calendar feed, key included.
    my_calendar: String,
    error: Option<String>,
}

async fn responders_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ErrorQuery>,
) -> Response {
    let result = async {
        let mut rows = Vec::new();
        for user in state.store.list_users().await? {
            let profile = state.store.profile(user.id).await?;
            let contacts = state.store.contact_methods(user.id).await?;
            let (time_zone, skills) = profile.unwrap_or_else(|| ("—".into(), "[]".into()));
            rows.push(ResponderRow {
                skills: serde_json::from_str::<Vec<String>>(&skills)
                    .unwrap_or_default()
                    .join(", "),
                contacts: contacts
                    .iter()
                    .map(|c| c.kind.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                time_zone,
                role: user.role.to_string(),
                name: user.display_name,
                username: user.username,
            });
        }
        Ok::<_, AppError>(rows)
    }
    .await;
    let mine = async {
        let methods = state.store.contact_methods(session.actor.id).await?;
        let rules = state.store.notification_rules(session.actor.id).await?;
        let feed = CalendarFeed::Responder(session.actor.username.clone());
        Ok::<_, AppError>((methods, rules, feed.link(&state.signing_key().await?)))
    }
    .await;
    match (result, mine) {
        (Ok(responders), Ok((mine, rules, my_calendar))) => render(&RespondersPage {
            my_calendar,
            my_rules: rules
                .iter()
                .map(|r| {
                    let method = mine
                        .iter()
                        .find(|m| m.id == r.contact_method_id)
                        .map_or_else(
                            || "a removed method".to_string(),
                            |m| format!("{} {}", m.kind, m.address),
                        );
                    (r.id, format!("{method} after {} min", r.delay_minutes))
                })
                .collect(),
            me: session.actor,
            csrf: session.csrf,
            responders,
            my_methods: mine
                .into_iter()
                .map(|m| (m.id, format!("{} {}", m.kind, m.address)))
                .collect(),
            error: q.error,
        }),
        (Err(e), _) | (_, Err(e)) => fail(e, "/incidents"),
    }
}

/// Every self-service form ends the same way: back to the responders page.
fn back_to_responders(result: Result<(), AppError>) -> Response {
    match result {
        Ok(()) => Redirect::to("/responders").into_response(),
        Err(e) => fail(e, "/responders"),
    }
}

#[derive(Deserialize)]
struct ProfileForm {
    time_zone: String,
    /// Comma-separated.
    #[serde(default)]
    skills: String,
}

async fn set_my_profile(
    State(state): State<AppState>,
    Posted { session, form }: Posted<ProfileForm>,
) -> Response {
    let input = crate::app::ProfileInput {
        time_zone: form.time_zone,
        skills: comma_separated(&form.skills),
    };
    let me = session.actor.username.clone();
    back_to_responders(state.set_profile(&session.actor, &me, input).await)
}

#[derive(Deserialize)]
struct ContactForm {
    kind: String,
    address: String,
}

async fn add_my_contact_method(
    State(state): State<AppState>,
    Posted { session, form }: Posted<ContactForm>,
) -> Response {
    let input = crate::app::ContactMethodInput {
        kind: form.kind,
        address: form.address,
    };
    let me = session.actor.username.clone();
    back_to_responders(
        state
            .add_contact_method(&session.actor, &me, input)
            .await
            .map(drop),
    )
}

/// Numbers arrive as text: `Posted`'s flattened form cannot parse them itself.
#[derive(Deserialize)]
struct RuleForm {
    contact_method_id: String,
    delay_minutes: String,
}

async fn add_my_notification_rule(
    State(state): State<AppState>,
    Posted { session, form }: Posted<RuleForm>,
) -> Response {
    let number = |field: &'static str, raw: &str| {
        raw.trim().parse::<i64>().map_err(|_| {
            AppError::Invalid(crate::domain::FieldError::new(
                field,
                "must be a whole number",
            ))
        })
    };
    let input = match (
        number("contact_method_id", &form.contact_method_id),
        number("delay_minutes", &form.delay_minutes),
    ) {
        (Ok(contact_method_id), Ok(delay_minutes)) => crate::app::NotificationRuleInput {
            contact_method_id,
            delay_minutes,
        },
        (Err(e), _) | (_, Err(e)) => return fail(e, "/responders"),
    };
    let me = session.actor.username.clone();
    back_to_responders(
        state
            .add_notification_rule(&session.actor, &me, input)
            .await
            .map(drop),
    )
}

/// Shows the new secret in the answer itself, once: a redirect would have to carry it in a
/// URL or keep it somewhere to show later.
async fn rotate_my_contact_secret(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    let me = session.actor.username.clone();
    match state.rotate_contact_secret(&session.actor, &me, id).await {
        Ok(method) => render(&SecretPage {
            me: session.actor,
            csrf: session.csrf,
            receiver: format!("{} {}", method.kind, method.address),
            secret: method.secret,
            replaced: true,
            back: ("/responders", "Back to Responders"),
        }),
        Err(e) => fail(e, "/responders"),
    }
}

async fn remove_my_contact_method(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    let me = session.actor.username.clone();
    back_to_responders(state.remove_contact_method(&session.actor, &me, id).await)
}

async fn remove_my_notification_rule(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    let me = session.actor.username.clone();
    back_to_responders(
        state
            .remove_notification_rule(&session.actor, &me, id)
            .await,
    )
}

async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    let acknowledged = state.acknowledge(&session.actor, id).await;
    done_to(id, acknowledged.map(|_| Done::Acknowledged))
}

#[derive(Template)]
#[template(path = "config.html")]
struct ConfigPage {
    me: Actor,
    csrf: String,
    document: String,
    /// What applying the document would do, waiting for a confirm.
    plan: Option<Vec<PlannedObject>>,
    /// Whether the plan changes anything (otherwise there is nothing to confirm).
    plan_changes: bool,
    /// What applying did.
    report: Vec<String>,
    error: Option<String>,
}

/// The whole on-call setup as editable TOML (admins): the same document as `aplomb export`.
async fn config_page(State(state): State<AppState>, session: Session) -> Response {
    let document = match state.export(&session.actor).await {
        Ok(doc) => toml::to_string(&doc).unwrap_or_default(),
        Err(e) => return fail(e, "/oncall"),
    };
    render(&ConfigPage {
        me: session.actor,
        csrf: session.csrf,
        document,
        plan: None,
        plan_changes: false,
        report: Vec::new(),
        error: None,
    })
}

#[derive(Deserialize)]
struct ConfigForm {
    document: String,
    /// Present on the confirm button: apply. Without it, show the plan only.
    #[serde(default)]
    confirm: Option<String>,
}

async fn apply_config(
    State(state): State<AppState>,
    Posted { session, form }: Posted<ConfigForm>,
) -> Response {
    let confirmed = form.confirm.is_some();
    // A change is shown as a plan first and written only when confirmed, so an admin sees
    // what a pasted document would reset before it does.
    let outcome = match toml::from_str::<crate::app::OrgDocument>(&form.document) {
        Ok(doc) if confirmed => state.apply(&session.actor, doc).await,
        Ok(doc) => state.plan_apply(&session.actor, &doc).await,
        Err(e) => Err(AppError::Invalid(crate::domain::FieldError::new(
            "document",
            format!("is not valid TOML for aplomb: {e}"),
        ))),
    }
    .map_err(|e| match e {
        AppError::Invalid(f) => Ok(format!("{}: {}", f.field, f.message)),
        // Refusals and failures are not a problem with the document: their own pages.
        e @ (AppError::Forbidden(_) | AppError::Internal(_) | AppError::Unavailable(_)) => Err(e),
        other => Ok(other.to_string()),
    });
    let outcome = match outcome {
        Err(Err(e)) => return fail(e, "/oncall/config"),
        Err(Ok(message)) => Err(message),
        Ok(done) => Ok(done),
    };
    let mut page = ConfigPage {
        me: session.actor,
        csrf: session.csrf,
        document: form.document,
        plan: None,
        plan_changes: false,
        report: Vec::new(),
        error: None,
    };
    match outcome {
        Ok(done) if confirmed => page.report = done.lines(),
        Ok(plan) => {
            page.plan_changes = plan.objects.iter().any(|o| o.outcome != Outcome::Unchanged);
            page.plan = Some(plan.objects);
        }
        Err(message) => page.error = Some(message),
    }
    render(&page)
}

#[derive(Template)]
#[template(path = "ack.html")]
struct AckPage {
    done: bool,
    user: String,
    incident_id: i64,
    title: String,
    severity: String,
}

/// The link in a page is its own credential: its signature names the page and the person.
/// GET only shows a button (link scanners fetch links); the POST acknowledges.
async fn ack_page(
    State(state): State<AppState>,
    Path((page, signature)): Path<(i64, String)>,
) -> Response {
    ack_link(state, page, signature, false).await
}

async fn ack_by_link(
    State(state): State<AppState>,
    Path((page, signature)): Path<(i64, String)>,
) -> Response {
    ack_link(state, page, signature, true).await
}

async fn ack_link(state: AppState, page: i64, signature: String, acknowledge: bool) -> Response {
    let result = async {
        let key = state.signing_key().await?;
        let (actor, incident_id) = state.actor_for_ack_link(page, &signature, &key).await?;
        if acknowledge {
            state.acknowledge(&actor, incident_id).await?;
        }
        let view = state.incident(&actor, incident_id).await?;
        Ok::<_, AppError>(AckPage {
            done: acknowledge,
            user: actor.username,
            incident_id,
            title: view.incident.title,
            severity: view.incident.severity.to_string(),
        })
    }
    .await;
    match result {
        Ok(page) => render(&page),
        Err(e) => fail(e, "/incidents"),
    }
}
