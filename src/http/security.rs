//! The headers that keep browsers strict with aplomb's answers: no content sniffing, no
//! referrer beyond aplomb itself, and on HTML pages a Content-Security-Policy that allows only
//! aplomb's own scripts (no inline script) and no framing; HSTS when aplomb serves TLS itself.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Scripts only from aplomb's own files; styles may be inline (the status page inlines its
/// stylesheet so readers need one request); images may come from anywhere on the web (a
/// status page's logo); nothing may frame a page.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: https: http:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// A year, the usual HSTS lifetime.
const HSTS: &str = "max-age=31536000";

/// Adds the headers to an answer (run by `http::around_every_request`).
pub fn harden(response: &mut Response, tls: bool) {
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}
