//! Signing in and out, first-run setup, users and API tokens.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{
    ErrorQuery, NoFields, Posted, SESSION_COOKIE, Session, cookie_value, fail, render, safe_next,
    session_cookie,
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
    /// Also in the `LOGIN_COOKIE`: a login posted from another site has the field wrong.
    csrf: String,
}

/// The login form's CSRF token, beside the form (double submit): no session exists yet, so
/// the cookie stands in for it.
const LOGIN_COOKIE: &str = "aplomb_login";

/// How long a login form may sit open before it must be loaded again.
const LOGIN_FORM_TTL_SECONDS: i64 = 3600;

/// The login form with a fresh CSRF token, in the page and in its cookie.
fn login_form(
    state: &AppState,
    status: StatusCode,
    next: String,
    username: String,
    error: Option<String>,
) -> Response {
    let csrf = crate::secret::new_secret();
    let cookie = cookie(state, LOGIN_COOKIE, &csrf, LOGIN_FORM_TTL_SECONDS);
    let page = LoginPage {
        next,
        username,
        error,
        csrf,
    };
    (status, [(header::SET_COOKIE, cookie)], render(&page)).into_response()
}

/// A `Set-Cookie` value scripts cannot read, sent back only by aplomb's own pages and
/// top-level links to them, and only over TLS when aplomb serves TLS.
fn cookie(state: &AppState, name: &str, value: &str, max_age_seconds: i64) -> String {
    let secure = if state.tls { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure}")
}

async fn login_page(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    if state.needs_setup().await.unwrap_or(false) {
        return Redirect::to("/setup").into_response();
    }
    let next = safe_next(q.next.as_deref()).to_string();
    login_form(&state, StatusCode::OK, next, String::new(), q.error)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref()).to_string();
    let again = |status: StatusCode, error: String| {
        login_form(
            &state,
            status,
            next.clone(),
            form.username.clone(),
            Some(error),
        )
    };
    // Checked before the password, so a forged form costs no attempt.
    let held = cookie_value(&headers, LOGIN_COOKIE).unwrap_or_default();
    if held.is_empty() || !crate::secret::constant_time_eq(held.as_bytes(), form.csrf.as_bytes()) {
        return again(
            StatusCode::FORBIDDEN,
            "This sign-in form has expired or came from another site; sign in again.".into(),
        );
    }
    match state.login(&form.username, &form.password, client).await {
        Ok((token, _, _)) => signed_in(&state, &token, &next),
        Err(AppError::Invalid(_)) => {
            again(StatusCode::OK, "Unknown user or wrong password.".into())
        }
        Err(e @ AppError::TooManyAttempts { retry_after, .. }) => {
            let mut answer = again(
                StatusCode::TOO_MANY_REQUESTS,
                format!("{}.", capitalized(&e.to_string())),
            );
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
            answer
        }
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

/// Signed in: a session cookie with a token minted at this login, never one the browser
/// brought (no session fixation), and the login form's cookie gone.
fn signed_in(state: &AppState, token: &str, next: &str) -> Response {
    let session = cookie(state, SESSION_COOKIE, token, SESSION_TTL.as_secs());
    let form = cookie(state, LOGIN_COOKIE, "", 0);
    (
        AppendHeaders([(header::SET_COOKIE, session), (header::SET_COOKIE, form)]),
        Redirect::to(next),
    )
        .into_response()
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
    let clear = cookie(&state, SESSION_COOKIE, "", 0);
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
        Ok((token, _, _)) => signed_in(&state, &token, "/incidents"),
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
