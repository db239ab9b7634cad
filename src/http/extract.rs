//! Request extractors: strict JSON bodies, bearer-token callers and idempotency keys.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::app::{AppError, hex};
use crate::domain::access::Actor;
use crate::store::IdempotencyKey;

/// Largest JSON body the API accepts.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// Largest body a request to `path` may carry: an attachment's upload takes a file, every
/// other request JSON.
pub fn body_limit(path: &str) -> usize {
    if path.ends_with("/attachments") {
        crate::domain::attachment::MAX_ATTACHMENT_BYTES
    } else {
        MAX_JSON_BODY
    }
}

/// A JSON body parsed strictly (unknown fields rejected), with errors that name the field.
/// Keeps the raw bytes so an idempotency key can fingerprint the request.
pub struct ApiJson<T> {
    pub value: T,
    pub digest: BodyDigest,
}

/// SHA-256 of a request body, hex encoded.
#[derive(Debug, Clone)]
pub struct BodyDigest(pub String);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY)
            .await
            .map_err(|_| too_large(MAX_JSON_BODY))?;
        let value = parse_json(&bytes)?;
        Ok(Self {
            value,
            digest: BodyDigest(hex(&Sha256::digest(&bytes))),
        })
    }
}

/// The one answer to a body over its route's limit.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {limit} bytes"),
    )
}

/// Parses JSON into `T`, mapping serde's errors to the API's shape: malformed JSON is a 400,
/// well-formed JSON with a bad field is a 422 naming the field. A number with no fraction
/// (`98.0`) is an integer, as JSON Schema (and so the OpenAPI document) counts it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("malformed JSON: {e}"),
        )
    })?;
    // serde would fill a struct from an array by position: every body is an object.
    if !value.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    integral_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = faulty_field(&path, &message);
        let message = match message.rfind(" at line ") {
            Some(cut) => message[..cut].to_string(),
            None => message,
        };
        ApiError::invalid(field, message)
    })
}

/// Turns every float with no fractional part that fits an `i64` into that integer, so an
/// integer field takes it (a float field takes an integer as well).
fn integral_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && (i64::MIN as f64..i64::MAX as f64).contains(&f)
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// The field a deserializing error is about, as a path (`levels.0.targets`). serde names an
/// unknown or missing field only in its message ("missing field `x`"), and serde_path_to_error
/// ends the path with an unknown field but not with a missing one.
fn faulty_field(path: &str, message: &str) -> String {
    let named = message
        .split('`')
        .nth(1)
        .filter(|_| message.contains(" field `"));
    match (named, path) {
        (Some(name), "." | "") => name.to_string(),
        (Some(name), p) if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, p) => p.to_string(),
    }
}

/// A path parameter; a malformed one (e.g. a non-numeric id) gets the API's error shape.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text())
    }
}

/// A query string; a malformed parameter gets a 422 naming it.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let message = e.inner().to_string();
                let field = match faulty_field(&e.path().to_string(), &message) {
                    p if p == "." || p.is_empty() => "query".to_string(),
                    p => p,
                };
                ApiError::invalid(field, message)
            })
    }
}

/// The caller of an API endpoint, identified by `Authorization: Bearer <token>`.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthenticated)?;
        let actor = state.actor_for_token(token).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the API token is not valid",
            )
        })?;
        Ok(Self(actor))
    }
}

/// Who reads a calendar feed: an API caller (bearer token), or a calendar app holding the
/// feed's key from its link (`?key=`), which the handler checks against the feed it serves.
pub enum FeedCaller {
    Actor(Actor),
    Key(String),
}

#[derive(serde::Deserialize)]
struct FeedKey {
    key: Option<String>,
}

impl FromRequestParts<AppState> for FeedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let ApiActor(actor) = ApiActor::from_request_parts(parts, state).await?;
            return Ok(Self::Actor(actor));
        }
        let ApiQuery(query) = ApiQuery::<FeedKey>::from_request_parts(parts, state).await?;
        query.key.map(Self::Key).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send an API token as 'Authorization: Bearer <token>', or the feed's key as ?key= (its calendar-link gives it)",
            )
        })
    }
}

/// The optional `Idempotency-Key` header.
pub struct IdempotencyHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(idempotency_key(&parts.headers)?))
    }
}

/// The request's `Idempotency-Key`, if it has one.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        })?;
    Ok(Some(key.to_string()))
}

impl IdempotencyHeader {
    pub fn with_body(self, body: &BodyDigest) -> Option<IdempotencyKey> {
        self.0.map(|key| IdempotencyKey {
            key,
            fingerprint: body.0.clone(),
        })
    }
}

/// The client's IP address, for counting failed sign-ins per address: the TCP peer (behind a
/// reverse proxy, that is the proxy). `None` when the router is served without connection
/// info, as in tests that call it directly.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Declare {
        title: String,
        severity: String,
        private: Option<bool>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Declare>(br#"{"title":"x"}"#).unwrap_err();
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("severity"))
        );
        let e =
            parse_json::<Declare>(br#"{"title":"x","severity":"SEV1","colour":1}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("colour"));
        let e = parse_json::<Declare>(br#"{"title":"x","severity":"SEV1","private":"yes"}"#)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("private"));
        let e = parse_json::<Declare>(br#"["x", "SEV1", null]"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body"));
        let e = parse_json::<Declare>(br#"{"title": "#).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
    }

    #[test]
    fn a_number_without_a_fraction_is_an_integer() {
        #[derive(Debug, serde::Deserialize, PartialEq)]
        struct Snooze {
            minutes: i64,
            ids: Vec<i64>,
            weight: f64,
        }
        let ok = parse_json::<Snooze>(br#"{"minutes": 98.0, "ids": [-3.0, 4], "weight": 2}"#);
        assert_eq!(
            ok.unwrap(),
            Snooze {
                minutes: 98,
                ids: vec![-3, 4],
                weight: 2.0
            }
        );
        let e = parse_json::<Snooze>(br#"{"minutes": 98.5, "ids": [], "weight": 1}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("minutes"));
        let e = parse_json::<Snooze>(br#"{"minutes": 1e300, "ids": [], "weight": 1}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("minutes"));
    }
}
