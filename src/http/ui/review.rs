//! The post-incident review page: the figures read from the record (key durations, the gap
//! analysis, what went well, the key moments), the editor with the blameless check live while
//! the team types, publishing, the Markdown export and the edit history.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::action_items::{CHOICES, ItemChoices, ItemRow};
use super::communication::{ToneRow, findings_fragment, tone_rows};
use super::{NoFields, Posted, Times, fail, render};
use crate::app::{
    AppError, BlameCheckFields, CommentFields, MeetingFields, ReviewFields, ReviewView,
};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::drills::DrillScore;
use crate::domain::incident::Status;
use crate::domain::review::{self, Practice};
use crate::domain::timeline::human_duration;
use crate::http::AppState;
use crate::store::MeetingRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents/{id}/review", get(page).post(save))
        .route("/incidents/{id}/review/blame", post(check_blame))
        .route("/incidents/{id}/review/publish", post(publish))
        .route("/incidents/{id}/review/comments", post(comment))
        .route("/incidents/{id}/review/meeting", post(schedule_meeting))
        .route("/incidents/{id}/review.md", get(export))
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    me: Actor,
    csrf: String,
    error: Option<String>,
    notice: Option<String>,
    id: i64,
    title: String,
    status: String,
    published: bool,
    can_publish: bool,
    /// "by alice, 2026-03-02 10:04:12 UTC".
    updated: Option<String>,
    zone: String,
    /// (key, name, value, definition).
    durations: Vec<(&'static str, String, String, &'static str)>,
    impact: String,
    gaps: Vec<(&'static str, Vec<String>)>,
    went_well: Vec<String>,
    text: String,
    version: i64,
    /// The detection time in use, and whether the review moved it.
    detected_at: String,
    /// The blameless check of the saved text, for `tone_findings.html`.
    label: &'static str,
    tone: Vec<ToneRow>,
    unchecked: Option<String>,
    timeline: Vec<(String, String)>,
    hypotheses: Vec<(String, String)>,
    changes: Vec<String>,
    /// (version, author, when).
    history: Vec<(i64, String, String)>,
    /// A drill's score against its playbook and targets.
    drill: Option<DrillScore>,
    /// (author, when, the section's title or "", text), oldest first.
    comments: Vec<(String, String, &'static str, String)>,
    /// (section, its title), for the comment form.
    sections: Vec<(&'static str, &'static str)>,
    meeting: Option<MeetingView>,
    /// "version 2 of playbook 1: 3 of 5 checklist steps checked", the link to it, and the
    /// steps never checked.
    playbook: Option<(String, String, Vec<String>)>,
    /// Every playbook, (id, "outage (checkout-api)"), for the action item form.
    playbooks: Vec<(i64, String)>,
    rows: Vec<ItemRow>,
    choices: ItemChoices,
    back: &'static str,
}

#[derive(Deserialize)]
struct PageQuery {
    error: Option<String>,
    done: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
    session: super::Session,
) -> Response {
    let loaded = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let review = state.review(&session.actor, id).await?;
        let history = state.review_history(&session.actor, id).await?;
        let items = state.incident_action_items(&session.actor, id).await?;
        let comments = state.review_comments(&session.actor, id).await?;
        let meeting = state.review_meeting(&session.actor, id).await?;
        let playbooks = state.playbooks().await?;
        Ok::<_, AppError>((
            times,
            review,
            history,
            items,
            (comments, meeting, playbooks),
        ))
    }
    .await;
    let (times, v, history, items, (comments, meeting, playbooks)) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return fail(e, "/incidents"),
    };
    let notice = match query.done.as_deref() {
        Some("saved") => Some("Review saved.".to_string()),
        Some("published") => Some("Review published; the incident is reviewed.".to_string()),
        Some("commented") => Some("Comment posted.".to_string()),
        Some("meeting") => Some("Meeting scheduled; the invitations are on their way.".to_string()),
        _ => None,
    };
    let d = &v.draft;
    let durations = d
        .moments
        .durations()
        .into_iter()
        .map(|(key, seconds, definition)| {
            let value = review::duration_text(seconds);
            (key, review::duration_name(key), value, definition)
        })
        .collect();
    let span = match d.impact_seconds() {
        Some(s) => format!("{} from impact to resolution", human_duration(s)),
        None => "not resolved yet".to_string(),
    };
    let mut impact = format!(
        "{span}; {} alert(s), {} user report(s); services: {}",
        d.alerts,
        d.user_reports,
        services(&v)
    );
    if !v.status_page.is_empty() {
        let shown: Vec<String> = v
            .status_page
            .iter()
            .map(|(c, status, secs)| {
                format!("{c} {} for {}", status.label(), human_duration(*secs))
            })
            .collect();
        impact.push_str(&format!("; on the status page: {}", shown.join(", ")));
    }
    let detected_at = match v.stored.as_ref().and_then(|r| r.detected_at) {
        Some(t) => format!("{} (moved by the review)", times.at(t)),
        None => format!("{} (the declaration)", times.at(v.incident.declared_at)),
    };
    let published = v.published();
    render(&ReviewPage {
        error: query.error,
        notice,
        id,
        title: v.incident.title.clone(),
        status: v.incident.status.to_string(),
        published,
        can_publish: session.actor.can_act() && v.incident.status == Status::Resolved,
        updated: v.stored.as_ref().map(|r| {
            format!(
                "by {}, {}",
                r.updated_by.as_deref().unwrap_or("someone"),
                times.at(r.updated_at)
            )
        }),
        zone: times.zone_note(),
        durations,
        impact,
        gaps: d
            .gaps
            .sections()
            .into_iter()
            .map(|(name, found)| {
                let texts = found.iter().map(|o| o.text.clone()).collect();
                (name.label(), texts)
            })
            .collect(),
        went_well: d.went_well.iter().map(|o| o.text.clone()).collect(),
        drill: v.drill.clone(),
        comments: comments
            .into_iter()
            .map(|c| {
                let who = c.author.unwrap_or_else(|| "someone".into());
                (
                    who,
                    times.at(c.at),
                    c.section.map_or("", Practice::label),
                    c.text,
                )
            })
            .collect(),
        sections: Practice::ALL
            .iter()
            .map(|p| (p.as_str(), p.label()))
            .collect(),
        meeting: meeting.map(|m| MeetingView::new(m, &times, &session.actor)),
        playbooks: playbooks
            .iter()
            .map(|p| {
                let name = match &p.service {
                    Some(service) => format!("{} ({service})", p.incident_type),
                    None => p.incident_type.clone(),
                };
                (p.id, name)
            })
            .collect(),
        playbook: v.playbook.as_ref().map(|p| {
            let done = p.checked();
            (
                format!(
                    "version {} of playbook {}: {done} of {} checklist steps checked",
                    p.version,
                    p.playbook_id,
                    p.steps.len()
                ),
                format!("/playbooks/{}", p.playbook_id),
                p.unchecked(),
            )
        }),
        label: "Blameless check",
        tone: tone_rows(&v.text, v.blame.clone()),
        unchecked: None,
        timeline: d
            .timeline
            .iter()
            .map(|m| (times.at(m.at), m.text.clone()))
            .collect(),
        hypotheses: d
            .hypotheses
            .iter()
            .map(|(s, state)| (s.clone(), state.to_string()))
            .collect(),
        changes: d
            .changes
            .iter()
            .map(|(c, rolled_back)| {
                if *rolled_back {
                    format!("{c} (rolled back)")
                } else {
                    c.clone()
                }
            })
            .collect(),
        history: history
            .into_iter()
            .map(|e| {
                let who = e.author.unwrap_or_else(|| "someone".into());
                (e.version, who, times.at(e.at))
            })
            .collect(),
        rows: items
            .iter()
            .map(|i| ItemRow::new(i, &times, state.now()))
            .collect(),
        choices: CHOICES,
        back: "review",
        text: v.text,
        version: v.version,
        detected_at,
        me: session.actor,
        csrf: session.csrf,
    })
}

fn services(v: &ReviewView) -> String {
    if v.incident.services.is_empty() {
        return "none named".to_string();
    }
    let names: Vec<&str> = v
        .incident
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    names.join(", ")
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    text: String,
    /// As text: a form's fields arrive as text, and a bad one should be a message, not a 422.
    #[serde(default)]
    version: String,
    #[serde(default)]
    detected_at: String,
    #[serde(default)]
    detected_reason: String,
}

async fn save(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<ReviewForm>,
) -> Response {
    let back = format!("/incidents/{id}/review");
    let saved = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let detected_at = match form.detected_at.trim() {
            "" => None,
            raw => Some(times.instant_typed("detected_at", raw)?),
        };
        let reason = form.detected_reason.trim();
        let fields = ReviewFields {
            text: form.text,
            version: form.version.trim().parse().unwrap_or(-1),
            detected_at,
            detected_reason: (!reason.is_empty()).then(|| reason.to_string()),
        };
        state.save_review(&session.actor, id, &fields).await
    }
    .await;
    match saved {
        Ok(_) => Redirect::to(&format!("{back}?done=saved")).into_response(),
        Err(e) => fail(e, &back),
    }
}

/// The review meeting as the page shows it.
struct MeetingView {
    /// From and to, in the viewer's zone.
    when: String,
    location: String,
    /// (username, where the invitation goes, or "").
    attendees: Vec<(String, String)>,
    /// (address, state, detail) of the latest invitations.
    invites: Vec<(String, String, String)>,
}

impl MeetingView {
    /// Contact addresses are shown to their owners and to admins only.
    fn new(m: MeetingRecord, times: &Times, me: &Actor) -> Self {
        let shown = |username: &str| me.is_admin() || me.username == username;
        Self {
            when: format!("{} to {}", times.at(m.starts_at), times.at(m.ends_at)),
            location: m.location.unwrap_or_default(),
            attendees: m
                .attendees
                .into_iter()
                .map(|a| {
                    let to = match a.email {
                        Some(email) if shown(&a.username) => email,
                        Some(_) => "sent an invitation by email".into(),
                        None => String::new(),
                    };
                    (a.username, to)
                })
                .collect(),
            invites: m
                .invites
                .into_iter()
                .filter(|i| i.sequence == m.sequence)
                .map(|i| {
                    let to = if shown(&i.username) {
                        i.address
                    } else {
                        i.username
                    };
                    (to, i.state.to_string(), i.detail.unwrap_or_default())
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
struct MeetingForm {
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    duration_minutes: String,
    /// Usernames, separated by commas or spaces.
    #[serde(default)]
    attendees: String,
    #[serde(default)]
    location: String,
}

async fn schedule_meeting(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<MeetingForm>,
) -> Response {
    let back = format!("/incidents/{id}/review");
    let scheduled = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let fields =
            MeetingFields {
                starts_at: times.instant_typed("starts_at", &form.starts_at)?,
                duration_minutes: form.duration_minutes.trim().parse().map_err(|_| {
                    FieldError::new("duration_minutes", "must be a number of minutes")
                })?,
                location: Some(form.location.clone()),
                attendees: form
                    .attendees
                    .split([',', ' '])
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect(),
            };
        state
            .schedule_review_meeting(&session.actor, id, &fields)
            .await
    }
    .await;
    match scheduled {
        Ok(_) => Redirect::to(&format!("{back}?done=meeting#meeting")).into_response(),
        Err(e) => fail(e, &back),
    }
}

#[derive(Deserialize)]
struct CommentForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    section: String,
}

async fn comment(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<CommentForm>,
) -> Response {
    let back = format!("/incidents/{id}/review");
    let fields = CommentFields {
        text: form.text,
        section: Some(form.section),
    };
    match state.comment_on_review(&session.actor, id, &fields).await {
        Ok(_) => Redirect::to(&format!("{back}?done=commented#comments")).into_response(),
        Err(e) => fail(e, &back),
    }
}

async fn publish(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    let back = format!("/incidents/{id}/review");
    match state.publish_review(&session.actor, id).await {
        Ok(_) => Redirect::to(&format!("{back}?done=published")).into_response(),
        Err(e) => fail(e, &back),
    }
}

/// The editor's blameless check, for the page's script.
async fn check_blame(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<ReviewForm>,
) -> Response {
    // Only those who may see the incident check drafts of its review.
    if let Err(e) = state.incident(&session.actor, id).await {
        return fail(e, "/incidents");
    }
    let fields = BlameCheckFields { text: form.text };
    findings_fragment("Blameless check", &fields.text, || {
        state.blame_check(&fields)
    })
}

/// The review as one Markdown document, for a signed-in reader.
async fn export(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    session: super::Session,
) -> Response {
    match state.review(&session.actor, id).await {
        Ok(v) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/markdown; charset=utf-8".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"incident-{id}-review.md\""),
                ),
            ],
            v.markdown(),
        )
            .into_response(),
        Err(e) => fail(e, "/incidents"),
    }
}
