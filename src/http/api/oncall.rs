//! REST API for assembling the team: responders' profiles and contact methods, teams,
//! schedules, escalation policies, engagement rules, acknowledgement and paging history.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::app::{
    CalendarFeed, ContactMethodInput, EngagementRuleInput, NotificationRuleInput, OrgDocument,
    OverrideInput, PlannedObject, PolicyInput, ProfileInput, ScheduleInput, ScheduleView,
    ServiceOncallInput, TeamInput,
};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath, ApiQuery, FeedCaller};
use crate::store::{ContactMethodRecord, PageRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{username}/profile", put(set_profile))
        .route(
            "/users/{username}/contact-methods",
            get(list_contact_methods).post(add_contact_method),
        )
        .route(
            "/users/{username}/contact-methods/{id}",
            delete(remove_contact_method),
        )
        .route(
            "/users/{username}/contact-methods/{id}/rotate-secret",
            post(rotate_contact_secret),
        )
        .route(
            "/users/{username}/notification-rules",
            get(list_notification_rules).post(add_notification_rule),
        )
        .route(
            "/users/{username}/notification-rules/{id}",
            delete(remove_notification_rule),
        )
        .route("/teams", get(list_teams).post(create_team))
        .route("/schedules", get(list_schedules).post(create_schedule))
        .route("/schedules/{id}", get(show_schedule))
        .route("/schedules/{id}/overrides", post(add_override))
        .route("/schedules/{id}/calendar.ics", get(schedule_ics))
        .route("/schedules/{id}/calendar-link", get(schedule_calendar_link))
        .route(
            "/escalation-policies",
            get(list_policies).post(create_policy),
        )
        .route(
            "/services/{name}/oncall",
            put(set_service_oncall).get(service_oncall),
        )
        .route("/users/{username}/calendar.ics", get(responder_ics))
        .route(
            "/users/{username}/calendar-link",
            get(responder_calendar_link),
        )
        .route("/engagement-rules", post(create_engagement_rule))
        .route("/incidents/{id}/acknowledge", post(acknowledge))
        .route("/incidents/{id}/pages", get(paging_history))
        .route("/apply", post(apply))
        .route("/export", get(export))
}

#[derive(OpenApi)]
#[openapi(paths(
    set_profile,
    add_contact_method,
    list_contact_methods,
    remove_contact_method,
    rotate_contact_secret,
    add_notification_rule,
    list_notification_rules,
    remove_notification_rule,
    list_teams,
    create_team,
    list_schedules,
    create_schedule,
    show_schedule,
    add_override,
    schedule_ics,
    schedule_calendar_link,
    responder_ics,
    responder_calendar_link,
    list_policies,
    create_policy,
    set_service_oncall,
    create_engagement_rule,
    acknowledge,
    paging_history,
    service_oncall,
    apply,
    export
))]
pub struct OncallDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactMethodBody {
    pub id: i64,
    pub kind: String,
    pub address: String,
    /// Webhook deliveries to this method are signed with this secret (`Aplomb-Signature`).
    /// A credential: answered once, when the method is added or its secret rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

/// Set a responder's time zone and skills (admins, or the responder).
#[utoipa::path(put, path = "/api/v1/users/{username}/profile", params(("username" = String, Path)),
    request_body = ProfileInput, responses((status = 403, body = ErrorBody, description = "only that user and admins may"), (status = 204), (status = 422, body = ErrorBody)))]
async fn set_profile(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
    body: ApiJson<ProfileInput>,
) -> Result<StatusCode, ApiError> {
    app.set_profile(&actor, &username, body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a contact method: email, webhook, chat, sms or voice.
#[utoipa::path(post, path = "/api/v1/users/{username}/contact-methods", params(("username" = String, Path)),
    request_body = ContactMethodInput,
    responses((status = 403, body = ErrorBody, description = "only that user and admins may"), (status = 201, body = ContactMethodBody), (status = 422, body = ErrorBody)))]
async fn add_contact_method(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
    body: ApiJson<ContactMethodInput>,
) -> Result<impl IntoResponse, ApiError> {
    let m = app
        .add_contact_method(&actor, &username, body.value)
        .await?;
    Ok((StatusCode::CREATED, Json(ContactMethodBody::from(m))))
}

impl From<ContactMethodRecord> for ContactMethodBody {
    fn from(m: ContactMethodRecord) -> Self {
        Self {
            id: m.id,
            kind: m.kind,
            address: m.address,
            signing_secret: Some(m.secret),
        }
    }
}

/// Give a webhook contact method a new signing secret, answered this once; the old one stops
/// signing at once (admins, or the responder).
#[utoipa::path(post, path = "/api/v1/users/{username}/contact-methods/{id}/rotate-secret",
    params(("username" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = ContactMethodBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn rotate_contact_secret(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((username, id)): ApiPath<(String, i64)>,
) -> Result<Json<ContactMethodBody>, ApiError> {
    let method = app.rotate_contact_secret(&actor, &username, id).await?;
    Ok(Json(method.into()))
}

/// A responder's contact methods (admins, or the responder).
#[utoipa::path(get, path = "/api/v1/users/{username}/contact-methods", params(("username" = String, Path)),
    responses((status = 200, body = Vec<ContactMethodBody>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_contact_methods(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<Vec<ContactMethodBody>>, ApiError> {
    let methods = app.contact_methods_of(&actor, &username).await?;
    // Secrets are shown once, when made; a list never repeats them.
    Ok(Json(
        methods
            .into_iter()
            .map(|m| ContactMethodBody {
                signing_secret: None,
                ..m.into()
            })
            .collect(),
    ))
}

/// Remove a contact method, and the notification rules that use it (admins, or the responder).
#[utoipa::path(delete, path = "/api/v1/users/{username}/contact-methods/{id}",
    params(("username" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_contact_method(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((username, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    app.remove_contact_method(&actor, &username, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a personal notification rule ("SMS after 5 minutes without acknowledgement").
#[utoipa::path(post, path = "/api/v1/users/{username}/notification-rules", params(("username" = String, Path)),
    request_body = NotificationRuleInput, responses((status = 403, body = ErrorBody, description = "only that user and admins may"), (status = 201, body = Created), (status = 422, body = ErrorBody)))]
async fn add_notification_rule(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
    body: ApiJson<NotificationRuleInput>,
) -> Result<impl IntoResponse, ApiError> {
    let id = app
        .add_notification_rule(&actor, &username, body.value)
        .await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationRuleBody {
    pub id: i64,
    pub contact_method_id: i64,
    /// Minutes after the page, without acknowledgement, before this method is used.
    pub delay_minutes: i64,
}

/// A responder's notification rules, in the order they were added (admins, or the responder).
/// Without any, a page uses every contact method at once.
#[utoipa::path(get, path = "/api/v1/users/{username}/notification-rules", params(("username" = String, Path)),
    responses((status = 200, body = Vec<NotificationRuleBody>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_notification_rules(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<Vec<NotificationRuleBody>>, ApiError> {
    let rules = app.notification_rules_of(&actor, &username).await?;
    Ok(Json(
        rules
            .into_iter()
            .map(|r| NotificationRuleBody {
                id: r.id,
                contact_method_id: r.contact_method_id,
                delay_minutes: r.delay_minutes,
            })
            .collect(),
    ))
}

/// Remove a notification rule (admins, or the responder).
#[utoipa::path(delete, path = "/api/v1/users/{username}/notification-rules/{id}",
    params(("username" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_notification_rule(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((username, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    app.remove_notification_rule(&actor, &username, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamBody {
    pub id: i64,
    pub name: String,
    pub domain: String,
    pub members: Vec<String>,
}

/// Teams with their members.
#[utoipa::path(get, path = "/api/v1/teams", responses((status = 200, body = Vec<TeamBody>)))]
async fn list_teams(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
) -> Result<Json<Vec<TeamBody>>, ApiError> {
    let teams = app
        .store
        .teams()
        .await
        .map_err(crate::app::AppError::from)?;
    Ok(Json(
        teams
            .into_iter()
            .map(|t| TeamBody {
                id: t.id,
                name: t.name,
                domain: t.domain,
                members: t.members,
            })
            .collect(),
    ))
}

/// Create a team (admins only).
#[utoipa::path(post, path = "/api/v1/teams", request_body = TeamInput,
    responses((status = 403, body = ErrorBody, description = "this needs the admin role"), (status = 201, body = Created), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_team(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<TeamInput>,
) -> Result<impl IntoResponse, ApiError> {
    let id = app.create_team(&actor, body.value).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShiftBody {
    pub user: String,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleBody {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    /// Who is on call at the requested time (now by default).
    pub on_call: Option<String>,
    /// The final schedule ahead: layers and overrides merged.
    pub shifts: Vec<ShiftBody>,
}

impl From<ScheduleView> for ScheduleBody {
    fn from(v: ScheduleView) -> Self {
        Self {
            id: v.record.id,
            name: v.record.name,
            time_zone: v.record.time_zone,
            on_call: v.on_call,
            shifts: v
                .shifts
                .into_iter()
                .map(|(user, s)| ShiftBody {
                    user,
                    start: s.start.to_string(),
                    end: s.end.to_string(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScheduleQuery {
    /// RFC 3339 instant to look at; now by default.
    #[param(format = DateTime)]
    pub at: Option<String>,
    /// How many days of shifts to return, 1 to 90 (default 14).
    #[param(minimum = 1, maximum = 90)]
    pub days: Option<i64>,
}

impl ScheduleQuery {
    fn window(&self, now: Timestamp) -> Result<(Timestamp, Timestamp), ApiError> {
        let at = match self.at.as_deref() {
            Some(raw) => raw.parse().map_err(|_| {
                ApiError::invalid(
                    "at",
                    "must be an RFC 3339 instant like 2026-03-03T18:00:00Z",
                )
            })?,
            None => now,
        };
        let days = self.days.unwrap_or(14);
        if !(1..=90).contains(&days) {
            return Err(ApiError::invalid("days", "must be between 1 and 90"));
        }
        Ok((at, at + SignedDuration::from_hours(24 * days)))
    }
}

/// Schedules, each with who is on call now and the next 14 days.
#[utoipa::path(get, path = "/api/v1/schedules", params(ScheduleQuery), responses((status = 200, body = Vec<ScheduleBody>)))]
async fn list_schedules(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
    ApiQuery(query): ApiQuery<ScheduleQuery>,
) -> Result<Json<Vec<ScheduleBody>>, ApiError> {
    let (at, until) = query.window(app.now())?;
    let mut out = Vec::new();
    for record in app
        .store
        .schedules()
        .await
        .map_err(crate::app::AppError::from)?
    {
        out.push(app.schedule_view(record.id, at, until).await?.into());
    }
    Ok(Json(out))
}

/// One schedule: who is on call at `at` (default now) and the shifts that follow.
#[utoipa::path(get, path = "/api/v1/schedules/{id}", params(("id" = i64, Path), ScheduleQuery),
    responses((status = 200, body = ScheduleBody), (status = 404, body = ErrorBody)))]
async fn show_schedule(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<ScheduleQuery>,
) -> Result<Json<ScheduleBody>, ApiError> {
    let (at, until) = query.window(app.now())?;
    Ok(Json(app.schedule_view(id, at, until).await?.into()))
}

/// Create a schedule of rotation layers (admins only).
#[utoipa::path(post, path = "/api/v1/schedules", request_body = ScheduleInput,
    responses((status = 403, body = ErrorBody, description = "this needs the admin role"), (status = 201, body = Created), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_schedule(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<ScheduleInput>,
) -> Result<impl IntoResponse, ApiError> {
    let id = app.create_schedule(&actor, body.value).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// Add an override ("I take Tuesday night"); overlapping overrides are refused.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/overrides", params(("id" = i64, Path)), request_body = OverrideInput,
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 201, body = Created), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_override(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<OverrideInput>,
) -> Result<impl IntoResponse, ApiError> {
    let id = app.add_override(&actor, id, body.value).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// The schedule's next 90 days as an iCalendar feed. Calendar apps read it with the key in its
/// link (`calendar-link`) instead of a bearer token.
#[utoipa::path(get, path = "/api/v1/schedules/{id}/calendar.ics",
    params(("id" = i64, Path), ("key" = Option<String>, Query, description = "The feed's key, from its calendar-link (instead of a bearer token)")),
    responses((status = 200, content_type = "text/calendar", body = String), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn schedule_ics(
    State(app): State<AppState>,
    caller: FeedCaller,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    admit_feed(&app, &caller, &CalendarFeed::Schedule(id)).await?;
    let now = app.now();
    let view = app
        .schedule_view(id, now, now + SignedDuration::from_hours(24 * 90))
        .await?;
    let name = format!("{} on call", view.record.name);
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        ics(&name, &[view], None, now),
    ))
}

/// One responder's shifts over the next 90 days, across every schedule. Calendar apps read it
/// with the key in its link (`calendar-link`) instead of a bearer token.
#[utoipa::path(get, path = "/api/v1/users/{username}/calendar.ics",
    params(("username" = String, Path), ("key" = Option<String>, Query, description = "The feed's key, from its calendar-link (instead of a bearer token)")),
    responses((status = 200, content_type = "text/calendar", body = String), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn responder_ics(
    State(app): State<AppState>,
    caller: FeedCaller,
    ApiPath(username): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    admit_feed(&app, &caller, &CalendarFeed::Responder(username.clone())).await?;
    let known = app
        .store
        .user_by_username(&username)
        .await
        .map_err(crate::app::AppError::from)?;
    if known.is_none() {
        return Err(crate::app::AppError::NotFound("user").into());
    }
    let now = app.now();
    let mut views = Vec::new();
    for record in app
        .store
        .schedules()
        .await
        .map_err(crate::app::AppError::from)?
    {
        views.push(
            app.schedule_view(record.id, now, now + SignedDuration::from_hours(24 * 90))
                .await?,
        );
    }
    let name = format!("{username} on call");
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        ics(&name, &views, Some(&username), now),
    ))
}

/// A feed's caller is any API caller, or anyone holding that feed's key.
async fn admit_feed(
    app: &AppState,
    caller: &FeedCaller,
    feed: &CalendarFeed,
) -> Result<(), ApiError> {
    match caller {
        FeedCaller::Actor(_) => Ok(()),
        FeedCaller::Key(key) if app.is_calendar_key(feed, key).await? => Ok(()),
        FeedCaller::Key(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the key is not this feed's: take the link from its calendar-link",
        )
        .field("key")),
    }
}

/// A calendar feed's address with its key, for subscribing from a calendar app.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarLink {
    /// Path and query under the server's public URL.
    pub path: String,
}

/// The schedule feed's link, key included: whoever holds it can read that feed (and only it).
#[utoipa::path(get, path = "/api/v1/schedules/{id}/calendar-link", params(("id" = i64, Path)),
    responses((status = 200, body = CalendarLink), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn schedule_calendar_link(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CalendarLink>, ApiError> {
    let path = app.calendar_link(&CalendarFeed::Schedule(id)).await?;
    Ok(Json(CalendarLink { path }))
}

/// The responder feed's link, key included: whoever holds it can read that feed (and only it).
#[utoipa::path(get, path = "/api/v1/users/{username}/calendar-link", params(("username" = String, Path)),
    responses((status = 200, body = CalendarLink), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn responder_calendar_link(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<CalendarLink>, ApiError> {
    let path = app
        .calendar_link(&CalendarFeed::Responder(username))
        .await?;
    Ok(Json(CalendarLink { path }))
}

/// RFC 5545 calendar of the shifts in `views`, optionally only `only_user`'s.
fn ics(name: &str, views: &[ScheduleView], only_user: Option<&str>, now: Timestamp) -> String {
    let stamp = |t: Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut out =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//aplomb//on-call//EN\r\n");
    out.push_str(&format!("X-WR-CALNAME:{name}\r\n"));
    for view in views {
        for (user, shift) in view
            .shifts
            .iter()
            .filter(|(u, _)| only_user.is_none_or(|o| o == u))
        {
            // The shift on call now is cut at `now` in `shifts`; its event starts when the shift
            // did, and the UID names the shift itself (schedule, start, responder), so each
            // fetch names the same shift the same way and calendar apps do not duplicate it.
            let start = match view.on_call_since {
                Some(since) if shift.start == now => since,
                _ => shift.start,
            };
            out.push_str("BEGIN:VEVENT\r\n");
            out.push_str(&format!(
                "UID:schedule-{}-{}-{}@aplomb\r\n",
                view.record.id,
                start.as_second(),
                shift.responder
            ));
            out.push_str(&format!("DTSTAMP:{}\r\n", stamp(now)));
            out.push_str(&format!(
                "DTSTART:{}\r\nDTEND:{}\r\n",
                stamp(start),
                stamp(shift.end)
            ));
            out.push_str(&format!(
                "SUMMARY:On call: {user} ({})\r\n",
                view.record.name
            ));
            out.push_str("END:VEVENT\r\n");
        }
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceOncallBody {
    pub service: String,
    pub escalation_policy: Option<String>,
    /// Who the policy's first level reaches right now.
    pub on_call_now: Vec<String>,
}

/// Who a service's escalation policy reaches right now.
#[utoipa::path(get, path = "/api/v1/services/{name}/oncall", params(("name" = String, Path)),
    responses((status = 200, body = ServiceOncallBody), (status = 404, body = ErrorBody)))]
async fn service_oncall(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ServiceOncallBody>, ApiError> {
    let service = app
        .list_services()
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or(crate::app::AppError::NotFound("service"))?;
    let policies = app.policy_summaries(app.now()).await?;
    let policy = service
        .escalation_policy_id
        .and_then(|id| policies.into_iter().find(|p| p.id == id));
    Ok(Json(ServiceOncallBody {
        service: service.name,
        escalation_policy: policy.as_ref().map(|p| p.name.clone()),
        on_call_now: policy.map(|p| p.first_level_now).unwrap_or_default(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyBody {
    pub id: i64,
    pub name: String,
    pub repeat: i64,
    pub levels: Vec<PolicyLevelBody>,
}

/// One level of a stored policy: how long it waits, and whom it pages (by id).
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyLevelBody {
    pub delay_minutes: u32,
    pub targets: Vec<PolicyTargetBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyTargetBody {
    #[serde(rename = "type")]
    #[schema(value_type = crate::app::schema::TargetKindName)]
    pub kind: &'static str,
    /// The responder's, schedule's or team's id.
    pub id: i64,
}

impl From<crate::domain::escalation::Level> for PolicyLevelBody {
    fn from(level: crate::domain::escalation::Level) -> Self {
        let targets = level.targets.into_iter().map(|target| {
            let (kind, id) = target.kind_and_id();
            PolicyTargetBody { kind, id }
        });
        Self {
            delay_minutes: level.delay_minutes,
            targets: targets.collect(),
        }
    }
}

/// Escalation policies.
#[utoipa::path(get, path = "/api/v1/escalation-policies", responses((status = 200, body = Vec<PolicyBody>)))]
async fn list_policies(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
) -> Result<Json<Vec<PolicyBody>>, ApiError> {
    let policies = app.escalation_policies().await?;
    Ok(Json(
        policies
            .into_iter()
            .map(|(p, levels)| PolicyBody {
                id: p.id,
                name: p.name,
                repeat: p.repeat,
                levels: levels.into_iter().map(PolicyLevelBody::from).collect(),
            })
            .collect(),
    ))
}

/// Create an escalation policy (admins only).
#[utoipa::path(post, path = "/api/v1/escalation-policies", request_body = PolicyInput,
    responses((status = 403, body = ErrorBody, description = "this needs the admin role"), (status = 201, body = Created), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_policy(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<PolicyInput>,
) -> Result<impl IntoResponse, ApiError> {
    let id = app.create_policy(&actor, body.value).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// Set a service's owner team, escalation policy, tags and dependencies (admins only).
#[utoipa::path(put, path = "/api/v1/services/{name}/oncall", params(("name" = String, Path)),
    request_body = ServiceOncallInput,
    responses((status = 403, body = ErrorBody, description = "this needs the admin role"), (status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_service_oncall(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(name): ApiPath<String>,
    body: ApiJson<ServiceOncallInput>,
) -> Result<StatusCode, ApiError> {
    app.set_service_oncall(&actor, &name, body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create an engagement rule (admins only).
#[utoipa::path(post, path = "/api/v1/engagement-rules", request_body = EngagementRuleInput,
    responses((status = 403, body = ErrorBody, description = "this needs the admin role"), (status = 201, body = Created), (status = 422, body = ErrorBody)))]
async fn create_engagement_rule(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<EngagementRuleInput>,
) -> Result<impl IntoResponse, ApiError> {
    let id = app.create_engagement_rule(&actor, body.value).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AckBody {
    /// False when nothing was waiting (already acknowledged, or nobody was paged).
    pub acknowledged: bool,
}

/// Acknowledge the incident's pages: escalation stops and pending deliveries are cancelled.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", params(("id" = i64, Path)),
    responses((status = 403, body = ErrorBody, description = "viewers may not do this"), (status = 200, body = AckBody), (status = 404, body = ErrorBody)))]
async fn acknowledge(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AckBody>, ApiError> {
    Ok(Json(AckBody {
        acknowledged: app.acknowledge(&actor, id).await?,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    pub at: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryBody {
    pub kind: String,
    pub address: String,
    /// `pending`, `sent`, `failed` or `cancelled`.
    pub state: String,
    /// When paging stopped while this delivery was queued or already on its way. A `sent`
    /// delivery with this set reached its receiver after the stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// What stopped it: `acknowledged`, `resolved`, or `checked_in` (a task reminder).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub stopped_by: Option<crate::domain::escalation::PagingStop>,
    pub attempts: Vec<AttemptBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageBody {
    pub id: i64,
    pub user: String,
    /// Which escalation step or engagement rule paged them.
    pub step: String,
    /// What it asks: `page` (acknowledge), `check_in` (on a task) or `update_due` (post
    /// the overdue status update).
    #[schema(example = "page")]
    pub purpose: String,
    /// The task a check-in reminder is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
    pub paged_at: String,
    pub acknowledged_at: Option<String>,
    pub deliveries: Vec<DeliveryBody>,
}

impl From<PageRecord> for PageBody {
    fn from(p: PageRecord) -> Self {
        Self {
            id: p.id,
            user: p.user,
            step: p.step_key,
            purpose: p.purpose.to_string(),
            task_id: p.task_id,
            paged_at: p.created_at.to_string(),
            acknowledged_at: p.acknowledged_at.map(|t| t.to_string()),
            deliveries: p
                .deliveries
                .into_iter()
                .map(|d| DeliveryBody {
                    kind: d.kind,
                    address: d.address,
                    state: d.state,
                    stopped_at: d.stopped.map(|(at, _)| at.to_string()),
                    stopped_by: d.stopped.map(|(_, by)| by),
                    attempts: d
                        .attempts
                        .into_iter()
                        .map(|a| AttemptBody {
                            at: a.at.to_string(),
                            ok: a.ok,
                            detail: a.detail,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Who was paged for the incident, how, when, every delivery attempt, and who acknowledged.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/pages", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PageBody>), (status = 404, body = ErrorBody)))]
async fn paging_history(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<PageBody>>, ApiError> {
    app.incident(&actor, id).await?;
    let pages = app
        .store
        .paging_history(id)
        .await
        .map_err(crate::app::AppError::from)?;
    Ok(Json(pages.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplyBody {
    /// True when nothing was written: the plan of what applying would do.
    pub dry_run: bool,
    /// One line per object ("created schedule primary", "changed team sre", "unchanged
    /// service api"), each changed field on an indented line below it.
    pub changes: Vec<String>,
    /// Per object: created, changed (with each field's old and new value) or unchanged.
    pub objects: Vec<PlannedObject>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    /// Validate the document and answer the plan without writing anything.
    #[serde(default)]
    pub dry_run: bool,
}

/// Apply a whole on-call setup declaratively (admins only): creates what is missing, changes
/// what differs, leaves objects the document does not name alone. All or nothing: a document
/// with a mistake anywhere (422) changes nothing. With `dry_run=true`, answers the plan only.
#[utoipa::path(post, path = "/api/v1/apply", request_body = OrgDocument, params(ApplyQuery),
    responses((status = 200, body = ApplyBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn apply(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(query): ApiQuery<ApplyQuery>,
    body: ApiJson<OrgDocument>,
) -> Result<Json<ApplyBody>, ApiError> {
    let plan = if query.dry_run {
        app.plan_apply(&actor, &body.value).await?
    } else {
        app.apply(&actor, body.value).await?
    };
    Ok(Json(ApplyBody {
        dry_run: query.dry_run,
        changes: plan.lines(),
        objects: plan.objects,
    }))
}

/// The current on-call setup as a document `POST /api/v1/apply` accepts (admins only).
#[utoipa::path(get, path = "/api/v1/export", responses((status = 200, body = OrgDocument), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<OrgDocument>, ApiError> {
    Ok(Json(app.export(&actor).await?))
}
