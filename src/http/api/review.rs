//! Post-incident reviews: the draft with its figures, saves, publishing, the Markdown export
//! and the edit history; and the blameless-language check.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::communication::{FindingBody, ToneCheckBody};
use super::drills::ScoreBody;
use crate::app::{
    AppError, BlameCheckFields, CommentFields, MeetingFields, ReviewFields, ReviewView,
};
use crate::domain::access::Actor;
use crate::domain::meeting::InviteState;
use crate::domain::review::{self, Observation, Practice};
use crate::domain::status::ComponentStatus;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath};
use crate::store::{MeetingRecord, ReviewComment, ReviewEdit};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/blame-check", post(blame_check))
        .route("/incidents/{id}/review", get(show).put(save))
        .route("/incidents/{id}/review/publish", post(publish))
        .route("/incidents/{id}/review/history", get(history))
        .route(
            "/incidents/{id}/review/comments",
            get(comments).post(comment),
        )
        .route(
            "/incidents/{id}/review/meeting",
            get(meeting).put(schedule_meeting),
        )
        .route("/incidents/{id}/review.md", get(markdown))
}

#[derive(OpenApi)]
#[openapi(paths(
    blame_check,
    show,
    save,
    publish,
    history,
    comments,
    comment,
    meeting,
    schedule_meeting,
    markdown
))]
pub struct ReviewDoc;

/// A post-incident review: the team's text beside the figures read from the record now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewBody {
    pub incident_id: i64,
    /// The incident's status: `reviewed` once the review is published.
    pub incident_status: String,
    pub published: bool,
    pub published_at: Option<String>,
    /// 0 until the first save; a save names the version it was made from.
    pub version: i64,
    /// Markdown: the team's text, or the draft's starting text until the first save.
    pub text: String,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
    /// Key durations in seconds (absent where the moment did not happen): `time_to_detect`,
    /// `time_to_acknowledge`, `time_to_assemble`, `time_to_first_update`, `time_to_finding`,
    /// `time_to_mitigate`, `time_to_resolve`.
    #[schema(value_type = Object)]
    pub durations: BTreeMap<&'static str, Option<i64>>,
    /// What each duration measures, by the same keys.
    #[schema(value_type = Object)]
    pub definitions: BTreeMap<&'static str, &'static str>,
    /// When each key moment happened (RFC 3339): `impact_began`, `detected`, `declared`,
    /// `acknowledged`, `assembled`, `first_update`, `finding`, `mitigated`, `resolved`.
    #[schema(value_type = Object)]
    pub moments: review::Moments,
    /// The gap analysis by practice: `prevention`, `investigation`, `coordination`,
    /// `communication`, each what the record shows went short.
    #[schema(value_type = Object)]
    pub gaps: BTreeMap<&'static str, Vec<ObservationBody>>,
    pub went_well: Vec<ObservationBody>,
    /// The timeline condensed to its key moments, oldest first.
    pub timeline: Vec<KeyMomentBody>,
    pub hypotheses: Vec<HypothesisOutcome>,
    pub changes: Vec<ChangeOutcome>,
    pub impact: ImpactBody,
    /// What the blameless-language check finds in the text (advice).
    pub blame: Vec<FindingBody>,
    /// A drill's score against the playbook it ran and the scenario's targets; absent for a
    /// real incident.
    pub drill_score: Option<ScoreBody>,
    /// The playbook version the incident ran (absent: none applied), and how much of its
    /// checklist was checked.
    pub playbook: Option<PlaybookRunBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybookRunBody {
    pub playbook_id: i64,
    pub version: i64,
    pub steps: usize,
    pub checked: usize,
    /// The steps never checked, in order.
    pub unchecked: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObservationBody {
    pub at: Option<String>,
    #[schema(example = "update overdue by 12 min 0 s at 11:05 UTC")]
    pub text: String,
}

impl From<&Observation> for ObservationBody {
    fn from(o: &Observation) -> Self {
        Self {
            at: o.at.map(|t| t.to_string()),
            text: o.text.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyMomentBody {
    pub at: String,
    /// The timeline entry's kind.
    pub kind: &'static str,
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HypothesisOutcome {
    pub statement: String,
    /// `supported`, `refuted`, or still `open`/`testing`.
    pub state: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeOutcome {
    pub description: String,
    pub rolled_back: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImpactBody {
    /// Impact began → resolved, in seconds; absent while unresolved.
    pub duration_seconds: Option<i64>,
    pub services: Vec<String>,
    pub alerts: u32,
    pub user_reports: u32,
    /// How long the public status page showed each component in each status other than
    /// operational because of this incident (until an update said it was resolved, or it was).
    pub status_page: Vec<StatusTimeBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusTimeBody {
    pub component: String,
    pub status: ComponentStatus,
    pub seconds: i64,
}

impl From<ReviewView> for ReviewBody {
    fn from(v: ReviewView) -> Self {
        let d = &v.draft;
        let stored = v.stored.as_ref();
        Self {
            incident_id: v.incident.id,
            incident_status: v.incident.status.to_string(),
            published: v.published(),
            published_at: stored.and_then(|r| r.published_at).map(|t| t.to_string()),
            version: v.version,
            updated_by: stored.and_then(|r| r.updated_by.clone()),
            updated_at: stored.map(|r| r.updated_at.to_string()),
            durations: d
                .moments
                .durations()
                .map(|(name, s, _)| (name, s))
                .into_iter()
                .collect(),
            definitions: review::DURATIONS.into_iter().collect(),
            gaps: d
                .gaps
                .sections()
                .into_iter()
                .map(|(name, found)| (name.as_str(), found.iter().map(Into::into).collect()))
                .collect(),
            went_well: d.went_well.iter().map(Into::into).collect(),
            timeline: d
                .timeline
                .iter()
                .map(|m| KeyMomentBody {
                    at: m.at.to_string(),
                    kind: m.kind,
                    text: m.text.clone(),
                })
                .collect(),
            hypotheses: d
                .hypotheses
                .iter()
                .map(|(statement, state)| HypothesisOutcome {
                    statement: statement.clone(),
                    state: state.to_string(),
                })
                .collect(),
            changes: d
                .changes
                .iter()
                .map(|(description, rolled_back)| ChangeOutcome {
                    description: description.clone(),
                    rolled_back: *rolled_back,
                })
                .collect(),
            drill_score: v.drill.as_ref().map(Into::into),
            playbook: v.playbook.as_ref().map(|p| PlaybookRunBody {
                playbook_id: p.playbook_id,
                version: p.version,
                steps: p.steps.len(),
                checked: p.checked(),
                unchecked: p.unchecked(),
            }),
            impact: ImpactBody {
                duration_seconds: d.impact_seconds(),
                services: v.incident.services.iter().map(|s| s.name.clone()).collect(),
                alerts: d.alerts,
                user_reports: d.user_reports,
                status_page: v
                    .status_page
                    .iter()
                    .map(|(component, status, seconds)| StatusTimeBody {
                        component: component.clone(),
                        status: *status,
                        seconds: *seconds,
                    })
                    .collect(),
            },
            blame: v.blame.iter().cloned().map(Into::into).collect(),
            moments: d.moments.clone(),
            text: v.text,
        }
    }
}

/// Check a text for blame before it goes into a review: a person as the cause ("X broke …",
/// "caused by X"), "human error", "should have"/"failed to" said of people, hindsight ("if
/// only", "obviously", "simply") and judgement words ("careless"). Naming who did what, as
/// fact, passes. It advises; nothing is stored or blocked.
#[utoipa::path(post, path = "/api/v1/blame-check", tag = "review", request_body = BlameCheckFields,
    responses((status = 200, body = ToneCheckBody, description = "the findings, in the tone check's shape"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn blame_check(
    State(app): State<AppState>,
    ApiActor(_caller): ApiActor,
    body: ApiJson<BlameCheckFields>,
) -> Result<Json<ToneCheckBody>, ApiError> {
    let findings = app.blame_check(&body.value)?;
    Ok(Json(ToneCheckBody {
        findings: findings.into_iter().map(Into::into).collect(),
    }))
}

/// The incident's review: the team's text (the draft's starting text, with the gap analysis
/// pre-filled, until the first save), the key durations, the gap analysis, the condensed
/// timeline, hypotheses, changes and what the blameless check finds in the text. The figures
/// are read from the timeline on every request.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/review", tag = "review", params(("id" = i64, Path)),
    responses((status = 200, body = ReviewBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn show(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ReviewBody>, ApiError> {
    Ok(Json(app.review(&actor, id).await?.into()))
}

/// Save the review's text, from the version read (409 if someone saved since); moving the
/// detection time needs a reason and goes on the timeline. Responders and admins.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/review", tag = "review", params(("id" = i64, Path)),
    request_body = ReviewFields,
    responses((status = 200, body = ReviewBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot change incidents"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the review was saved since the version named, or is published"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<ReviewFields>,
) -> Result<Json<ReviewBody>, ApiError> {
    Ok(Json(app.save_review(&actor, id, &body.value).await?.into()))
}

/// Publish the review as it stands (the draft's starting text if never saved): the incident,
/// which must be resolved, becomes `reviewed`.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/review/publish", tag = "review", params(("id" = i64, Path)),
    responses((status = 200, body = ReviewBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot change incidents"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the incident is not resolved (or is reviewed already)")))]
async fn publish(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ReviewBody>, ApiError> {
    Ok(Json(app.publish_review(&actor, id).await?.into()))
}

/// One saved text of the review.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewEditBody {
    pub version: i64,
    pub author: Option<String>,
    pub at: String,
    pub text: String,
}

impl From<ReviewEdit> for ReviewEditBody {
    fn from(e: ReviewEdit) -> Self {
        Self {
            version: e.version,
            author: e.author,
            at: e.at.to_string(),
            text: e.text,
        }
    }
}

/// Every saved text of the review with its author, oldest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/review/history", tag = "review", params(("id" = i64, Path)),
    responses((status = 200, body = [ReviewEditBody]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn history(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ReviewEditBody>>, ApiError> {
    let edits = app.review_history(&actor, id).await?;
    Ok(Json(edits.into_iter().map(Into::into).collect()))
}

/// A comment on a review.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentBody {
    pub id: i64,
    /// The section it is about; absent: the whole review.
    pub section: Option<Practice>,
    pub text: String,
    pub author: Option<String>,
    pub at: String,
}

impl From<ReviewComment> for CommentBody {
    fn from(c: ReviewComment) -> Self {
        Self {
            id: c.id,
            section: c.section,
            text: c.text,
            author: c.author,
            at: c.at.to_string(),
        }
    }
}

/// A comment just posted, with what the blameless check finds in it (advice).
#[derive(Debug, Serialize, ToSchema)]
pub struct PostedCommentBody {
    pub comment: CommentBody,
    pub blame: Vec<FindingBody>,
}

/// The review's comments, oldest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/review/comments", tag = "review", params(("id" = i64, Path)),
    responses((status = 200, body = [CommentBody]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn comments(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<CommentBody>>, ApiError> {
    let all = app.review_comments(&actor, id).await?;
    Ok(Json(all.into_iter().map(Into::into).collect()))
}

/// Comment on the review, as a whole or on one section (`prevention`, `investigation`,
/// `coordination`, `communication`, `went_well`); a published review too. The answer carries
/// what the blameless check finds in the comment. Responders and admins.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/review/comments", tag = "review", params(("id" = i64, Path)),
    request_body = CommentFields,
    responses((status = 201, body = PostedCommentBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot change incidents"),
              (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn comment(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<CommentFields>,
) -> Result<impl IntoResponse, ApiError> {
    let (comment, blame) = app.comment_on_review(&actor, id, &body.value).await?;
    Ok((
        StatusCode::CREATED,
        Json(PostedCommentBody {
            comment: comment.into(),
            blame: blame.into_iter().map(Into::into).collect(),
        }),
    ))
}

/// The review meeting: when, where, who is asked, and each invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingBody {
    pub starts_at: String,
    pub ends_at: String,
    pub location: Option<String>,
    pub attendees: Vec<AttendeeBody>,
    /// 0 when first scheduled, one more for each change (the invitations' `SEQUENCE`).
    pub sequence: i64,
    pub organizer: Option<String>,
    pub updated_at: String,
    /// Every invitation sent or owed, oldest first.
    pub invites: Vec<InviteBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttendeeBody {
    pub username: String,
    pub name: String,
    /// Whether they are sent the invitation (they have an email contact method).
    pub invited: bool,
    /// Where it goes: shown to admins and to the attendee, absent to everyone else (a contact
    /// address is its owner's).
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteBody {
    pub username: String,
    /// Shown to admins and to the attendee (see `AttendeeBody::email`).
    pub address: Option<String>,
    pub sequence: i64,
    pub state: InviteState,
    /// The last attempt's outcome.
    pub detail: Option<String>,
}

impl MeetingBody {
    /// The meeting as `reader` may read it: contact addresses only their owners' and admins'.
    fn for_reader(m: MeetingRecord, reader: &Actor) -> Self {
        let shown = |username: &str| reader.is_admin() || reader.username == username;
        Self {
            starts_at: m.starts_at.to_string(),
            ends_at: m.ends_at.to_string(),
            location: m.location,
            attendees: m
                .attendees
                .into_iter()
                .map(|a| AttendeeBody {
                    invited: a.email.is_some(),
                    email: a.email.filter(|_| shown(&a.username)),
                    username: a.username,
                    name: a.name,
                })
                .collect(),
            sequence: m.sequence,
            organizer: m.organizer,
            updated_at: m.updated_at.to_string(),
            invites: m
                .invites
                .into_iter()
                .map(|i| InviteBody {
                    address: shown(&i.username).then_some(i.address),
                    username: i.username,
                    sequence: i.sequence,
                    state: i.state,
                    detail: i.detail,
                })
                .collect(),
        }
    }
}

/// The review meeting, if one is scheduled.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/review/meeting", tag = "review", params(("id" = i64, Path)),
    responses((status = 200, body = MeetingBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "no such incident, or no meeting scheduled")))]
async fn meeting(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MeetingBody>, ApiError> {
    let meeting = app
        .review_meeting(&actor, id)
        .await?
        .ok_or(AppError::NotFound("meeting"))?;
    Ok(Json(MeetingBody::for_reader(meeting, &actor)))
}

/// Schedule the review meeting, or move it: everyone asked who has an email contact method
/// gets an invitation by email with the meeting as an iCalendar request (RFC 5545,
/// `METHOD:REQUEST`), again at each change with the next `SEQUENCE`, so calendars update the
/// event; what was still owed of the last invitations is cancelled. Responders and admins.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/review/meeting", tag = "review", params(("id" = i64, Path)),
    request_body = MeetingFields,
    responses((status = 200, body = MeetingBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "viewers cannot change incidents"),
              (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn schedule_meeting(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<MeetingFields>,
) -> Result<Json<MeetingBody>, ApiError> {
    let meeting = app.schedule_review_meeting(&actor, id, &body.value).await?;
    Ok(Json(MeetingBody::for_reader(meeting, &actor)))
}

/// The review as one Markdown document: the team's text, then the key durations with their
/// definitions, the condensed timeline, hypotheses and changes.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/review.md", tag = "review", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/markdown; charset=utf-8", body = String),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn markdown(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let v = app.review(&actor, id).await?;
    let document = v.markdown();
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        document,
    ))
}
