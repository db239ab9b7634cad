//! Readers subscribe from the status page: the sign-up form's target, the confirmation link,
//! and the unsubscribe link, which a person opens (a page with one button) or a mail client
//! POSTs (RFC 8058 one-click). Each link works only with the subscriber's own token.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::page::CSS;
use crate::app::AppError;
use crate::config::StatusPageBrand;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiPath, ClientAddr};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/status/subscribe", post(sign_up))
        .route("/status/subscribe/confirm/{token}", get(confirm))
        .route("/status/unsubscribe/{token}", get(leave_page).post(leave))
}

#[derive(Template)]
#[template(path = "status_message.html")]
struct MessageView<'a> {
    brand: &'a StatusPageBrand,
    css: &'static str,
    heading: &'a str,
    message: String,
    /// A form posting here, with `button` on it.
    action: Option<String>,
    button: &'a str,
}

fn message(state: &AppState, status: StatusCode, heading: &str, text: String) -> Response {
    page(state, status, heading, text, None)
}

fn page(
    state: &AppState,
    status: StatusCode,
    heading: &str,
    message: String,
    form: Option<(String, &str)>,
) -> Response {
    let (action, button) = match form {
        Some((action, button)) => (Some(action), button),
        None => (None, ""),
    };
    let brand = (state.status_cache.brand()).unwrap_or_else(|| state.settings.status_page.clone());
    let view = MessageView {
        brand: &brand,
        css: CSS,
        heading,
        message,
        action,
        button,
    };
    let html = view.render().unwrap_or_else(|e| e.to_string());
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

fn failed(state: &AppState, e: AppError) -> Response {
    let e = ApiError::from(e);
    let heading = match e.status {
        StatusCode::NOT_FOUND => "This link is not valid",
        StatusCode::TOO_MANY_REQUESTS => "Too many sign-ups",
        StatusCode::UNPROCESSABLE_ENTITY => "Please check the address",
        _ => "Something went wrong",
    };
    let text = match e.status {
        StatusCode::NOT_FOUND => {
            "It may have been used already, or the subscription has ended.".to_string()
        }
        _ => e.message,
    };
    message(state, e.status, heading, text)
}

/// The sign-up form: `email`, and any number of `component` ids (none: every component).
async fn sign_up(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: Bytes,
) -> Response {
    let mut email = String::new();
    let mut components = Vec::new();
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "email" => email = value.into_owned(),
            "component" => match value.parse::<i64>() {
                Ok(id) => components.push(id),
                Err(_) => {
                    return failed(
                        &state,
                        crate::domain::FieldError::new("components", "must be component ids")
                            .into(),
                    );
                }
            },
            _ => {}
        }
    }
    match state.sign_up(client, &email, &components).await {
        Ok(()) => message(
            &state,
            StatusCode::ACCEPTED,
            "Check your inbox",
            format!(
                "If {} can receive email, a message with a confirmation link is on its way. \
                 Nothing else is sent until you confirm.",
                email.trim()
            ),
        ),
        Err(e) => failed(&state, e),
    }
}

async fn confirm(State(state): State<AppState>, ApiPath(token): ApiPath<String>) -> Response {
    match state.confirm_subscription(&token).await {
        Ok(s) => {
            let covers = if s.components.is_empty() {
                "every component".to_string()
            } else {
                s.components
                    .iter()
                    .map(|(_, name)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            message(
                &state,
                StatusCode::OK,
                "You are subscribed",
                format!(
                    "{} will hear of incidents and maintenance affecting {covers}. Every message has a link to unsubscribe.",
                    s.address
                ),
            )
        }
        Err(e) => failed(&state, e),
    }
}

/// Opened by a person: one button, so a link scanner following it unsubscribes no one.
async fn leave_page(State(state): State<AppState>, ApiPath(token): ApiPath<String>) -> Response {
    match state.subscription_by_token(&token).await {
        Ok(s) => page(
            &state,
            StatusCode::OK,
            "Unsubscribe",
            format!("{} will no longer hear from this status page.", s.address),
            Some((format!("/status/unsubscribe/{token}"), "Unsubscribe")),
        ),
        Err(e) => failed(&state, e),
    }
}

/// The one click: a mail client's POST (`List-Unsubscribe=One-Click`) or the page's button.
async fn leave(State(state): State<AppState>, ApiPath(token): ApiPath<String>) -> Response {
    match state.unsubscribe_by_token(&token).await {
        Ok(()) => message(
            &state,
            StatusCode::OK,
            "You are unsubscribed",
            "Nothing more will be sent to you from this status page.".into(),
        ),
        Err(e) => failed(&state, e),
    }
}
