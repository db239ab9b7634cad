//! Communicating during an incident: status updates (drafted, published, corrected) and the
//! tone check of a draft.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::app::{
    Aplomb, Briefing, CadenceView, ComponentChange, FilledTemplate, SubscriptionFields,
    TemplateFields, TemplateView, ToneCheckFields, UpdateEdit, UpdateFields,
};
use crate::domain::communication::SubscriptionScope;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath, ApiQuery};
use crate::store::{StatusUpdateRecord, SubscriptionRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tone-check", post(tone_check))
        .route(
            "/incidents/{id}/updates",
            post(post_update).get(list_updates),
        )
        .route("/incidents/{id}/updates/{uid}", patch(edit_update))
        .route("/incidents/{id}/cadence", get(cadence))
        .route("/incidents/{id}/cadence/snooze", post(snooze))
        .route(
            "/users/{username}/subscriptions",
            get(list_subscriptions).post(subscribe),
        )
        .route("/users/{username}/subscriptions/{id}", delete(unsubscribe))
        .route("/incidents/{id}/updates/template", get(incident_template))
        .route("/update-templates", get(list_templates))
        .route("/briefing", get(briefing))
        .route(
            "/update-templates/{audience}/{phase}",
            put(save_template).delete(reset_template),
        )
}

#[derive(OpenApi)]
#[openapi(paths(
    tone_check,
    post_update,
    list_updates,
    edit_update,
    cadence,
    snooze,
    list_subscriptions,
    subscribe,
    unsubscribe,
    incident_template,
    list_templates,
    save_template,
    reset_template,
    briefing
))]
pub struct CommunicationDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateBody {
    pub id: i64,
    pub incident_id: i64,
    /// Markdown.
    pub text: String,
    #[schema(example = "identified")]
    #[schema(value_type = crate::app::schema::PhaseName)]
    pub phase: String,
    #[schema(example = json!(["public", "stakeholders"]))]
    #[schema(value_type = crate::app::schema::AudienceNames)]
    pub audiences: Vec<String>,
    /// `draft` or `published`.
    #[schema(value_type = crate::app::schema::UpdateStateName)]
    pub state: String,
    pub next_update_by: Option<String>,
    pub author: Option<String>,
    pub created_at: String,
    pub published_at: Option<String>,
    /// When its text was last corrected after publishing.
    pub corrected_at: Option<String>,
    /// What the tone check finds in it, read by its widest audience (advice; nothing blocks).
    pub tone: Vec<FindingBody>,
    /// The component statuses it sets on the public status page (a public update only).
    pub components: Vec<ComponentChange>,
    /// The stakeholders it was sent to, by subscription, and how each delivery stands.
    pub sent: Vec<SentBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SentBody {
    pub user: String,
    /// The contact method's kind: `email`, `webhook`, `chat`, `sms` or `voice`.
    pub channel: String,
    /// `pending`, `sent` or `failed`; retried like a page while pending.
    pub state: String,
    pub attempts: i64,
}

impl UpdateBody {
    fn new(app: &Aplomb, u: StatusUpdateRecord) -> Self {
        Self {
            tone: app.update_tone(&u).into_iter().map(Into::into).collect(),
            id: u.id,
            incident_id: u.incident_id,
            text: u.text,
            phase: u.phase.to_string(),
            audiences: u.audiences.iter().map(ToString::to_string).collect(),
            state: u.state.to_string(),
            next_update_by: u.next_update_by.map(|t| t.to_string()),
            author: u.author,
            created_at: u.created_at.to_string(),
            published_at: u.published_at.map(|t| t.to_string()),
            corrected_at: u.corrected_at.map(|t| t.to_string()),
            components: u
                .components
                .into_iter()
                .map(|(name, status)| ComponentChange {
                    name,
                    status: status.to_string(),
                })
                .collect(),
            sent: u
                .sent
                .into_iter()
                .map(|d| SentBody {
                    user: d.username,
                    channel: d.kind,
                    state: d.state,
                    attempts: d.attempts,
                })
                .collect(),
        }
    }
}

/// Draft a status update, or publish it at once with `"publish": true`. A private incident's
/// updates go to stakeholders and responders only.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/updates", params(("id" = i64, Path)), request_body = UpdateFields,
    responses((status = 201, body = UpdateBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_update(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<UpdateFields>,
) -> Result<impl IntoResponse, ApiError> {
    let u = app.post_update(&actor, id, body.value).await?;
    Ok((StatusCode::CREATED, Json(UpdateBody::new(&app, u))))
}

/// The incident's updates, newest first; drafts only for those who can act on it.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/updates", params(("id" = i64, Path)),
    responses((status = 200, body = [UpdateBody]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn list_updates(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<UpdateBody>>, ApiError> {
    let updates = app.status_updates(&actor, id).await?;
    Ok(Json(
        updates
            .into_iter()
            .map(|u| UpdateBody::new(&app, u))
            .collect(),
    ))
}

/// Edit or publish a draft (`{"publish": true}`), or correct a published update's text (the
/// correction shows as such; phase and audiences stay).
#[utoipa::path(patch, path = "/api/v1/incidents/{id}/updates/{uid}", params(("id" = i64, Path), ("uid" = i64, Path)),
    request_body = UpdateEdit,
    responses((status = 200, body = UpdateBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_update(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, uid)): ApiPath<(i64, i64)>,
    body: ApiJson<UpdateEdit>,
) -> Result<Json<UpdateBody>, ApiError> {
    let u = app.edit_update(&actor, id, uid, body.value).await?;
    Ok(Json(UpdateBody::new(&app, u)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToneCheckBody {
    /// In the order they appear; none for a calm, complete update.
    pub findings: Vec<FindingBody>,
}

/// One thing the tone check found.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingBody {
    /// Where it is, in characters (Unicode scalar values) from 0; `start == end` at the end
    /// of the text for something missing.
    pub start: usize,
    pub end: usize,
    /// The tone check's `shouting`, `stacked_punctuation`, `panic_word`, `blame`,
    /// `speculation`, `fix_time_promise`, `internal_detail`, `missing_impact`,
    /// `missing_action` or `missing_next_update`; the blameless check's `person_as_cause`,
    /// `human_error`, `should_have`, `hindsight` or `judgement`.
    #[schema(example = "fix_time_promise")]
    pub rule: String,
    #[schema(example = "a fix time is a promise the team may not keep")]
    pub reason: String,
    #[schema(
        example = "Promise the next update instead of a fix time: \"next update by 14:30 UTC\"."
    )]
    pub suggestion: String,
}

impl<R: std::fmt::Display> From<crate::domain::wording::Finding<R>> for FindingBody {
    fn from(f: crate::domain::wording::Finding<R>) -> Self {
        Self {
            start: f.start,
            end: f.end,
            rule: f.rule.to_string(),
            reason: f.reason,
            suggestion: f.suggestion.to_string(),
        }
    }
}

/// Check a draft update's tone before it goes out: shouting, stacked `!`/`?`, panic words,
/// blame, speculation stated as fact, fix-time promises, internals in a public update, and
/// missing essentials (what readers experience, what is being done, when the next update
/// comes). It advises; nothing is stored or blocked.
#[utoipa::path(post, path = "/api/v1/tone-check", request_body = ToneCheckFields,
    responses((status = 200, body = ToneCheckBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn tone_check(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
    body: ApiJson<ToneCheckFields>,
) -> Result<Json<ToneCheckBody>, ApiError> {
    let findings = app.tone_check(&body.value)?;
    Ok(Json(ToneCheckBody {
        findings: findings.into_iter().map(Into::into).collect(),
    }))
}

/// Where an incident's update cadence stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct CadenceBody {
    /// When the next update counting toward the cadence (to `public` or `stakeholders`) is
    /// due; absent while none is expected (resolved, or a severity without cadence).
    pub due_at: Option<String>,
    /// Whether the due update is the incident's first.
    pub first: Option<bool>,
    pub overdue: bool,
    /// Minutes between reminders while it stays overdue.
    pub every_minutes: Option<i64>,
    /// Until when the overdue reminder is snoozed.
    pub snoozed_until: Option<String>,
}

impl From<CadenceView> for CadenceBody {
    fn from(c: CadenceView) -> Self {
        Self {
            due_at: c.due.map(|d| d.at.to_string()),
            first: c.due.map(|d| d.first),
            overdue: c.overdue(),
            every_minutes: c.due.map(|d| d.every.as_mins()),
            snoozed_until: c.snoozed_until.map(|t| t.to_string()),
        }
    }
}

/// When the incident's next status update is due, under the cadence its severity asks for
/// (first update within a time of the declaration, then at an interval, or at the time the
/// last update promised).
#[utoipa::path(get, path = "/api/v1/incidents/{id}/cadence", params(("id" = i64, Path)),
    responses((status = 200, body = CadenceBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn cadence(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CadenceBody>, ApiError> {
    Ok(Json(app.cadence(&actor, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeFields {
    /// 1 to 120.
    #[schema(example = 15, minimum = 1, maximum = 120)]
    pub minutes: i64,
}

/// Put off the overdue-update reminder (the update stays due, and the timeline says so).
/// 409 when no update is expected of the incident.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/cadence/snooze", params(("id" = i64, Path)),
    request_body = SnoozeFields,
    responses((status = 200, body = CadenceBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn snooze(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<SnoozeFields>,
) -> Result<Json<CadenceBody>, ApiError> {
    let c = app
        .snooze_update_reminder(&actor, id, body.value.minutes)
        .await?;
    Ok(Json(c.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionBody {
    pub id: i64,
    pub user: String,
    /// `all`, `service` or `severity`.
    pub scope: String,
    pub service: Option<String>,
    /// Incidents of this severity or worse.
    #[schema(value_type = Option<crate::app::schema::SeverityName>)]
    pub severity: Option<String>,
    /// The updates it hears: `stakeholders` or `responders`.
    pub audience: String,
    pub contact_method_id: i64,
    /// The kind of contact method updates arrive on.
    pub channel: String,
    pub created_at: String,
}

impl From<SubscriptionRecord> for SubscriptionBody {
    fn from(s: SubscriptionRecord) -> Self {
        Self {
            id: s.id,
            user: s.username,
            scope: s.scope.kind().into(),
            service: s.service,
            severity: match s.scope {
                SubscriptionScope::Severity(sev) => Some(sev.to_string()),
                _ => None,
            },
            audience: s.audience.to_string(),
            contact_method_id: s.contact_method_id,
            channel: s.contact_kind,
            created_at: s.created_at.to_string(),
        }
    }
}

/// A user's subscriptions to status updates (the user, or an admin).
#[utoipa::path(get, path = "/api/v1/users/{username}/subscriptions", params(("username" = String, Path)),
    responses((status = 200, body = [SubscriptionBody]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_subscriptions(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<Vec<SubscriptionBody>>, ApiError> {
    let list = app.subscriptions_of(&actor, &username).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Subscribe a user to the status updates published to stakeholders (or, with `"audience":
/// "responders"`, to responders): of every incident, of those affecting a service, or of
/// those of a severity or worse (a private incident's only while the user may see it). Each
/// update arrives once, on the contact method named. A predetermined channel (an email list,
/// a team's chat webhook) is a user of its own with that contact method, subscribed.
#[utoipa::path(post, path = "/api/v1/users/{username}/subscriptions", params(("username" = String, Path)),
    request_body = SubscriptionFields,
    responses((status = 201, body = SubscriptionBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn subscribe(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
    body: ApiJson<SubscriptionFields>,
) -> Result<impl IntoResponse, ApiError> {
    let added = app
        .subscribe_to_updates(&actor, &username, &body.value)
        .await?;
    Ok((StatusCode::CREATED, Json(SubscriptionBody::from(added))))
}

#[utoipa::path(delete, path = "/api/v1/users/{username}/subscriptions/{id}",
    params(("username" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn unsubscribe(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((username, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    app.unsubscribe_from_updates(&actor, &username, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateBody {
    #[schema(example = "investigating")]
    #[schema(value_type = crate::app::schema::PhaseName)]
    pub phase: String,
    #[schema(example = "public")]
    #[schema(value_type = crate::app::schema::AudienceName)]
    pub audience: String,
    /// The incident type it is for; `null` for any.
    pub incident_type: Option<String>,
    /// Markdown with `{title}`, `{severity}`, `{services}` and `{next_update}` placeholders.
    pub text: String,
    /// Whether the team wrote it; `false` for aplomb's own.
    pub custom: bool,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

impl From<TemplateView> for TemplateBody {
    fn from(t: TemplateView) -> Self {
        Self {
            phase: t.phase.to_string(),
            audience: t.audience.to_string(),
            incident_type: t.incident_type,
            text: t.text,
            custom: t.custom,
            updated_by: t.updated_by,
            updated_at: t.updated_at.map(|at| at.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FilledTemplateBody {
    #[schema(example = "investigating")]
    pub phase: String,
    #[schema(example = "public")]
    pub audience: String,
    /// The template with the incident's title, severity, services and next update time.
    pub text: String,
    /// Whether it came from the team's template; `false` for aplomb's own.
    pub custom: bool,
}

impl From<FilledTemplate> for FilledTemplateBody {
    fn from(t: FilledTemplate) -> Self {
        Self {
            phase: t.phase.to_string(),
            audience: t.audience.to_string(),
            text: t.text,
            custom: t.custom,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TemplateQuery {
    #[param(value_type = crate::app::schema::AudienceName)]
    pub audience: String,
    #[param(value_type = crate::app::schema::PhaseName)]
    pub phase: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TemplateTypeQuery {
    /// The incident type of the template; absent for the one for any type.
    pub incident_type: Option<String>,
}

/// The starting text of an update to `audience` in `phase` for this incident: the team's
/// template for its type, else for any type, else aplomb's own, with the incident's title,
/// severity, services and next update time filled in. Responders get Conditions / Actions /
/// Needs; stakeholders an executive summary.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/updates/template", params(("id" = i64, Path), TemplateQuery),
    responses((status = 200, body = FilledTemplateBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn incident_template(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<TemplateQuery>,
) -> Result<Json<FilledTemplateBody>, ApiError> {
    let filled = app
        .incident_template(&actor, id, &query.audience, &query.phase)
        .await?;
    Ok(Json(filled.into()))
}

/// Every phase and audience's template for any incident type (the team's, or aplomb's own
/// where it wrote none), then the team's for single incident types.
#[utoipa::path(get, path = "/api/v1/update-templates",
    responses((status = 200, body = Vec<TemplateBody>), (status = 401, body = ErrorBody)))]
async fn list_templates(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<TemplateBody>>, ApiError> {
    let templates = app.update_templates(&actor).await?;
    Ok(Json(templates.into_iter().map(Into::into).collect()))
}

/// Write the team's template for an audience and phase, for one incident type or any
/// (admins). Placeholders other than `{title}`, `{severity}`, `{services}` and
/// `{next_update}` are refused.
#[utoipa::path(put, path = "/api/v1/update-templates/{audience}/{phase}",
    params(("audience" = inline(crate::app::schema::AudienceName), Path), ("phase" = inline(crate::app::schema::PhaseName), Path)), request_body = TemplateFields,
    responses((status = 200, body = TemplateBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn save_template(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((audience, phase)): ApiPath<(String, String)>,
    body: ApiJson<TemplateFields>,
) -> Result<Json<TemplateBody>, ApiError> {
    let saved = app
        .save_update_template(&actor, &audience, &phase, &body.value)
        .await?;
    Ok(Json(saved.into()))
}

/// Remove the team's template, so the one for any type, or aplomb's own, applies again
/// (admins).
#[utoipa::path(delete, path = "/api/v1/update-templates/{audience}/{phase}",
    params(("audience" = inline(crate::app::schema::AudienceName), Path), ("phase" = inline(crate::app::schema::PhaseName), Path), TemplateTypeQuery),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reset_template(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((audience, phase)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<TemplateTypeQuery>,
) -> Result<StatusCode, ApiError> {
    app.reset_update_template(&actor, &audience, &phase, query.incident_type.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BriefingBody {
    pub incident_id: i64,
    pub title: String,
    #[schema(example = "SEV2")]
    pub severity: String,
    #[schema(example = "identified")]
    pub status: String,
    pub lead: Option<String>,
    pub declared_at: String,
    /// When stakeholders hear next under the severity's cadence; `null` when none is expected.
    pub next_update_due: Option<String>,
    pub overdue: bool,
    /// The updates published to stakeholders, newest first.
    pub updates: Vec<UpdateBody>,
}

impl BriefingBody {
    fn new(app: &Aplomb, b: Briefing) -> Self {
        Self {
            incident_id: b.incident.id,
            title: b.incident.title,
            severity: b.incident.severity.to_string(),
            status: b.incident.status.to_string(),
            lead: b.incident.lead,
            declared_at: b.incident.declared_at.to_string(),
            next_update_due: b.cadence.due.map(|d| d.at.to_string()),
            overdue: b.cadence.overdue(),
            updates: b
                .updates
                .into_iter()
                .map(|u| UpdateBody::new(app, u))
                .collect(),
        }
    }
}

/// The internal view for managers: every open incident the caller may see, worst first,
/// with when stakeholders hear next and the updates published to them so far.
#[utoipa::path(get, path = "/api/v1/briefing",
    responses((status = 200, body = Vec<BriefingBody>), (status = 401, body = ErrorBody)))]
async fn briefing(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<BriefingBody>>, ApiError> {
    let list = app.briefing(&actor).await?;
    Ok(Json(
        list.into_iter()
            .map(|b| BriefingBody::new(&app, b))
            .collect(),
    ))
}
