//! Communicating during an incident: the tone check of a draft update.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::app::ToneCheckFields;
use crate::domain::tone::Finding;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson};

pub fn router() -> Router<AppState> {
    Router::new().route("/tone-check", post(tone_check))
}

#[derive(OpenApi)]
#[openapi(paths(tone_check))]
pub struct CommunicationDoc;

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
    /// `shouting`, `stacked_punctuation`, `panic_word`, `blame`, `speculation`,
    /// `fix_time_promise`, `internal_detail`, `missing_impact`, `missing_action` or
    /// `missing_next_update`.
    #[schema(example = "fix_time_promise")]
    pub rule: String,
    #[schema(example = "a fix time is a promise the team may not keep")]
    pub reason: String,
    #[schema(
        example = "Promise the next update instead of a fix time: \"next update by 14:30 UTC\"."
    )]
    pub suggestion: String,
}

impl From<Finding> for FindingBody {
    fn from(f: Finding) -> Self {
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
