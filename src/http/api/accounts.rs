//! Accounts: users, their API tokens, signing in for a token, and who the caller is.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::app::NewUser;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ApiPath, ClientAddr};
use crate::store::{TokenRecord, UserRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route(
            "/users/{username}/tokens",
            get(list_tokens).post(create_token),
        )
        .route("/users/{username}/tokens/{id}", delete(revoke_token))
        .route("/login", post(login))
        .route("/whoami", get(whoami))
}

#[derive(OpenApi)]
#[openapi(paths(
    list_users,
    create_user,
    create_token,
    list_tokens,
    revoke_token,
    login,
    whoami
))]
pub struct AccountsDoc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(value_type = crate::app::schema::Username)]
    pub username: String,
    #[schema(value_type = Option<crate::app::schema::Name>)]
    pub display_name: Option<String>,
    /// For signing in to the web UI; omit for API-only users.
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
    /// `admin`, `responder` or `viewer`.
    #[schema(value_type = crate::app::schema::UserRoleName)]
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    #[schema(value_type = crate::app::schema::UserRoleName)]
    pub role: String,
    pub created_at: String,
}

impl From<UserRecord> for UserBody {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.to_string(),
            created_at: u.created_at.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, e.g. "laptop CLI".
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    /// For listing and revoking it.
    pub id: i64,
    /// Shown once; aplomb keeps only its hash.
    pub token: String,
}

/// An API token as its holder sees it later: never the secret or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenSummary {
    pub id: i64,
    pub name: String,
    pub created_at: String,
}

impl From<TokenRecord> for TokenSummary {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: t.created_at.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// What the new token is for, e.g. "laptop CLI".
    #[schema(value_type = crate::app::schema::Name)]
    pub token_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginBody {
    /// The token's id, for revoking it (`aplomb logout`).
    pub id: i64,
    /// Shown once; aplomb keeps only its hash.
    pub token: String,
    pub username: String,
}

/// All users (admins only).
#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = Vec<UserBody>), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<UserBody>>, ApiError> {
    Ok(Json(
        app.list_users(&actor)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Create a user (admins only).
#[utoipa::path(post, path = "/api/v1/users", request_body = CreateUserRequest,
    responses((status = 201, body = UserBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_user(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    body: ApiJson<CreateUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let req = body.value;
    let user = app
        .create_user(
            &actor,
            NewUser {
                username: req.username,
                display_name: req.display_name,
                password: req.password,
                role: req.role,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserBody::from(user))))
}

/// Issue an API token for a user (admins, or the user themself).
#[utoipa::path(post, path = "/api/v1/users/{username}/tokens", params(("username" = String, Path)),
    request_body = TokenRequest,
    responses((status = 201, body = TokenBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_token(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
    body: ApiJson<TokenRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let issued = app
        .create_token(&actor, &username, &body.value.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenBody {
            id: issued.id,
            token: issued.token,
        }),
    ))
}

/// A user's API tokens: id, name and creation time (admins, or the user themself).
#[utoipa::path(get, path = "/api/v1/users/{username}/tokens", params(("username" = String, Path)),
    responses((status = 200, body = Vec<TokenSummary>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_tokens(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<Vec<TokenSummary>>, ApiError> {
    let tokens = app.list_tokens(&actor, &username).await?;
    Ok(Json(tokens.into_iter().map(Into::into).collect()))
}

/// Revoke an API token: it stops working at once (admins, or the user themself).
#[utoipa::path(delete, path = "/api/v1/users/{username}/tokens/{id}",
    params(("username" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(app): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((username, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    app.revoke_token(&actor, &username, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign in with a password and get a new API token (for the CLI's `aplomb login`). Failed
/// attempts are limited per account and per address as on the login form: 429 with
/// `Retry-After` beyond.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest, security(()),
    responses((status = 201, body = LoginBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds until a sign-in is accepted again")))))]
async fn login(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let req = body.value;
    let (issued, actor) = app
        .login_for_token(&req.username, &req.password, &req.token_name, client)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(LoginBody {
            id: issued.id,
            token: issued.token,
            username: actor.username,
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    pub username: String,
    #[schema(value_type = crate::app::schema::UserRoleName)]
    pub role: String,
    pub server_time: String,
}

/// The caller, as the token identifies them.
#[utoipa::path(get, path = "/api/v1/whoami", responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
async fn whoami(State(app): State<AppState>, ApiActor(actor): ApiActor) -> Json<WhoAmI> {
    Json(WhoAmI {
        username: actor.username,
        role: actor.role.to_string(),
        server_time: app.now().to_string(),
    })
}
