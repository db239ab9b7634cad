//! Inbound code-forge webhooks (CONTRACTS §10): `POST /integrations/forge/{routing_key}` takes
//! GitHub's and GitLab's push and merge events, or aplomb's own signed shape, and records the
//! changes they report on the incidents they name. The forge is told which it recorded.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use utoipa::OpenApi;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::app::{ForgeDelivery, ForgeOutcome};
use crate::domain::forge::{ForgeEvent, ForgeProof, signature_id};

/// GitHub sends payloads of up to 25 MB, but a push's commits are listed only up to 2,048 and a
/// merge event is small: a few megabytes is room enough.
pub const MAX_FORGE_BODY: usize = 5 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/integrations/forge/{routing_key}", post(take_webhook))
        .layer(DefaultBodyLimit::max(MAX_FORGE_BODY))
}

#[derive(OpenApi)]
#[openapi(paths(take_webhook))]
pub struct ForgeDoc;

/// Records the response changes a code forge reports (CONTRACTS §10). Which forge sent it is read
/// from its headers: GitHub's `X-GitHub-Event` (`push`, `pull_request`; others record nothing)
/// with `X-Hub-Signature-256` and `X-GitHub-Delivery`, GitLab's `X-Gitlab-Event` (`Push Hook`,
/// `Merge Request Hook`) with `X-Gitlab-Token` and `X-Gitlab-Event-UUID`; with neither, aplomb's
/// own shape signed with `Aplomb-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
/// (at most five minutes old). A commit message, a merged request's title or description, or
/// one of its labels names an incident as `incident: 42` or `Incident-42`. Each change is
/// recorded once per incident and reference; a delivery id seen before records nothing.
#[utoipa::path(post, path = "/integrations/forge/{routing_key}", tag = "forge", security(()),
    params(("routing_key" = String, Path, description = "a forge integration's routing key")),
    request_body(content = Object, description = "GitHub's `push` or `pull_request` payload, GitLab's push or merge request payload, or `{\"incident_id\", \"system\", \"description\", \"reference\", \"rollback\"}`"),
    responses((status = 202, body = ForgeOutcome, description = "what was recorded"),
        (status = 401, body = ErrorBody, description = "the signature or token does not prove the integration's secret (`bad_signature`)"),
        (status = 404, body = ErrorBody, description = "the key is not a live forge integration's"),
        (status = 413, body = ErrorBody, description = "the body is larger than 5 MB"),
        (status = 422, body = ErrorBody, description = "not JSON (`body`), or a field the event must have is missing")))]
async fn take_webhook(
    State(app): State<AppState>,
    Path(routing_key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let status = e.status();
            return ApiError::new(status, "invalid_body", e.body_text()).into_response();
        }
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let own_id = header("aplomb-signature").and_then(signature_id);
    // The headers say which forge sent it; without either forge's, it is aplomb's own shape.
    let (event, proof, delivery) = if let Some(event) = header("x-github-event") {
        (
            ForgeEvent::github(event),
            ForgeProof::GitHub(header("x-hub-signature-256")),
            header("x-github-delivery"),
        )
    } else if let Some(event) = header("x-gitlab-event") {
        (
            ForgeEvent::gitlab(event),
            ForgeProof::GitLab(header("x-gitlab-token")),
            header("x-gitlab-event-uuid"),
        )
    } else {
        (
            ForgeEvent::Generic,
            ForgeProof::Signed(header("aplomb-signature")),
            // No delivery id in aplomb's own shape: its signature, unique to its time and
            // body, serves as one, so a replay within the signature's five minutes records
            // nothing.
            own_id.as_deref(),
        )
    };
    let taken = app
        .take_forge_webhook(ForgeDelivery {
            routing_key: &routing_key,
            event,
            proof,
            delivery,
            body: &body,
        })
        .await;
    match taken {
        Ok(outcome) => (StatusCode::ACCEPTED, Json(outcome)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
