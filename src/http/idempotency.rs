//! Honours `Idempotency-Key` on every POST of the API (see `app::requests`): a retry with the
//! same key and the same request gets the first answer again, marked `Idempotent-Replayed`; the
//! same key on a different request is refused (422). Only successful answers are kept: a
//! request that failed had no effect, and its retry runs again.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiActor, body_limit, idempotency_key, too_large};
use crate::app::hex;

/// Declarations store their key with the incident, in one transaction (`store::incidents`).
const OWN_KEY_PATHS: &[&str] = &["/api/v1/incidents"];

pub async fn replay_or_run(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if request.method() != Method::POST
        || !path.starts_with("/api/v1/")
        || OWN_KEY_PATHS.contains(&path)
    {
        return next.run(request).await;
    }
    let key = match idempotency_key(request.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(request).await,
        Err(e) => return e.into_response(),
    };
    let (mut parts, body) = request.into_parts();
    // Without a valid token the handler answers 401 itself.
    let Ok(ApiActor(actor)) = ApiActor::from_request_parts(&mut parts, &state).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let limit = body_limit(parts.uri.path());
    let Ok(bytes) = to_bytes(body, limit).await else {
        return too_large(limit).into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let fingerprint = hex(&hasher.finalize());

    match state.claim_request(&actor, &key, &fingerprint).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Some((status, body))) => replayed(status, body),
        Ok(None) => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            if !response.status().is_success() {
                if let Err(e) = state.release_request(&actor, &key).await {
                    tracing::warn!(error = %e, "could not free an idempotency key");
                }
                return response;
            }
            let (head, body) = response.into_parts();
            let Ok(body) = to_bytes(body, usize::MAX).await else {
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the answer could not be read",
                )
                .into_response();
            };
            let text = String::from_utf8_lossy(&body);
            // The effect is committed: the client hears of it even if keeping the answer
            // fails (a retry then finds the claim unanswered: 409 for a minute, then it runs).
            if let Err(e) = state
                .answer_request(&actor, &key, head.status.as_u16(), &text)
                .await
            {
                tracing::warn!(error = %e, "could not keep an answer for its Idempotency-Key");
            }
            Response::from_parts(head, Body::from(body))
        }
    }
}

/// The first answer to a request, sent again.
fn replayed(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
