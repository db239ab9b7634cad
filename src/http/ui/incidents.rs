//! The incident pages: the list, declaring, the incident page with its live region and
//! timeline window, and the actions on it (notes, status, severity, roles, participants).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::communication::ComposerDraft;
use super::coordination::TaskRow;
use super::investigation::Board;
use super::{ErrorQuery, Posted, Session, Times, When, fail, render};
use crate::app::{AppError, DeclareInput, IncidentDetail, PatchInput, SeenVersion};
use crate::domain::access::Actor;
use crate::domain::coordination::TaskStatus;
use crate::domain::escalation::PagePurpose;
use crate::domain::incident::{RoleKind, Severity, Status};
use crate::domain::investigation::HypothesisState;
use crate::http::AppState;
use crate::http::api::incidents::ListQuery;
use crate::http::live;
use crate::http::percent_encode;
use crate::store::{IncidentSummary, TimelinePage, TimelineWindow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(incident_list).post(declare))
        .route("/incidents/list", get(incident_list_fragment))
        .route("/incidents/new", get(declare_page))
        .route("/incidents/{id}", get(incident_page))
        .route("/incidents/{id}/live", get(incident_fragment))
        .route("/incidents/{id}/events", get(incident_events))
        .route("/incidents/{id}/notes", post(add_note))
        .route("/incidents/{id}/status", post(change_status))
        .route("/incidents/{id}/severity", post(change_severity))
        .route("/incidents/{id}/roles", post(assign_role))
        .route("/incidents/{id}/participants", post(add_participant))
        .route("/events", get(all_events))
}

/// A list row, ready for the template.
struct Row {
    id: i64,
    title: String,
    severity: String,
    status: String,
    incident_type: String,
    private: bool,
    drill: bool,
    lead: String,
    declared: When,
}

impl Row {
    fn new(s: IncidentSummary, times: &Times) -> Self {
        Self {
            id: s.id,
            title: s.title,
            severity: s.severity.to_string(),
            status: s.status.to_string(),
            incident_type: s.incident_type,
            private: s.private,
            drill: s.drill,
            lead: s.lead.unwrap_or_else(|| "—".into()),
            declared: times.when(s.declared_at),
        }
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    me: Actor,
    csrf: String,
    rows: Vec<Row>,
    status: String,
    severity: String,
    statuses: Vec<&'static str>,
    severities: Vec<&'static str>,
    query: String,
    next: Option<String>,
    error: Option<String>,
    /// Which time zone the list's times are in, and why.
    zone: String,
}

#[derive(Template)]
#[template(path = "incident_rows.html")]
struct ListFragment {
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    severity: Option<String>,
    before: Option<i64>,
    error: Option<String>,
}

impl ListParams {
    fn api_query(&self) -> ListQuery {
        ListQuery {
            status: self.status.clone().filter(|s| s != "active"),
            severity: self.severity.clone(),
            active: Some(self.status.as_deref() == Some("active")),
            before: self.before,
            limit: Some(50),
        }
    }

    fn query_string(&self) -> String {
        format!(
            "status={}&severity={}",
            percent_encode(self.status.as_deref().unwrap_or("")),
            percent_encode(self.severity.as_deref().unwrap_or(""))
        )
    }
}

async fn load_rows(
    state: &AppState,
    actor: &Actor,
    params: &ListParams,
) -> Result<(Vec<Row>, Option<i64>), AppError> {
    let filter = params
        .api_query()
        .filter()
        .map_err(|e| AppError::Invalid(crate::domain::FieldError::new("filter", e.message)))?;
    let page = state.list(actor, &filter).await?;
    let times = Times::for_actor(state, actor).await?;
    Ok((
        page.items
            .into_iter()
            .map(|s| Row::new(s, &times))
            .collect(),
        page.next_cursor,
    ))
}

async fn incident_list(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<ListParams>,
) -> Response {
    let (rows, next_cursor) = match load_rows(&state, &session.actor, &params).await {
        Ok(found) => found,
        Err(e) => return fail(e, "/incidents"),
    };
    let zone = match Times::for_actor(&state, &session.actor).await {
        Ok(times) => times.zone_note(),
        Err(e) => return fail(e, "/incidents"),
    };
    let query = params.query_string();
    render(&ListPage {
        me: session.actor,
        csrf: session.csrf,
        rows,
        status: params.status.clone().unwrap_or_default(),
        severity: params.severity.clone().unwrap_or_default(),
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        severities: Severity::ALL.iter().map(|s| s.as_str()).collect(),
        next: next_cursor.map(|c| format!("/incidents?{query}&before={c}")),
        query,
        error: params.error,
        zone,
    })
}

async fn incident_list_fragment(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<ListParams>,
) -> Response {
    match load_rows(&state, &session.actor, &params).await {
        Ok((rows, _)) => render(&ListFragment { rows }),
        Err(e) => fail(e, "/incidents"),
    }
}

async fn all_events(State(state): State<AppState>, session: Session) -> Response {
    match live::stream(state, session.actor, None).await {
        Ok(sse) => sse.into_response(),
        Err(e) => fail(e, "/incidents"),
    }
}

#[derive(Template)]
#[template(path = "declare.html")]
struct DeclarePage {
    me: Actor,
    csrf: String,
    severities: Vec<&'static str>,
    types: Vec<String>,
    /// The service catalog, to pick from.
    services: Vec<String>,
    /// What was typed, when the form comes back with a problem.
    form: DeclareForm,
    problem: FormProblem,
}

/// Why a submitted form came back: a message by the field at fault, or one for the whole form.
#[derive(Default)]
pub(super) struct FormProblem {
    field: Option<&'static str>,
    message: Option<String>,
}

impl FormProblem {
    /// The problem of an operation refused for a reason people can fix (bad input, a conflict,
    /// no permission); `None` for a failure of the server, which `fail` answers instead.
    pub(super) fn of(e: &AppError) -> Option<Self> {
        match e {
            AppError::Invalid(f) => Some(Self {
                field: Some(f.field),
                message: Some(f.message.clone()),
            }),
            AppError::Forbidden(_)
            | AppError::Conflict(_)
            | AppError::Stale { .. }
            | AppError::TooManyAttempts { .. }
            | AppError::IdempotencyMismatch => Some(Self {
                field: None,
                message: Some(e.to_string()),
            }),
            AppError::Unauthenticated
            | AppError::BadSignature(_)
            | AppError::NotFound(_)
            | AppError::Unavailable(_)
            | AppError::Internal(_) => None,
        }
    }

    /// The message for `field`, shown beside it.
    pub(super) fn on(&self, field: &str) -> Option<&str> {
        self.message
            .as_deref()
            .filter(|_| self.field == Some(field))
    }

    /// A message not about any one field of the form, or about a field the form does not show
    /// (`fields` lists those it does), shown above the form.
    pub(super) fn general(&self, fields: &[&str]) -> Option<&str> {
        match self.field {
            Some(f) if fields.contains(&f) => None,
            _ => self.message.as_deref(),
        }
    }
}

const DECLARE_FIELDS: [&str; 5] = ["title", "severity", "type", "services", "summary"];

impl DeclarePage {
    fn general_problem(&self) -> Option<&str> {
        self.problem.general(&DECLARE_FIELDS)
    }
}

async fn declare_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ErrorQuery>,
) -> Response {
    let form = DeclareForm {
        severity: Severity::Sev3.to_string(),
        ..DeclareForm::default()
    };
    let problem = FormProblem {
        field: None,
        message: q.error,
    };
    // A viewer is told they cannot declare rather than shown a form that would refuse them.
    let viewer = !session.actor.can_act();
    let mut page = declare_form(&state, session, form, problem).await;
    if viewer && page.status() == StatusCode::OK {
        *page.status_mut() = StatusCode::FORBIDDEN;
    }
    page
}

async fn declare_form(
    state: &AppState,
    session: Session,
    form: DeclareForm,
    problem: FormProblem,
) -> Response {
    let services = match state.list_services().await {
        Ok(s) => s.into_iter().map(|s| s.name).collect(),
        Err(e) => return fail(e, "/incidents"),
    };
    render(&DeclarePage {
        me: session.actor,
        csrf: session.csrf,
        severities: Severity::ALL.iter().map(|s| s.as_str()).collect(),
        types: state.settings.incident_types.all().to_vec(),
        services,
        form,
        problem,
    })
}

/// Checkbox names for picking services: `service:` and the service's name. (A form repeats a
/// key for several choices, which the form parser cannot collect; one key per service can.)
const SERVICE_CHECKBOX: &str = "service:";

#[derive(Deserialize, Default)]
struct DeclareForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    incident_type: String,
    /// A checkbox: present ("on") when ticked.
    private: Option<String>,
    /// The ticked service checkboxes (and nothing else a browser sends).
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, String>,
}

impl DeclareForm {
    fn services(&self) -> Vec<String> {
        self.rest
            .keys()
            .filter_map(|k| k.strip_prefix(SERVICE_CHECKBOX))
            .map(String::from)
            .collect()
    }

    fn picked(&self, service: &str) -> bool {
        self.rest
            .contains_key(&format!("{SERVICE_CHECKBOX}{service}"))
    }
}

async fn declare(
    State(state): State<AppState>,
    Posted { session, form }: Posted<DeclareForm>,
) -> Response {
    let input = DeclareInput {
        title: form.title.clone(),
        summary: Some(form.summary.clone()),
        severity: form.severity.clone(),
        incident_type: Some(form.incident_type.clone()),
        private: form.private.is_some(),
        services: form.services(),
    };
    match state.declare(&session.actor, input, None).await {
        Ok((view, _)) => Redirect::to(&format!("/incidents/{}", view.incident.id)).into_response(),
        // What was typed comes back with the problem beside its field, not a blank form.
        Err(e) => match FormProblem::of(&e) {
            Some(problem) => {
                let refused = matches!(e, AppError::Forbidden(_));
                let mut page = declare_form(&state, session, form, problem).await;
                if page.status() == StatusCode::OK {
                    *page.status_mut() = if refused {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    };
                }
                page
            }
            None => fail(e, "/incidents/new"),
        },
    }
}

/// An incident's header and timeline, ready for the template.
struct Live {
    id: i64,
    title: String,
    summary: String,
    severity: String,
    status: String,
    /// What the page's forms send back, so a change from a stale page is refused.
    version: i64,
    incident_type: String,
    private: bool,
    /// A practice run: the page says so above everything else.
    drill: bool,
    declared_by: String,
    declared: When,
    resolved: Option<When>,
    /// Which time zone the page's times are in, and why.
    zone: String,
    roles: Vec<(String, String)>,
    unfilled: Vec<String>,
    participants: String,
    services: String,
    pages: Vec<PageRow>,
    /// The alerts most recently seen, and whether the incident has more.
    alerts: Vec<super::alerts::AlertRow>,
    more_alerts: bool,
    /// Recent change events of the affected services and their dependencies.
    changes: Vec<super::investigation::RecentChangeRow>,
    board: Board,
    tasks: Vec<TaskRow>,
    updates: super::communication::Updates,
    checklist: Option<super::playbooks::ChecklistView>,
}

/// The window of the timeline a page or a live update shows.
struct TimelineRows {
    entries: Vec<EntryRow>,
    /// The first entry shown, when earlier ones exist: the "earlier entries" cursor.
    earlier: Option<i64>,
    /// The last entry id the page has: a page showing the latest entries asks for what came
    /// after it; one showing an earlier window (`None`) is not extended.
    follow: Option<i64>,
    /// This window starts over (the page missed too much to extend what it has).
    gap: bool,
}

impl TimelineRows {
    fn new(page: TimelinePage, window: TimelineWindow, times: &Times) -> Self {
        let first = page.entries.first().map(|e| e.id);
        let last = page.entries.last().map(|e| e.id);
        let (earlier, follow) = match window {
            TimelineWindow::Latest { .. } => (first.filter(|_| page.more), Some(last.unwrap_or(0))),
            TimelineWindow::Before { .. } => (first.filter(|_| page.more), None),
            TimelineWindow::After { id, .. } => (None, Some(last.unwrap_or(id))),
            // More than a live update carries: these are the latest, and the page starts over.
            TimelineWindow::Since { id, .. } => {
                (first.filter(|_| page.more), Some(last.unwrap_or(id)))
            }
        };
        let gap = matches!(window, TimelineWindow::Since { .. }) && page.more;
        Self {
            entries: page
                .entries
                .into_iter()
                .map(|e| EntryRow {
                    id: e.id,
                    at: times.at(e.at),
                    actor: e.actor.unwrap_or_else(|| "aplomb".into()),
                    kind: e.data.kind(),
                    text: e.data.describe(),
                })
                .collect(),
            earlier,
            follow,
            gap,
        }
    }
}

/// One page on the incident, for its paging history.
struct PageRow {
    user: String,
    /// What a reminder reminds of ("a check-in"); a page asks for an acknowledgement.
    reminder: Option<&'static str>,
    paged_at: String,
    acknowledged_at: Option<String>,
    /// One line per delivery; a responder with no contact method gets one saying so.
    deliveries: Vec<String>,
}

impl PageRow {
    /// A page with no delivery reached nobody: the responder has no contact method.
    fn noting_no_contact_method(mut self) -> Self {
        if self.deliveries.is_empty() {
            self.deliveries
                .push("no contact method: nobody was notified".into());
        }
        self
    }
}

impl PageRow {
    fn new(p: crate::store::PageRecord, times: &Times) -> Self {
        Self {
            user: p.user,
            reminder: match p.purpose {
                PagePurpose::Page => None,
                PagePurpose::CheckIn => Some("a check-in"),
                PagePurpose::UpdateDue => Some("an overdue update"),
                PagePurpose::StatusUpdate => Some("a status update"),
                PagePurpose::ActionItem => Some("an action item"),
            },
            paged_at: times.at(p.created_at),
            acknowledged_at: p.acknowledged_at.map(|t| times.at(t)),
            deliveries: p
                .deliveries
                .into_iter()
                .map(|d| {
                    let tries = d.attempts.len();
                    let last = d
                        .attempts
                        .last()
                        .filter(|a| !a.ok)
                        .map(|a| format!(", last: {}", a.detail))
                        .unwrap_or_default();
                    let after_stop = match d.stopped {
                        Some((at, by)) if d.state == "sent" => {
                            format!(", after {} at {}", by.label(), times.at(at))
                        }
                        _ => String::new(),
                    };
                    format!(
                        "{} to {}: {}{after_stop} ({tries} attempt{}{last})",
                        d.kind,
                        d.address,
                        d.state,
                        if tries == 1 { "" } else { "s" }
                    )
                })
                .collect(),
        }
        .noting_no_contact_method()
    }
}

struct EntryRow {
    id: i64,
    at: String,
    actor: String,
    kind: &'static str,
    text: String,
}

impl Live {
    /// The page's header and sections, and the timeline window to show below them.
    fn new(detail: IncidentDetail, times: &Times) -> (Self, TimelinePage) {
        let IncidentDetail {
            view,
            timeline,
            pages,
            alerts,
            more_alerts,
            changes,
            investigation,
            tasks,
            answerable,
            updates,
            users_told,
            cadence,
            components,
            checklist,
        } = detail;
        let i = view.incident;
        let live = Self {
            id: i.id,
            drill: i.is_drill(),
            roles: RoleKind::ALL
                .iter()
                .map(|role| {
                    let holder = i
                        .holder(*role)
                        .map(|u| u.username.clone())
                        .unwrap_or_default();
                    (role.label().to_string(), holder)
                })
                .collect(),
            unfilled: view
                .unfilled_roles
                .iter()
                .map(|r| r.label().to_string())
                .collect(),
            participants: i
                .participants
                .iter()
                .map(|p| p.username.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            services: i
                .services
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            title: i.title,
            summary: i.summary,
            severity: i.severity.to_string(),
            status: i.status.to_string(),
            version: i.version,
            private: i.private,
            incident_type: i.incident_type,
            declared_by: i.declared_by.username,
            declared: times.when(i.declared_at),
            resolved: i.resolved_at.map(|t| times.when(t)),
            pages: pages.into_iter().map(|p| PageRow::new(p, times)).collect(),
            zone: times.zone_note(),
            alerts: alerts.iter().map(super::alerts::AlertRow::from).collect(),
            more_alerts,
            changes: changes
                .into_iter()
                .map(|c| super::investigation::RecentChangeRow::new(c, times))
                .collect(),
            board: Board::new(investigation, times),
            checklist: checklist.map(|c| super::playbooks::ChecklistView::new(c, times)),
            updates: super::communication::Updates::new(
                updates, users_told, cadence, components, i.private, times,
            ),
            tasks: tasks
                .into_iter()
                .map(|t| {
                    let answerable = answerable.contains(&t.id);
                    TaskRow::new(t, times, answerable)
                })
                .collect(),
        };
        (live, timeline)
    }
}

/// How many timeline entries an incident page shows at once, and how many a live update brings
/// before it starts the list over: a page stays small however long the incident runs.
const PAGE_ENTRIES: u32 = 100;
const LIVE_ENTRIES: u32 = 100;

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    me: Actor,
    csrf: String,
    live: Live,
    timeline: TimelineRows,
    statuses: Vec<&'static str>,
    severities: Vec<&'static str>,
    roles: Vec<(&'static str, &'static str)>,
    users: Vec<String>,
    error: Option<String>,
    /// What the action just taken did, announced in the page's polite live region.
    notice: Option<String>,
    /// The id of the control that action was taken with, focused again (`autofocus`).
    focus: &'static str,
    /// What the status update composer starts with.
    draft: ComposerDraft,
}

#[derive(Deserialize)]
struct IncidentQuery {
    error: Option<String>,
    done: Option<String>,
    /// Show the entries before this one instead of the latest.
    before: Option<i64>,
    /// Start the composer from the template for this audience and phase.
    template_audience: Option<String>,
    template_phase: Option<String>,
}

#[derive(Template)]
#[template(path = "incident_fragment.html")]
struct IncidentFragment {
    live: Live,
    /// The entries after the page's last one, when the page follows the latest.
    timeline: Option<TimelineRows>,
    me: Actor,
    csrf: String,
    /// Nothing is focused by a refresh; the page keeps its own focus.
    focus: &'static str,
    /// A refresh leaves the composer as it is (`data-keep`); this fills the markup only.
    draft: ComposerDraft,
}

async fn load_live(
    state: &AppState,
    actor: &Actor,
    id: i64,
    window: TimelineWindow,
) -> Result<(Live, TimelineRows), AppError> {
    let detail = state.incident_detail(actor, id, window).await?;
    let times = Times::for_actor(state, actor).await?;
    let (live, timeline) = Live::new(detail, &times);
    Ok((live, TimelineRows::new(timeline, window, &times)))
}

async fn incident_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Query(q): Query<IncidentQuery>,
) -> Response {
    let done = q.done.as_deref().and_then(Done::parse);
    let window = match q.before {
        Some(id) => TimelineWindow::Before {
            id,
            limit: PAGE_ENTRIES,
        },
        None => TimelineWindow::Latest {
            limit: PAGE_ENTRIES,
        },
    };
    let (live, timeline) = match load_live(&state, &session.actor, id, window).await {
        Ok(loaded) => loaded,
        Err(e) => return fail(e, "/incidents"),
    };
    let users = match state.user_names().await {
        Ok(users) => users,
        Err(e) => return fail(e, "/incidents"),
    };
    let mut error = q.error;
    let mut focus = done.map(Done::control).unwrap_or("");
    let draft = match (&q.template_audience, &q.template_phase) {
        (Some(audience), Some(phase)) => {
            match state
                .incident_template(&session.actor, id, audience, phase)
                .await
            {
                Ok(filled) => {
                    focus = "update-text";
                    filled.into()
                }
                Err(e) => {
                    error = Some(e.to_string());
                    ComposerDraft::default()
                }
            }
        }
        _ => ComposerDraft::default(),
    };
    render(&IncidentPage {
        me: session.actor,
        csrf: session.csrf,
        live,
        timeline,
        statuses: Status::SETTABLE.iter().map(|s| s.as_str()).collect(),
        severities: Severity::ALL.iter().map(|s| s.as_str()).collect(),
        roles: RoleKind::ALL
            .iter()
            .map(|r| (r.slug(), r.label()))
            .collect(),
        users,
        error,
        notice: done.map(Done::notice),
        focus,
        draft,
    })
}

#[derive(Deserialize)]
struct FragmentQuery {
    /// The last entry the page has; without it the update carries no timeline entries.
    after: Option<i64>,
}

/// The incident page's live region brought up to date, with the entries after the page's last.
async fn incident_fragment(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Query(q): Query<FragmentQuery>,
) -> Response {
    let window = match q.after {
        Some(id) => TimelineWindow::Since {
            id,
            limit: LIVE_ENTRIES,
        },
        // The header alone: one entry is the least a window holds.
        None => TimelineWindow::Latest { limit: 1 },
    };
    let _rendering = state
        .live_updates
        .acquire()
        .await
        .expect("live_updates is never closed");
    match load_live(&state, &session.actor, id, window).await {
        Ok((live, rows)) => render(&IncidentFragment {
            live,
            timeline: q.after.map(|_| rows),
            me: session.actor,
            csrf: session.csrf,
            focus: "",
            draft: ComposerDraft::default(),
        }),
        Err(e) => fail(e, "/incidents"),
    }
}

async fn incident_events(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Response {
    match live::stream(state, session.actor, Some(id)).await {
        Ok(sse) => sse.into_response(),
        Err(e) => fail(e, "/incidents"),
    }
}

/// Every incident action ends the same way: back to the incident page, with the error if any.
pub(super) fn back_to(id: i64, result: Result<(), AppError>) -> Response {
    let page = format!("/incidents/{id}");
    match result {
        Ok(()) => Redirect::to(&page).into_response(),
        Err(e) => fail(e, &page),
    }
}

/// What an action on the incident page did, carried through its redirect (`?done=`) so the
/// page can say so and put focus back on the control used. A closed set with values from
/// the domain's own closed sets, so a crafted link cannot make the page say anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Done {
    Note,
    Status(Status),
    Severity(Severity),
    Role(RoleKind),
    Participant,
    Acknowledged,
    Evidence,
    Attached,
    Drafted,
    Published,
    Snoozed,
    Pinned(bool),
    Hypothesis,
    Tested,
    Judged(HypothesisState),
    ChangeRecorded,
    ChangeRolledBack,
    Task,
    CheckedIn,
    TaskMoved(TaskStatus),
}

impl Done {
    fn code(self) -> String {
        match self {
            Self::Note => "note".into(),
            Self::Status(s) => format!("status-{s}"),
            Self::Severity(s) => format!("severity-{s}"),
            Self::Role(r) => format!("role-{}", r.slug()),
            Self::Participant => "participant".into(),
            Self::Acknowledged => "acknowledged".into(),
            Self::Evidence => "evidence".into(),
            Self::Attached => "attached".into(),
            Self::Drafted => "drafted".into(),
            Self::Published => "published".into(),
            Self::Snoozed => "snoozed".into(),
            Self::Pinned(true) => "pinned".into(),
            Self::Pinned(false) => "unpinned".into(),
            Self::Hypothesis => "hypothesis".into(),
            Self::Tested => "tested".into(),
            Self::Judged(s) => format!("hypothesis-{s}"),
            Self::ChangeRecorded => "change".into(),
            Self::ChangeRolledBack => "change-rolled_back".into(),
            Self::Task => "task".into(),
            Self::CheckedIn => "checked-in".into(),
            Self::TaskMoved(s) => format!("task-{s}"),
        }
    }

    fn parse(code: &str) -> Option<Self> {
        let (kind, value) = code.split_once('-').unwrap_or((code, ""));
        match kind {
            "note" => Some(Self::Note),
            "status" => value.parse().ok().map(Self::Status),
            "severity" => value.parse().ok().map(Self::Severity),
            "role" => value.parse().ok().map(Self::Role),
            "participant" => Some(Self::Participant),
            "acknowledged" => Some(Self::Acknowledged),
            "evidence" => Some(Self::Evidence),
            "attached" => Some(Self::Attached),
            "drafted" => Some(Self::Drafted),
            "published" => Some(Self::Published),
            "snoozed" => Some(Self::Snoozed),
            "pinned" => Some(Self::Pinned(true)),
            "unpinned" => Some(Self::Pinned(false)),
            "hypothesis" if value.is_empty() => Some(Self::Hypothesis),
            "hypothesis" => value.parse().ok().map(Self::Judged),
            "tested" => Some(Self::Tested),
            "change" if value.is_empty() => Some(Self::ChangeRecorded),
            "change" if value == "rolled_back" => Some(Self::ChangeRolledBack),
            "task" if value.is_empty() => Some(Self::Task),
            "task" => value.parse().ok().map(Self::TaskMoved),
            "checked" if value == "in" => Some(Self::CheckedIn),
            _ => None,
        }
    }

    fn notice(self) -> String {
        match self {
            Self::Note => "Note posted to the timeline.".into(),
            Self::Status(Status::Resolved) => {
                "Incident resolved; paging for it has stopped.".into()
            }
            Self::Status(s) => format!("Status set to {s}."),
            Self::Severity(s) => format!("Severity set to {s}."),
            Self::Role(r) => format!("{} assigned.", r.label()),
            Self::Participant => "Participant added.".into(),
            Self::Acknowledged => {
                "All pages for this incident acknowledged; escalation has stopped.".into()
            }
            Self::Evidence => "Evidence added.".into(),
            Self::Attached => "File attached.".into(),
            Self::Drafted => "Draft saved; publish it when it reads right.".into(),
            Self::Published => "Update published to its audiences.".into(),
            Self::Snoozed => "Update reminder snoozed; the update stays due.".into(),
            Self::Pinned(true) => "Evidence pinned.".into(),
            Self::Pinned(false) => "Evidence unpinned.".into(),
            Self::Hypothesis => "Hypothesis added.".into(),
            Self::Tested => "Test recorded.".into(),
            Self::Judged(HypothesisState::Supported) => {
                "Hypothesis supported: it is a finding.".into()
            }
            Self::Judged(s) => format!("Hypothesis {s}."),
            Self::ChangeRecorded => "Change recorded.".into(),
            Self::ChangeRolledBack => "Change marked rolled back.".into(),
            Self::Task => "Task added.".into(),
            Self::CheckedIn => "Checked in; the next check-in is due an interval from now.".into(),
            Self::TaskMoved(s) => format!("Task {s}."),
        }
    }

    /// The id of the control the action was taken with.
    fn control(self) -> &'static str {
        match self {
            Self::Note => "note-text",
            Self::Status(_) => "status-select",
            Self::Severity(_) => "severity-select",
            Self::Role(_) => "role-select",
            Self::Participant => "participant-user",
            Self::Acknowledged => "acknowledge",
            Self::Evidence | Self::Attached | Self::Pinned(_) => "evidence-summary",
            Self::Drafted | Self::Published => "update-text",
            Self::Snoozed => "snooze-minutes",
            Self::Hypothesis | Self::Tested | Self::Judged(_) => "hypothesis-statement",
            Self::ChangeRecorded | Self::ChangeRolledBack => "change-system",
            Self::Task | Self::CheckedIn | Self::TaskMoved(_) => "task-title",
        }
    }
}

/// Back to the incident page after an action: saying what it did, or with the error.
pub(super) fn done_to(id: i64, result: Result<Done, AppError>) -> Response {
    match result {
        Ok(done) => Redirect::to(&format!("/incidents/{id}?done={}", done.code())).into_response(),
        Err(e) => fail(e, &format!("/incidents/{id}")),
    }
}

#[derive(Deserialize)]
struct NoteForm {
    text: String,
}

async fn add_note(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<NoteForm>,
) -> Response {
    done_to(
        id,
        state
            .add_note(&session.actor, id, &form.text)
            .await
            .map(|_| Done::Note),
    )
}

/// The version a form was rendered from. Forms arrive as text (a flattened form cannot hold
/// numbers), so it is parsed here, naming the field when it is not one.
fn seen_version(raw: Option<&str>) -> Result<Option<SeenVersion>, AppError> {
    raw.map(|v| {
        v.trim().parse().map(SeenVersion::Field).map_err(|_| {
            AppError::Invalid(crate::domain::FieldError::new(
                "version",
                "must be the number the page was rendered with; reload the page",
            ))
        })
    })
    .transpose()
}

#[derive(Deserialize)]
struct StatusForm {
    status: String,
    #[serde(default)]
    reason: String,
    /// The incident version the page was rendered from.
    version: Option<String>,
    /// `yes` once the person has confirmed a resolution on the confirmation page.
    confirm: Option<String>,
}

/// A change to look at twice before it is made, and what it will do.
enum Ask {
    Resolve,
    Severity(Severity),
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    me: Actor,
    csrf: String,
    id: i64,
    title: String,
    question: String,
    consequences: Vec<String>,
    button: &'static str,
    action: String,
    /// The submitted form's fields, sent again with `confirm=yes`.
    fields: Vec<(&'static str, String)>,
}

/// The confirmation page for a consequential change (a second page, so it needs no script),
/// or `None` to go ahead: already confirmed, or a change the operation itself will refuse
/// (a stale form, nothing to change), whose refusal says more than a question would.
async fn confirmation(
    state: &AppState,
    session: &Session,
    id: i64,
    seen: Option<SeenVersion>,
    ask: Ask,
    fields: Vec<(&'static str, String)>,
) -> Option<Response> {
    let incident = match state.incident(&session.actor, id).await {
        Ok(view) => view.incident,
        Err(e) => return Some(fail(e, "/incidents")),
    };
    if let Some(SeenVersion::Field(v) | SeenVersion::Precondition(v)) = seen
        && v != incident.version
    {
        return None;
    }
    let (question, consequences, button, path) = match ask {
        Ask::Resolve if incident.status.is_active() => (
            format!("Resolve incident #{id}?"),
            vec![
                "Paging stops for everyone: escalation steps still to come are ended and \
                 queued notifications are cancelled."
                    .to_string(),
                "The incident leaves the active list; reopening it needs a reason.".to_string(),
            ],
            "Resolve incident",
            "status",
        ),
        Ask::Severity(to) if to != incident.severity => {
            let at_new_severity = crate::domain::incident::Incident {
                severity: to,
                ..incident.clone()
            };
            let required = at_new_severity.required_roles(&state.settings.role_policy);
            let roles = if required.is_empty() {
                format!("{to} requires no roles.")
            } else {
                let labels: Vec<_> = required.iter().map(|r| r.label()).collect();
                let unfilled: Vec<_> = required
                    .iter()
                    .filter(|r| incident.holder(**r).is_none())
                    .map(|r| r.label())
                    .collect();
                let still = if unfilled.is_empty() {
                    "all filled".to_string()
                } else {
                    format!("unfilled: {}", unfilled.join(", "))
                };
                format!("{to} requires {} ({still}).", labels.join(", "))
            };
            (
                format!(
                    "Change the severity of incident #{id} from {} to {to}?",
                    incident.severity
                ),
                vec![
                    roles,
                    "Everyone following the incident sees the change at once.".into(),
                ],
                "Change severity",
                "severity",
            )
        }
        _ => return None,
    };
    Some(render(&ConfirmPage {
        me: session.actor.clone(),
        csrf: session.csrf.clone(),
        id,
        title: incident.title,
        question,
        consequences,
        button,
        action: format!("/incidents/{id}/{path}"),
        fields,
    }))
}

async fn change_status(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<StatusForm>,
) -> Response {
    let seen = match seen_version(form.version.as_deref()) {
        Ok(seen) => seen,
        Err(e) => return back_to(id, Err(e)),
    };
    if form.confirm.as_deref() != Some("yes")
        && form.status.parse::<Status>() == Ok(Status::Resolved)
    {
        let fields = vec![
            ("status", form.status.clone()),
            ("reason", form.reason.clone()),
            ("version", form.version.clone().unwrap_or_default()),
        ];
        if let Some(page) = confirmation(&state, &session, id, seen, Ask::Resolve, fields).await {
            return page;
        }
    }
    let input = PatchInput {
        status: Some(form.status),
        reason: Some(form.reason).filter(|r| !r.trim().is_empty()),
        seen,
        ..PatchInput::default()
    };
    let changed = state.update(&session.actor, id, input).await;
    done_to(id, changed.map(|v| Done::Status(v.incident.status)))
}

#[derive(Deserialize)]
struct SeverityForm {
    severity: String,
    /// The incident version the page was rendered from.
    version: Option<String>,
    /// `yes` once the person has confirmed the change on the confirmation page.
    confirm: Option<String>,
}

async fn change_severity(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<SeverityForm>,
) -> Response {
    let seen = match seen_version(form.version.as_deref()) {
        Ok(seen) => seen,
        Err(e) => return back_to(id, Err(e)),
    };
    if form.confirm.as_deref() != Some("yes")
        && let Ok(to) = form.severity.parse::<Severity>()
    {
        let fields = vec![
            ("severity", form.severity.clone()),
            ("version", form.version.clone().unwrap_or_default()),
        ];
        let ask = Ask::Severity(to);
        if let Some(page) = confirmation(&state, &session, id, seen, ask, fields).await {
            return page;
        }
    }
    let input = PatchInput {
        severity: Some(form.severity),
        seen,
        ..PatchInput::default()
    };
    let changed = state.update(&session.actor, id, input).await;
    done_to(id, changed.map(|v| Done::Severity(v.incident.severity)))
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
    user: String,
    #[serde(default)]
    note: String,
}

async fn assign_role(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<RoleForm>,
) -> Response {
    let role = form.role.parse::<RoleKind>();
    let assigned = state
        .assign_role(&session.actor, id, &form.role, &form.user, Some(&form.note))
        .await;
    // assign_role parsed the same text, so a role it accepted parses here too.
    done_to(id, assigned.and_then(|_| Ok(Done::Role(role?))))
}

#[derive(Deserialize)]
struct ParticipantForm {
    user: String,
}

async fn add_participant(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<ParticipantForm>,
) -> Response {
    done_to(
        id,
        state
            .add_participant(&session.actor, id, &form.user)
            .await
            .map(|_| Done::Participant),
    )
}
