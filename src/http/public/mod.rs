//! The public status page, with no sign-in: the page and each incident's history page
//! (`page`), Statuspage's public JSON API v2 (`statuspage`), Atom feeds (`feed`) and SVG
//! badges (`page`), of the page and of each component, and subscribing to it (`subscribe`).
//!
//! Everything readers see is rendered once per change into a `Rendered`, which requests only
//! clone: in a traffic spike no reader touches the database, and while the database is down
//! the page still shows what it last knew. A worker rebuilds it when any instance announces
//! a change (an update published, a component edited), gathering a burst for a moment first,
//! and every minute besides so the day's uptime bar moves on.

mod feed;
mod page;
mod statuspage;
mod subscribe;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::app::{Aplomb, StatusSnapshot};
use crate::domain::status::ComponentStatus;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiPath;

/// How long a burst of changes is gathered before the page is rebuilt: a published update
/// shows well within a second, and a storm of changes costs a few rebuilds a second.
const GATHER: Duration = Duration::from_millis(100);
/// Rebuilt this often with no change, so the uptime bars and "updated" times move on.
const REFRESH: Duration = Duration::from_secs(60);
/// After a failed build (the database unreachable), the next try.
const RETRY: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(subscribe::router())
        .route("/status", get(status_page))
        .route("/status/incidents/{id}", get(incident_page))
        .route("/status/feed.atom", get(feed))
        .route("/status/badge.svg", get(badge))
        .route("/status/components/{id}/badge.svg", get(component_badge))
        .route("/status/components/{id}/feed.atom", get(component_feed))
        .route("/status/api/v2/summary.json", get(summary))
        .route("/status/api/v2/status.json", get(status))
        .route("/status/api/v2/components.json", get(components))
        .route("/status/api/v2/incidents.json", get(incidents))
        .route("/status/api/v2/incidents/unresolved.json", get(unresolved))
        .route(
            "/status/api/v2/scheduled-maintenances.json",
            get(maintenances),
        )
        .route(
            "/status/api/v2/scheduled-maintenances/upcoming.json",
            get(upcoming),
        )
        .route(
            "/status/api/v2/scheduled-maintenances/active.json",
            get(active),
        )
}

/// What the API document says of the status page: everything a reader or a Statuspage
/// client fetches (the sign-up form's targets are the page's own, like the web UI's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    status_page,
    incident_page,
    feed,
    badge,
    component_badge,
    component_feed,
    summary,
    status,
    components,
    incidents,
    unresolved,
    maintenances,
    upcoming,
    active
))]
pub struct StatusPageDoc;

/// A reader's copy, to revalidate: answered 304 when it is still the latest.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // read from the headers by `Asset::respond`; named here for the document
struct Revalidation {
    /// An `ETag` this page sent.
    #[param(rename = "If-None-Match")]
    if_none_match: Option<String>,
    /// A `Last-Modified` this page sent.
    #[param(rename = "If-Modified-Since")]
    if_modified_since: Option<String>,
}

/// One document of the latest rendering, by name: its handler and its place in the API
/// document, which `Asset::respond` answers alike (200 with validators, or 304).
macro_rules! asset {
    ($(#[doc = $doc:tt])* $name:ident, $path:tt, $content_type:tt, $body:ty, $field:ident) => {
        $(#[doc = $doc])*
        #[utoipa::path(get, path = $path, tag = "status page", security(()), params(Revalidation),
            responses((status = 200, content_type = $content_type, body = $body,
                headers(("ETag" = String), ("Last-Modified" = String), ("Cache-Control" = String))),
                (status = 304, description = "the reader's copy is the latest")))]
        async fn $name(State(state): State<AppState>, request: HeaderMap) -> Response {
            serve(&state, &request, |r| Some(&r.$field)).await
        }
    };
}

/// One component's document of the latest rendering; 404 for no such component.
macro_rules! component_asset {
    ($(#[doc = $doc:tt])* $name:ident, $path:tt, $content_type:tt, $field:ident) => {
        $(#[doc = $doc])*
        #[utoipa::path(get, path = $path, tag = "status page", security(()),
            params(("id" = i64, Path, description = "the component"), Revalidation),
            responses((status = 200, content_type = $content_type, body = String,
                headers(("ETag" = String), ("Last-Modified" = String), ("Cache-Control" = String))),
                (status = 304, description = "the reader's copy is the latest"),
                (status = 400, body = ErrorBody, description = "the id is not a number"),
                (status = 404, body = ErrorBody, description = "no such component")))]
        async fn $name(
            State(state): State<AppState>,
            ApiPath(id): ApiPath<i64>,
            request: HeaderMap,
        ) -> Response {
            serve(&state, &request, |r| r.$field.get(&id)).await
        }
    };
}

asset!(
    /// The public status page (HTML).
    status_page, "/status", "text/html", String, page
);
asset!(
    /// The page's Atom feed: every public update.
    feed, "/status/feed.atom", "application/atom+xml", String, feed
);
asset!(
    /// The page's overall status as an SVG badge.
    badge, "/status/badge.svg", "image/svg+xml", String, badge
);
component_asset!(
    /// A component's status as an SVG badge.
    component_badge, "/status/components/{id}/badge.svg", "image/svg+xml", component_badges
);
component_asset!(
    /// The Atom feed of the public updates naming a component (or none).
    component_feed, "/status/components/{id}/feed.atom", "application/atom+xml", component_feeds
);
asset!(
    /// Statuspage's summary: the page's status, components, unresolved incidents and
    /// announced maintenances.
    summary, "/status/api/v2/summary.json", "application/json", statuspage::Summary, summary
);
asset!(
    /// Statuspage's status: the overall indicator.
    status, "/status/api/v2/status.json", "application/json", statuspage::StatusDocument, status
);
asset!(
    /// Statuspage's components, groups included.
    components, "/status/api/v2/components.json", "application/json",
    statuspage::ComponentsDocument, components
);
asset!(
    /// Statuspage's incidents: the 50 most recent with their public updates.
    incidents, "/status/api/v2/incidents.json", "application/json",
    statuspage::IncidentsDocument, incidents
);
asset!(
    /// Statuspage's unresolved incidents.
    unresolved, "/status/api/v2/incidents/unresolved.json", "application/json",
    statuspage::IncidentsDocument, unresolved
);
asset!(
    /// Statuspage's scheduled maintenances: the 50 most recent.
    maintenances, "/status/api/v2/scheduled-maintenances.json", "application/json",
    statuspage::MaintenancesDocument, maintenances
);
asset!(
    /// Statuspage's maintenances announced and not begun.
    upcoming, "/status/api/v2/scheduled-maintenances/upcoming.json", "application/json",
    statuspage::MaintenancesDocument, upcoming
);
asset!(
    /// Statuspage's maintenances under way.
    active, "/status/api/v2/scheduled-maintenances/active.json", "application/json",
    statuspage::MaintenancesDocument, active
);

/// One representation, ready to send: its bytes and their validator.
struct Asset {
    body: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        let body = body.into();
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", crate::secret::hex(&digest[..12]));
        Self {
            content_type,
            etag: HeaderValue::from_str(&etag).expect("hex is a valid header value"),
            body,
        }
    }

    fn json(value: &impl serde::Serialize) -> Self {
        Self::new(
            "application/json",
            serde_json::to_vec(value).expect("JSON values serialize"),
        )
    }

    /// The asset, or 304 when the reader already holds it. Readers revalidate every time
    /// (`no-cache`): a cached copy is never stale, and revalidating costs a header.
    fn respond(&self, request: &HeaderMap, last_modified: &HeaderValue) -> Response {
        let held = match request.get(header::IF_NONE_MATCH) {
            Some(tags) => tags.to_str().is_ok_and(|tags| {
                tags.split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == self.etag || t.trim() == "*")
            }),
            None => request.get(header::IF_MODIFIED_SINCE) == Some(last_modified),
        };
        let headers = [
            (header::ETAG, self.etag.clone()),
            (header::LAST_MODIFIED, last_modified.clone()),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, no-cache"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ];
        if held {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        (
            headers,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            )],
            self.body.clone(),
        )
            .into_response()
    }
}

/// Everything the status page serves, rendered from one snapshot.
pub struct Rendered {
    snapshot: StatusSnapshot,
    last_modified: HeaderValue,
    page: Asset,
    feed: Asset,
    badge: Asset,
    component_badges: HashMap<i64, Asset>,
    component_feeds: HashMap<i64, Asset>,
    summary: Asset,
    status: Asset,
    components: Asset,
    incidents: Asset,
    unresolved: Asset,
    maintenances: Asset,
    upcoming: Asset,
    active: Asset,
}

impl Rendered {
    fn new(snapshot: StatusSnapshot) -> Self {
        let json = statuspage::Documents::new(&snapshot);
        Self {
            last_modified: http_date(snapshot.updated_at),
            page: Asset::new("text/html; charset=utf-8", page::status_page(&snapshot)),
            feed: Asset::new("application/atom+xml", feed::atom(&snapshot, None)),
            badge: Asset::new(
                "image/svg+xml",
                page::badge(
                    &snapshot.brand.name,
                    snapshot.indicator.description(),
                    page::indicator_colour(snapshot.indicator),
                ),
            ),
            component_badges: snapshot
                .components
                .iter()
                .map(|c| {
                    let svg = page::badge(
                        &c.record.name,
                        c.status.label(),
                        page::status_colour(c.status),
                    );
                    (c.record.id, Asset::new("image/svg+xml", svg))
                })
                .collect(),
            component_feeds: snapshot
                .components
                .iter()
                .map(|c| {
                    let atom = feed::atom(&snapshot, Some(c));
                    (c.record.id, Asset::new("application/atom+xml", atom))
                })
                .collect(),
            summary: Asset::json(&json.summary),
            status: Asset::json(&json.status),
            components: Asset::json(&json.components),
            incidents: Asset::json(&json.incidents),
            unresolved: Asset::json(&json.unresolved),
            maintenances: Asset::json(&json.maintenances),
            upcoming: Asset::json(&json.upcoming),
            active: Asset::json(&json.active),
            snapshot,
        }
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110's HTTP-date).
fn http_date(t: Timestamp) -> HeaderValue {
    let text = t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
    HeaderValue::from_str(&text).expect("a date is a valid header value")
}

/// The latest rendering, kept fresh by `spawn_renderer`.
#[derive(Clone)]
pub struct StatusCache {
    latest: watch::Receiver<Option<Arc<Rendered>>>,
}

impl StatusCache {
    /// How the page presents itself in its latest rendering; none before the first.
    pub fn brand(&self) -> Option<crate::config::StatusPageBrand> {
        self.latest
            .borrow()
            .as_ref()
            .map(|r| r.snapshot.brand.clone())
    }

    /// A component's status as the page shows it now.
    pub async fn status_of(&self, id: i64) -> Option<ComponentStatus> {
        let r = self.current().await.ok()?;
        r.snapshot.component(id).map(|c| c.status)
    }

    /// The latest rendering; right after start, waits briefly for the first.
    async fn current(&self) -> Result<Arc<Rendered>, ApiError> {
        if let Some(r) = self.latest.borrow().clone() {
            return Ok(r);
        }
        let mut latest = self.latest.clone();
        let first =
            tokio::time::timeout(Duration::from_secs(5), latest.wait_for(Option::is_some)).await;
        match first {
            Ok(Ok(r)) => Ok(r.clone().expect("waited for a rendering")),
            _ => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the status page is not ready yet; retry shortly",
            )),
        }
    }
}

/// Starts the worker that renders the status page whenever what it shows may have changed,
/// until `shutdown` flips.
pub fn spawn_renderer(app: Arc<Aplomb>, mut shutdown: watch::Receiver<bool>) -> StatusCache {
    let (publish, latest) = watch::channel(None);
    let mut changes = app.subscribe();
    tokio::spawn(async move {
        loop {
            let wait = match app.status_snapshot().await {
                Ok(snapshot) => {
                    publish.send_replace(Some(Arc::new(Rendered::new(snapshot))));
                    REFRESH
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the status page could not be rebuilt; it shows what it last knew");
                    RETRY
                }
            };
            tokio::select! {
                changed = changes.recv() => {
                    if matches!(changed, Err(RecvError::Closed)) {
                        return;
                    }
                    tokio::time::sleep(GATHER).await;
                    // The burst is read by the rebuild: drop what it announced.
                    while changes.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
    StatusCache { latest }
}

async fn serve(
    state: &AppState,
    request: &HeaderMap,
    pick: impl FnOnce(&Rendered) -> Option<&Asset>,
) -> Response {
    match state.status_cache.current().await {
        Ok(r) => match pick(&r) {
            Some(asset) => asset.respond(request, &r.last_modified),
            None => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such component")
                .into_response(),
        },
        Err(e) => e.into_response(),
    }
}

/// An incident's history on the status page (HTML): rendered on request, from the
/// snapshot, never the database. Only an incident the page shows has one.
#[utoipa::path(get, path = "/status/incidents/{id}", tag = "status page", security(()),
    params(("id" = i64, Path, description = "the incident")),
    responses((status = 200, content_type = "text/html", body = String),
        (status = 400, body = ErrorBody, description = "the id is not a number"),
        (status = 404, content_type = "text/html", body = String, description = "the page shows no such incident")))]
async fn incident_page(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> Response {
    let rendered = match state.status_cache.current().await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match rendered.snapshot.incidents.iter().find(|i| i.id == id) {
        Some(incident) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "public, no-cache"),
            ],
            page::incident_page(&rendered.snapshot, incident),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page::not_found(&rendered.snapshot),
        )
            .into_response(),
    }
}
