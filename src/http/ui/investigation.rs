//! The investigation board on the incident page: evidence (pinned first) with its files,
//! hypotheses with the evidence for and against each and their tests, the changes made to production (their rows
//! and forms are `coordination.rs`'s), and the forms that add to them. It sits in
//! the page's live region, so every open page shows what a colleague added.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::coordination::ResponseChangeRow;
use super::incidents::{Done, done_to};
use super::{Posted, Session, Times, fail};
use crate::app::{
    EvidenceEdit, EvidenceFields, HypothesisEdit, HypothesisFields, Investigation, RecentChange,
    TestFields,
};
use crate::domain::FieldError;
use crate::domain::attachment::{AttachmentType, MAX_ATTACHMENT_BYTES, readable_size, size_limit};
use crate::domain::investigation::{EvidenceKind, HypothesisState};
use crate::http::AppState;
use crate::http::api::investigation::serve_attachment;
use crate::store::{AttachmentRecord, EvidenceRecord, HypothesisRecord};

/// Room beside the file in an upload form's body for its other fields and boundaries.
const FORM_OVERHEAD: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents/{id}/evidence", post(add_evidence))
        .route("/incidents/{id}/evidence/{eid}/pin", post(pin_evidence))
        .route(
            "/incidents/{id}/evidence/{eid}/attachments",
            post(attach).layer(DefaultBodyLimit::max(MAX_ATTACHMENT_BYTES + FORM_OVERHEAD)),
        )
        .route(
            "/incidents/{id}/evidence/{eid}/attachments/{aid}",
            get(attachment),
        )
        .route("/incidents/{id}/hypotheses", post(add_hypothesis))
        .route(
            "/incidents/{id}/hypotheses/{hid}/tests",
            post(test_hypothesis),
        )
        .route(
            "/incidents/{id}/hypotheses/{hid}/state",
            post(judge_hypothesis),
        )
}

/// A recent change on the page, with what it came through.
pub(super) struct RecentChangeRow {
    pub id: i64,
    pub at: String,
    /// The service it happened on, and for a dependency the affected service it came through.
    pub service: String,
    pub summary: String,
    pub source: String,
}

impl RecentChangeRow {
    pub(super) fn new(c: RecentChange, times: &Times) -> Self {
        let service = match c.via.split_last() {
            Some((on, through)) if !through.is_empty() => {
                format!("{on} (via {})", through.join(" \u{2192} "))
            }
            _ => c.change.service.clone(),
        };
        Self {
            id: c.change.id,
            at: times.at(c.change.happened_at),
            service,
            summary: c.change.summary,
            source: c.change.source,
        }
    }
}

/// What the board shows, ready for the template.
pub(super) struct Board {
    pub evidence: Vec<EvidenceRow>,
    pub hypotheses: Vec<HypothesisRow>,
    /// Changes made to production during the response, newest first.
    pub changes: Vec<ResponseChangeRow>,
    pub findings: usize,
    /// The kinds a piece of evidence may be, for the form.
    pub kinds: &'static [EvidenceKind],
}

pub(super) struct EvidenceRow {
    pub id: i64,
    pub kind: String,
    pub summary: String,
    pub excerpt: Option<String>,
    pub source_url: Option<String>,
    pub observed: Option<String>,
    pub author: String,
    pub pinned: bool,
    pub attachments: Vec<AttachmentRow>,
}

pub(super) struct AttachmentRow {
    pub id: i64,
    pub name: String,
    pub size: String,
    pub image: bool,
    pub url: String,
}

impl AttachmentRow {
    fn new(a: AttachmentRecord) -> Self {
        Self {
            url: format!(
                "/incidents/{}/evidence/{}/attachments/{}",
                a.incident_id, a.evidence_id, a.id
            ),
            id: a.id,
            name: a.name,
            size: readable_size(a.size),
            image: a.content_type.is_image(),
        }
    }
}

pub(super) struct HypothesisRow {
    pub id: i64,
    pub statement: String,
    pub state: String,
    pub owner: Option<String>,
    pub finding: bool,
    pub evidence_for: Vec<String>,
    pub evidence_against: Vec<String>,
    /// (what was tried, what came of it, who, when)
    pub tests: Vec<(String, String, String, String)>,
    /// The states it may move to from here, as (value, button label).
    pub moves: Vec<(&'static str, &'static str)>,
}

impl Board {
    pub(super) fn new(investigation: Investigation, times: &Times) -> Self {
        let Investigation {
            evidence,
            hypotheses,
            changes,
        } = investigation;
        let summary_of = |id: &i64| {
            evidence
                .iter()
                .find(|e| e.id == *id)
                .map_or_else(|| format!("evidence {id}"), |e| e.summary.clone())
        };
        let hypotheses: Vec<HypothesisRow> = hypotheses
            .into_iter()
            .map(|h| HypothesisRow::new(h, &summary_of, times))
            .collect();
        Self {
            findings: hypotheses.iter().filter(|h| h.finding).count(),
            hypotheses,
            changes: changes
                .into_iter()
                .map(|c| ResponseChangeRow::new(c, times))
                .collect(),
            evidence: evidence
                .into_iter()
                .map(|e| EvidenceRow::new(e, times))
                .collect(),
            kinds: EvidenceKind::ALL,
        }
    }
}

impl EvidenceRow {
    fn new(e: EvidenceRecord, times: &Times) -> Self {
        Self {
            id: e.id,
            kind: e.kind.to_string(),
            summary: e.summary,
            excerpt: e.excerpt,
            source_url: e.source_url,
            observed: e.observed_at.map(|t| times.at(t)),
            author: e.author.unwrap_or_else(|| "aplomb".into()),
            pinned: e.pinned,
            attachments: e.attachments.into_iter().map(AttachmentRow::new).collect(),
        }
    }
}

impl HypothesisRow {
    fn new(h: HypothesisRecord, summary_of: &impl Fn(&i64) -> String, times: &Times) -> Self {
        let label = |to: HypothesisState| match to {
            HypothesisState::Testing => "Start testing",
            HypothesisState::Supported => "Supported: a finding",
            HypothesisState::Refuted => "Refuted",
            HypothesisState::Open => "Reopen",
        };
        let moves = h
            .state
            .moves(h.tested_since_judged())
            .into_iter()
            .map(|to| (to.as_str(), label(to)))
            .collect();
        Self {
            id: h.id,
            statement: h.statement,
            state: h.state.to_string(),
            finding: h.state.is_finding(),
            owner: h.owner,
            evidence_for: h.evidence_for.iter().map(summary_of).collect(),
            evidence_against: h.evidence_against.iter().map(summary_of).collect(),
            tests: h
                .tests
                .into_iter()
                .map(|t| {
                    let who = t.author.unwrap_or_else(|| "aplomb".into());
                    (t.description, t.result, who, times.at(t.at))
                })
                .collect(),
            moves,
        }
    }
}

#[derive(Deserialize)]
struct EvidenceForm {
    kind: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    excerpt: String,
    #[serde(default)]
    source_url: String,
    /// A checkbox: present when ticked.
    pinned: Option<String>,
    /// Set by a recent change's "Add as evidence" button. Text: a flattened form holds no
    /// numbers.
    change_id: Option<String>,
}

async fn add_evidence(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<EvidenceForm>,
) -> Response {
    let change_id = match form.change_id.as_deref().map(str::parse::<i64>).transpose() {
        Ok(id) => id,
        Err(_) => {
            let problem = FieldError::new("change_id", "must be a change event's id");
            return done_to(id, Err(problem.into()));
        }
    };
    let fields = EvidenceFields {
        kind: form.kind,
        change_id,
        summary: Some(form.summary),
        excerpt: Some(form.excerpt),
        source_url: Some(form.source_url),
        pinned: form.pinned.is_some(),
        ..EvidenceFields::default()
    };
    let added = state.add_evidence(&session.actor, id, fields).await;
    done_to(id, added.map(|_| Done::Evidence))
}

#[derive(Deserialize)]
struct PinForm {
    /// `1` to pin, `0` to unpin.
    pinned: String,
}

async fn pin_evidence(
    State(state): State<AppState>,
    Path((id, eid)): Path<(i64, i64)>,
    Posted { session, form }: Posted<PinForm>,
) -> Response {
    let edit = EvidenceEdit {
        pinned: Some(form.pinned == "1"),
        ..EvidenceEdit::default()
    };
    let pinned = state.edit_evidence(&session.actor, id, eid, edit).await;
    done_to(id, pinned.map(|e| Done::Pinned(e.pinned)))
}

/// The upload form: its CSRF token and one file. The file's type is what the browser says,
/// or else what its name suggests (browsers send `application/octet-stream` for a `.log`).
async fn attach(
    State(state): State<AppState>,
    Path((id, eid)): Path<(i64, i64)>,
    session: Session,
    mut form: Multipart,
) -> Response {
    let mut csrf = None;
    let mut file = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return too_big_or_bad(id, e),
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_string();
                let declared = field
                    .content_type()
                    .and_then(AttachmentType::from_media_type);
                let content = match field.bytes().await {
                    Ok(content) => content,
                    Err(e) => return too_big_or_bad(id, e),
                };
                file = Some((name, declared, content));
            }
            _ => {}
        }
    }
    if let Err(mismatch) = session.check(csrf.as_deref().unwrap_or_default()) {
        return mismatch.into_response();
    }
    let Some((name, declared, content)) = file else {
        return done_to(id, Err(FieldError::new("file", "choose a file").into()));
    };
    let Some(content_type) = declared.or_else(|| AttachmentType::from_file_name(&name)) else {
        let problem = FieldError::new(
            "file",
            "must be an image (PNG, JPEG, GIF, WebP) or a text, log, CSV or JSON file",
        );
        return done_to(id, Err(problem.into()));
    };
    let attached = state
        .attach(
            &session.actor,
            id,
            eid,
            &name,
            content_type,
            content.to_vec(),
        )
        .await;
    done_to(id, attached.map(|_| Done::Attached))
}

fn too_big_or_bad(id: i64, e: axum::extract::multipart::MultipartError) -> Response {
    let message = if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        size_limit()
    } else {
        "could not be read from the form".to_string()
    };
    done_to(id, Err(FieldError::new("file", message).into()))
}

/// An attachment's content, for someone signed in who may see the incident.
async fn attachment(
    State(state): State<AppState>,
    Path((id, eid, aid)): Path<(i64, i64, i64)>,
    session: Session,
) -> Response {
    match state.attachment(&session.actor, id, eid, aid).await {
        Ok((a, content)) => serve_attachment(&a, content),
        Err(e) => fail(e, &format!("/incidents/{id}")),
    }
}

#[derive(Deserialize)]
struct HypothesisForm {
    statement: String,
}

async fn add_hypothesis(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, form }: Posted<HypothesisForm>,
) -> Response {
    let fields = HypothesisFields {
        statement: form.statement,
        ..HypothesisFields::default()
    };
    let added = state.add_hypothesis(&session.actor, id, fields).await;
    done_to(id, added.map(|_| Done::Hypothesis))
}

#[derive(Deserialize)]
struct TestForm {
    description: String,
    result: String,
}

async fn test_hypothesis(
    State(state): State<AppState>,
    Path((id, hid)): Path<(i64, i64)>,
    Posted { session, form }: Posted<TestForm>,
) -> Response {
    let test = TestFields {
        description: form.description,
        result: form.result,
    };
    let tested = state.test_hypothesis(&session.actor, id, hid, test).await;
    done_to(id, tested.map(|_| Done::Tested))
}

#[derive(Deserialize)]
struct StateForm {
    state: String,
}

async fn judge_hypothesis(
    State(state): State<AppState>,
    Path((id, hid)): Path<(i64, i64)>,
    Posted { session, form }: Posted<StateForm>,
) -> Response {
    let edit = HypothesisEdit {
        state: Some(form.state),
        ..HypothesisEdit::default()
    };
    let judged = state.edit_hypothesis(&session.actor, id, hid, edit).await;
    done_to(id, judged.map(|h| Done::Judged(h.state)))
}
