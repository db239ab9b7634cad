//! Status updates on the incident page: whether users have been told, the updates so far
//! (drafts with what the tone check found), and the composer, all plain forms: it starts
//! from a template on request, and checks the tone as the lead types when scripts run.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::incidents::{Done, done_to};
use super::{Posted, Times, render};
use crate::app::{
    AppError, CadenceView, ComponentChange, FilledTemplate, ToneCheckFields, UpdateEdit,
    UpdateFields, UsersTold,
};
use crate::domain::FieldError;
use crate::domain::communication::{Audience, Phase, UpdateState, widest};
use crate::domain::status::ComponentStatus;
use crate::domain::tone::Finding;
use crate::http::AppState;
use crate::store::StatusUpdateRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents/{id}/updates", post(post_update))
        .route("/incidents/{id}/updates/{uid}/publish", post(publish))
        .route("/incidents/{id}/updates/snooze", post(snooze))
        .route("/incidents/{id}/updates/tone", post(check_tone))
        .route("/briefing", axum::routing::get(briefing))
}

/// One open incident on the briefing page.
struct BriefingRow {
    id: i64,
    title: String,
    severity: String,
    status: String,
    lead: String,
    declared: String,
    cadence: Option<CadenceLine>,
    updates: Vec<UpdateRow>,
}

#[derive(Template)]
#[template(path = "briefing.html")]
struct BriefingPage {
    me: crate::domain::access::Actor,
    csrf: String,
    rows: Vec<BriefingRow>,
    zone: String,
}

/// The managers' internal view: open incidents, worst first, with what stakeholders were
/// told and when they hear next.
async fn briefing(State(state): State<AppState>, session: super::Session) -> Response {
    let loaded = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let briefing = state.briefing(&session.actor).await?;
        Ok::<_, AppError>((times, briefing))
    }
    .await;
    let (times, briefing) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return super::fail(e, "/incidents"),
    };
    render(&BriefingPage {
        rows: briefing
            .into_iter()
            .map(|b| BriefingRow {
                id: b.incident.id,
                title: b.incident.title,
                severity: b.incident.severity.to_string(),
                status: b.incident.status.to_string(),
                lead: b
                    .incident
                    .lead
                    .map_or_else(|| "no lead yet".into(), |lead| format!("lead {lead}")),
                declared: times.at(b.incident.declared_at),
                cadence: CadenceLine::new(b.cadence, &times),
                updates: b
                    .updates
                    .into_iter()
                    .map(|u| UpdateRow::new(u, Vec::new(), &times))
                    .collect(),
            })
            .collect(),
        zone: times.zone_note(),
        me: session.actor,
        csrf: session.csrf,
    })
}

/// What the composer starts with: nothing, or a template filled for the incident.
#[derive(Debug, Default)]
pub(super) struct ComposerDraft {
    pub text: String,
    /// The phase and audience it was started for; empty for a blank composer.
    pub phase: String,
    pub audience: String,
    /// "the team's template" or "aplomb's template", when started from one.
    pub source: String,
}

impl From<FilledTemplate> for ComposerDraft {
    fn from(t: FilledTemplate) -> Self {
        Self {
            text: t.text,
            phase: t.phase.to_string(),
            audience: t.audience.to_string(),
            source: if t.custom {
                "the team's template"
            } else {
                "aplomb's template"
            }
            .into(),
        }
    }
}

/// Tone findings as the page lists them: (rule, the words it is about, reason, suggestion).
pub(super) type ToneRow = (String, String, String, String);

pub(super) fn tone_rows<R: std::fmt::Display>(
    text: &str,
    found: Vec<crate::domain::wording::Finding<R>>,
) -> Vec<ToneRow> {
    let chars: Vec<char> = text.chars().collect();
    found
        .into_iter()
        .map(|f| {
            let words: String = chars[f.start.min(chars.len())..f.end.min(chars.len())]
                .iter()
                .collect();
            (
                f.rule.to_string(),
                words,
                f.reason,
                f.suggestion.to_string(),
            )
        })
        .collect()
}

/// The communication section of the page, ready for the template.
pub(super) struct Updates {
    pub rows: Vec<UpdateRow>,
    /// "Users told: …", as the page says it.
    pub users_told: String,
    pub phases: &'static [Phase],
    /// The audiences the composer may start a template for (no public one when private).
    pub audiences: Vec<Audience>,
    /// Whether the composer offers the public audience (not for a private incident).
    pub public_allowed: bool,
    /// When the next update is due, while one is expected.
    pub cadence: Option<CadenceLine>,
    /// The status page's components, which a public update may set statuses of.
    pub components: Vec<String>,
    pub component_statuses: &'static [ComponentStatus],
}

/// The countdown to the next update, as the page says it.
pub(super) struct CadenceLine {
    /// "First update due" or "Next update due".
    pub label: String,
    pub at: String,
    pub iso: String,
    pub ms: i64,
    /// "in 12 min" or "overdue by 3 min", which the page's script keeps counting.
    pub countdown: String,
    pub overdue: bool,
    /// Until when the reminder is snoozed, as a time of day.
    pub snoozed_until: Option<String>,
}

impl CadenceLine {
    fn new(cadence: CadenceView, times: &Times) -> Option<Self> {
        let due = cadence.due?;
        let overdue = cadence.overdue();
        let label = if due.first {
            "First update due"
        } else {
            "Next update due"
        };
        let minutes = (due.at.as_millisecond() - cadence.now.as_millisecond()).abs() / 60_000;
        Some(Self {
            label: label.to_string(),
            at: times.at(due.at),
            iso: due.at.to_string(),
            ms: due.at.as_millisecond(),
            countdown: if overdue {
                format!("overdue by {minutes} min")
            } else {
                format!("in {minutes} min")
            },
            overdue,
            snoozed_until: cadence.snoozed_until.map(|t| times.at(t)),
        })
    }
}

pub(super) struct UpdateRow {
    pub id: i64,
    pub text: String,
    pub phase: String,
    pub audiences: String,
    pub draft: bool,
    pub when: String,
    pub author: String,
    pub corrected: Option<String>,
    /// "Checkout: partial outage", for each component it sets.
    pub components: Vec<String>,
    /// "mia by email: sent", for each subscribed stakeholder it went to.
    pub sent: Vec<String>,
    /// What the tone check found, for a draft.
    pub tone: Vec<ToneRow>,
}

impl Updates {
    pub(super) fn new(
        updates: Vec<(StatusUpdateRecord, Vec<Finding>)>,
        told: UsersTold,
        cadence: CadenceView,
        components: Vec<String>,
        private: bool,
        times: &Times,
    ) -> Self {
        let users_told = match told {
            UsersTold::Private => {
                "Users told: a private incident has no public updates.".to_string()
            }
            UsersTold::NotYet => "Users told: no update yet.".to_string(),
            UsersTold::Since { first, updates } => format!(
                "Users told: first at {}; {updates} public update{} so far.",
                times.at(first),
                if updates == 1 { "" } else { "s" }
            ),
        };
        Self {
            rows: updates
                .into_iter()
                .map(|(u, tone)| UpdateRow::new(u, tone, times))
                .collect(),
            users_told,
            phases: Phase::ALL,
            audiences: Audience::ALL
                .iter()
                .copied()
                .filter(|a| !private || *a != Audience::Public)
                .collect(),
            public_allowed: !private,
            cadence: CadenceLine::new(cadence, times),
            components,
            component_statuses: ComponentStatus::ALL,
        }
    }
}

impl UpdateRow {
    fn new(u: StatusUpdateRecord, tone: Vec<Finding>, times: &Times) -> Self {
        let draft = u.state == UpdateState::Draft;
        Self {
            tone: if draft {
                tone_rows(&u.text, tone)
            } else {
                Vec::new()
            },
            id: u.id,
            phase: u.phase.to_string(),
            audiences: u
                .audiences
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            draft,
            when: times.at(u.published_at.unwrap_or(u.created_at)),
            author: u.author.unwrap_or_else(|| "aplomb".into()),
            corrected: u.corrected_at.map(|t| times.at(t)),
            components: u
                .components
                .iter()
                .map(|(name, status)| format!("{name}: {}", status.label().to_lowercase()))
                .collect(),
            sent: u
                .sent
                .iter()
                .map(|d| format!("{} by {}: {}", d.username, d.kind, d.state))
                .collect(),
            text: u.text,
        }
    }
}

#[derive(Deserialize)]
struct UpdateForm {
    text: String,
    phase: String,
    /// Checkboxes: present when ticked.
    audience_public: Option<String>,
    audience_stakeholders: Option<String>,
    audience_responders: Option<String>,
    /// The "Publish" button rather than "Save draft".
    publish: Option<String>,
    /// `component:<name>` → the status the update sets (empty: not affected).
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

impl UpdateForm {
    /// The audiences ticked.
    fn audiences(&self) -> Vec<Audience> {
        [
            (&self.audience_public, Audience::Public),
            (&self.audience_stakeholders, Audience::Stakeholders),
            (&self.audience_responders, Audience::Responders),
        ]
        .into_iter()
        .filter(|(ticked, _)| ticked.is_some())
        .map(|(_, a)| a)
        .collect()
    }
}

/// A wording check's findings of a text being written (`findings_fragment`).
#[derive(Template)]
#[template(path = "tone_findings.html")]
struct ToneFindings {
    /// "Tone check" or "Blameless check".
    label: &'static str,
    tone: Vec<ToneRow>,
    /// Why nothing was checked, when nothing was.
    unchecked: Option<String>,
}

/// What a wording check (`label`, "Tone check" or "Blameless check") finds in `text`, as the
/// fragment `app.js` shows beside what is being written: a hint while it is blank, the
/// findings, or (422) why the text cannot be checked.
pub(super) fn findings_fragment<R: std::fmt::Display>(
    label: &'static str,
    text: &str,
    check: impl FnOnce() -> Result<Vec<crate::domain::wording::Finding<R>>, AppError>,
) -> Response {
    let fragment = |tone, unchecked| ToneFindings {
        label,
        tone,
        unchecked,
    };
    if text.trim().is_empty() {
        let why = format!("{label}: it runs as you write.");
        return render(&fragment(Vec::new(), Some(why)));
    }
    match check() {
        Ok(found) => render(&fragment(tone_rows(text, found), None)),
        Err(AppError::Invalid(e)) => (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            render(&fragment(Vec::new(), Some(format!("{label}: {e}.")))),
        )
            .into_response(),
        Err(e) => super::fail(e, "/incidents"),
    }
}

/// The composer's tone check, for the page's script: the same rules the draft is shown with
/// once saved, read by the widest audience ticked.
async fn check_tone(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<UpdateForm>,
) -> Response {
    // Only those who may see the incident check drafts of its updates.
    if let Err(e) = state.incident(&session.actor, id).await {
        return super::fail(e, "/incidents");
    }
    let fields = ToneCheckFields {
        audience: Some(widest(&form.audiences()).to_string()),
        phase: Some(form.phase.clone()),
        text: form.text,
    };
    findings_fragment("Tone check", &fields.text, || state.tone_check(&fields))
}

async fn post_update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<UpdateForm>,
) -> Response {
    let audiences = form.audiences().iter().map(ToString::to_string).collect();
    let publish = form.publish.is_some();
    let mut components: Vec<ComponentChange> = form
        .rest
        .iter()
        .filter_map(|(key, status)| {
            let name = key.strip_prefix("component:")?;
            (!status.is_empty()).then(|| ComponentChange {
                name: name.to_string(),
                status: status.clone(),
            })
        })
        .collect();
    components.sort_by(|a, b| a.name.cmp(&b.name));
    let fields = UpdateFields {
        text: form.text,
        phase: Some(form.phase),
        audiences,
        next_update_by: None,
        components,
        publish,
    };
    let posted = state.post_update(&session.actor, id, fields).await;
    done_to(
        id,
        posted.map(|_| {
            if publish {
                Done::Published
            } else {
                Done::Drafted
            }
        }),
    )
}

#[derive(Deserialize)]
struct PublishForm {}

async fn publish(
    State(state): State<AppState>,
    Path((id, uid)): Path<(i64, i64)>,
    Posted { session, .. }: Posted<PublishForm>,
) -> Response {
    let edit = UpdateEdit {
        publish: Some(true),
        ..UpdateEdit::default()
    };
    let published = state.edit_update(&session.actor, id, uid, edit).await;
    done_to(id, published.map(|_| Done::Published))
}

#[derive(Deserialize)]
struct SnoozeForm {
    /// Text: a form's fields flattened beside its CSRF token arrive as strings.
    minutes: String,
}

async fn snooze(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<SnoozeForm>,
) -> Response {
    let minutes = match form.minutes.trim().parse::<i64>() {
        Ok(minutes) => minutes,
        Err(_) => {
            let e = FieldError::new("minutes", "must be a whole number of minutes");
            return done_to(id, Err(AppError::Invalid(e)));
        }
    };
    let snoozed = state
        .snooze_update_reminder(&session.actor, id, minutes)
        .await;
    done_to(id, snoozed.map(|_| Done::Snoozed))
}
