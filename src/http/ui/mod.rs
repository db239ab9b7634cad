//! The web UI: server-rendered pages (askama templates compiled into the binary), cookie
//! sessions with a CSRF token in every form, and a little JavaScript for live updates only.
//! Every action is a plain form POST followed by a redirect, so it works without JavaScript.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use jiff::Timestamp;
use serde::Deserialize;

use crate::app::AppError;
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::http::{AppState, percent_encode};

const SESSION_COOKIE: &str = "aplomb_session";

pub mod accounts;
pub mod action_items;
pub mod alerts;
pub mod communication;
pub mod coordination;
pub mod drills;
pub mod incidents;
pub mod investigation;
pub mod metrics;
pub mod oncall;
pub mod playbooks;
pub mod reports;
pub mod review;
pub mod status;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/incidents") }))
        .merge(incidents::router())
        .merge(investigation::router())
        .merge(communication::router())
        .merge(coordination::router())
        .merge(accounts::router())
        .merge(oncall::router())
        .merge(alerts::router())
        .merge(reports::router())
        .merge(review::router())
        .merge(action_items::router())
        .merge(metrics::router())
        .merge(playbooks::router())
        .merge(drills::router())
        .merge(status::router())
        .route(
            "/static/app.css",
            get(|| async { asset("text/css", include_str!("../../../static/app.css")) }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript", include_str!("../../../static/app.js")) }),
        )
        .route(
            "/static/status.js",
            get(|| async { asset("text/javascript", include_str!("../../../static/status.js")) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

// ----- sessions -----

/// The signed-in user of a page request. Without a valid session cookie the browser is sent
/// to the login page (or to first-run setup on an empty database).
pub struct Session {
    pub actor: Actor,
    pub csrf: String,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(token) = session_cookie(&parts.headers)
            && let Ok(Some((actor, csrf))) = state.session(&token).await
        {
            return Ok(Self { actor, csrf });
        }
        if state.needs_setup().await.unwrap_or(false) {
            return Err(Redirect::to("/setup").into_response());
        }
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        Err(Redirect::to(&format!("/login?next={}", percent_encode(next))).into_response())
    }
}

impl Session {
    /// Refuses a form whose CSRF token is not this session's.
    fn check(&self, form_token: &str) -> Result<(), CsrfMismatch> {
        if crate::secret::constant_time_eq(form_token.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(CsrfMismatch)
        }
    }
}

/// A form posted by a signed-in user, with its CSRF token already checked.
pub struct Posted<T> {
    pub session: Session,
    pub form: T,
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    /// A form without one is refused as forged (403), not as malformed.
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

impl<T: serde::de::DeserializeOwned + Send> axum::extract::FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let request = axum::extract::Request::from_parts(parts, body);
        let Form(posted) = Form::<WithCsrf<T>>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        session
            .check(&posted.csrf)
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            session,
            form: posted.form,
        })
    }
}

/// A form posted without this session's CSRF token (forged, or from a stale page).
pub struct CsrfMismatch;

impl IntoResponse for CsrfMismatch {
    fn into_response(self) -> Response {
        (
            StatusCode::FORBIDDEN,
            "The form expired; reload the page and try again.",
        )
            .into_response()
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE)
}

/// The value of the cookie `wanted` the request carries, if any.
fn cookie_value(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_string())
}

/// Only local paths are followed after login, so `next` cannot send a user elsewhere.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") => n,
        _ => "/incidents",
    }
}

pub(super) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Shows an application error on a page: as a message back on `back`, or as a plain page
/// whose status says what happened (a refusal is a 403, not a redirect that reads as done).
pub(super) fn fail(e: AppError, back: &str) -> Response {
    match e {
        AppError::Forbidden(why) => (
            StatusCode::FORBIDDEN,
            Html(format!(
                "<p>Not allowed: {}. <a href=\"{}\">Back</a></p>",
                crate::markup::escape(&why),
                crate::markup::escape(back)
            )),
        )
            .into_response(),
        AppError::NotFound(what) => (
            StatusCode::NOT_FOUND,
            Html(format!(
                "<p>{what} not found. <a href=\"/incidents\">Incidents</a></p>"
            )),
        )
            .into_response(),
        AppError::Internal(e) => {
            tracing::error!(error = format!("{e:#}"), "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the server log has details",
            )
                .into_response()
        }
        AppError::Unavailable(detail) => {
            tracing::warn!(%detail, "database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; try again in a moment",
            )
                .into_response()
        }
        other => Redirect::to(&format!(
            "{back}?error={}",
            percent_encode(&other.to_string())
        ))
        .into_response(),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(super) struct NoFields {}

/// `?error=` on a page a failed action redirected back to (`fail`).
#[derive(Deserialize)]
struct ErrorQuery {
    error: Option<String>,
}

/// How a responder reads times: absolute, to the second, in the time zone of their profile
/// (UTC without one), with the zone said; how long ago is a hint beside it, never instead.
pub(super) struct Times {
    zone: jiff::tz::TimeZone,
    /// The profile's zone name; `None` when times are in UTC for want of one.
    profile: Option<String>,
    now: Timestamp,
}

/// Names typed into one comma-separated field, each trimmed, empty ones left out.
pub(super) fn comma_separated(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A webhook's new signing secret, shown in the answer itself, once: a redirect would have to
/// carry it in a URL or keep it somewhere to show later.
#[derive(Template)]
#[template(path = "secret.html")]
pub(super) struct SecretPage {
    pub me: Actor,
    pub csrf: String,
    /// "webhook https://…"
    pub receiver: String,
    pub secret: String,
    /// Whether it replaces a secret (which then no longer signs).
    pub replaced: bool,
    /// Where to go next: (href, link text).
    pub back: (&'static str, &'static str),
}

/// A moment shown to a responder: absolute, with a relative hint that app.js keeps current.
pub(super) struct When {
    pub at: String,
    pub ago: String,
    pub ms: i64,
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
}

/// A time typed in a `datetime-local` field (`2026-12-05T14:30`), read in `zone`, as the
/// RFC 3339 instant the API takes.
pub(super) fn instant_typed(
    zone: &jiff::tz::TimeZone,
    field: &'static str,
    raw: &str,
) -> Result<String, FieldError> {
    let civil: jiff::civil::DateTime = raw
        .trim()
        .parse()
        .map_err(|_| FieldError::new(field, "must be a date and time, e.g. 2026-12-05T14:30"))?;
    let zoned = civil
        .to_zoned(zone.clone())
        .map_err(|_| FieldError::new(field, "is not a time in that time zone"))?;
    Ok(zoned.timestamp().to_string())
}

impl Times {
    /// A time typed in a `datetime-local` field, read in the viewer's zone.
    pub(super) fn instant_typed(
        &self,
        field: &'static str,
        raw: &str,
    ) -> Result<String, FieldError> {
        instant_typed(&self.zone, field, raw)
    }

    pub(super) async fn for_actor(state: &AppState, actor: &Actor) -> Result<Self, AppError> {
        let profile = state.store.profile(actor.id).await?.map(|(zone, _)| zone);
        // A zone the database knows but this system does not (an old tzdata) falls back to
        // UTC, and the page says so rather than failing.
        let named = profile
            .as_deref()
            .and_then(|name| jiff::tz::TimeZone::get(name).ok().map(|z| (name, z)));
        Ok(match named {
            Some((name, zone)) => Self {
                zone,
                profile: Some(name.to_string()),
                now: state.now(),
            },
            None => Self {
                zone: jiff::tz::TimeZone::UTC,
                profile: None,
                now: state.now(),
            },
        })
    }

    /// `2026-03-02 10:04:12 UTC`, or `2026-03-02 10:04:12 WET` in the profile's zone.
    pub(super) fn at(&self, t: Timestamp) -> String {
        t.to_zoned(self.zone.clone())
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }

    pub(super) fn when(&self, t: Timestamp) -> When {
        When {
            at: self.at(t),
            ago: ago(self.now.as_millisecond() - t.as_millisecond()),
            ms: t.as_millisecond(),
            iso: t.to_string(),
        }
    }

    /// The moment the page is rendered.
    pub(super) fn now(&self) -> Timestamp {
        self.now
    }

    pub(super) fn zone_note(&self) -> String {
        match &self.profile {
            Some(name) => format!("Times are in {name} (your profile's time zone)."),
            None => "Times are in UTC (set a time zone in your profile on the Responders page)."
                .to_string(),
        }
    }
}

/// How long ago, as app.js also says it: `just now`, `12 min ago`, `3 h 5 min ago`, `4 days ago`.
fn ago(ms: i64) -> String {
    let m = ms.max(0) / 60_000;
    match m {
        0 => "just now".into(),
        1..60 => format!("{m} min ago"),
        60..2880 => format!("{} h {} min ago", m / 60, m % 60),
        _ => format!("{} days ago", m / 1440),
    }
}
