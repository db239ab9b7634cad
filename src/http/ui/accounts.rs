//! Signing in and out, first-run setup, users and API tokens.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{
    ErrorQuery, NoFields, Posted, SESSION_COOKIE, Session, fail, render, safe_next, session_cookie,
};
use crate::app::{AppError, NewUser, SESSION_TTL};
use crate::domain::access::Actor;
use crate::http::AppState;
use crate::http::extract::ClientAddr;
use crate::markup::human_time;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/setup", get(setup_page).post(setup))
        .route("/users", get(users_page).post(create_user))
        .route("/tokens", get(tokens_page).post(create_token))
        .route("/tokens/{id}/revoke", post(revoke_token))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    /// Kept in the form when it comes back with an error.
    username: String,
    error: Option<String>,
}

async fn login_page(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    if state.needs_setup().await.unwrap_or(false) {
        return Redirect::to("/setup").into_response();
    }
    render(&LoginPage {
        next: safe_next(q.next.as_deref()).to_string(),
        username: String::new(),
        error: q.error,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref()).to_string();
    let again = |error: String| LoginPage {
        next: next.clone(),
        username: form.username.clone(),
        error: Some(error),
    };
    match state.login(&form.username, &form.password, client).await {
        Ok((token, _, _)) => signed_in(&token, &next),
        Err(AppError::Invalid(_)) => render(&again("Unknown user or wrong password.".into())),
        Err(e @ AppError::TooManyAttempts { retry_after, .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            render(&again(format!("{}.", capitalized(&e.to_string())))),
        )
            .into_response(),
        Err(e) => fail(e, "/login"),
    }
}

/// A message from the application as a sentence on a page.
fn capitalized(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn signed_in(token: &str, next: &str) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response()
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _: Posted<NoFields>,
) -> Response {
    if let Some(token) = session_cookie(&headers)
        && let Err(e) = state.logout(&token).await
    {
        return fail(e, "/incidents");
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    error: Option<String>,
}

async fn setup_page(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    if !state.needs_setup().await.unwrap_or(false) {
        return Redirect::to("/login").into_response();
    }
    render(&SetupPage { error: q.error })
}

#[derive(Deserialize)]
struct SetupForm {
    setup_token: String,
    username: String,
    password: String,
}

async fn setup(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<SetupForm>,
) -> Response {
    if let Err(e) = state
        .complete_setup(&form.setup_token, &form.username, &form.password)
        .await
    {
        return fail(e, "/setup");
    }
    match state.login(&form.username, &form.password, client).await {
        Ok((token, _, _)) => signed_in(&token, "/incidents"),
        Err(e) => fail(e, "/login"),
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    me: Actor,
    csrf: String,
    users: Vec<(String, String, String)>,
    error: Option<String>,
}

async fn users_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ErrorQuery>,
) -> Response {
    let users = match state.list_users(&session.actor).await {
        Ok(users) => users
            .into_iter()
            .map(|u| (u.username, u.display_name, u.role.to_string()))
            .collect(),
        Err(e) => return fail(e, "/incidents"),
    };
    render(&UsersPage {
        me: session.actor,
        csrf: session.csrf,
        users,
        error: q.error,
    })
}

#[derive(Deserialize)]
struct UserForm {
    username: String,
    #[serde(default)]
    display_name: String,
    password: String,
    role: String,
}

async fn create_user(
    State(state): State<AppState>,
    Posted { session, form }: Posted<UserForm>,
) -> Response {
    let new = NewUser {
        username: form.username,
        display_name: Some(form.display_name).filter(|d| !d.trim().is_empty()),
        password: Some(form.password),
        role: form.role,
    };
    match state.create_user(&session.actor, new).await {
        Ok(_) => Redirect::to("/users").into_response(),
        Err(e) => fail(e, "/users"),
    }
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    me: Actor,
    csrf: String,
    tokens: Vec<TokenRow>,
    /// The token just created (name, secret): shown on this one page only.
    new_token: Option<(String, String)>,
    error: Option<String>,
}

struct TokenRow {
    id: i64,
    name: String,
    created: String,
}

async fn tokens_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ErrorQuery>,
) -> Response {
    show_tokens(&state, session, None, q.error).await
}

async fn show_tokens(
    state: &AppState,
    session: Session,
    new_token: Option<(String, String)>,
    error: Option<String>,
) -> Response {
    let tokens = match state
        .list_tokens(&session.actor, &session.actor.username)
        .await
    {
        Ok(tokens) => tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                created: human_time(t.created_at),
            })
            .collect(),
        Err(e) => return fail(e, "/incidents"),
    };
    render(&TokensPage {
        me: session.actor,
        csrf: session.csrf,
        tokens,
        new_token,
        error,
    })
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
}

/// Answers the page itself rather than redirecting: the new token's secret is shown once, and
/// must not travel in a URL or be kept anywhere to show after a redirect.
async fn create_token(
    State(state): State<AppState>,
    Posted { session, form }: Posted<TokenForm>,
) -> Response {
    let username = session.actor.username.clone();
    match state
        .create_token(&session.actor, &username, &form.name)
        .await
    {
        Ok(issued) => {
            let shown = (form.name.trim().to_string(), issued.token);
            show_tokens(&state, session, Some(shown), None).await
        }
        Err(e) => fail(e, "/tokens"),
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    match state
        .revoke_token(&session.actor, &session.actor.username, id)
        .await
    {
        Ok(()) => Redirect::to("/tokens").into_response(),
        Err(e) => fail(e, "/tokens"),
    }
}
