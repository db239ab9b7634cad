//! Accounts: users, API tokens, password sign-in, web sessions and the first-run setup.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jiff::SignedDuration;
use sha2::{Digest, Sha256};

use super::{Aplomb, AppError, AppResult, require_admin};
use crate::domain::access::{Actor, UserRole, check_password, parse_username};
use crate::domain::incident::UserRef;
use crate::domain::{FieldError, bounded_text};
use crate::secret::{hex, new_secret};
use crate::store::{StoreError, UserRecord};

/// How long a web session lasts without signing in again.
pub const SESSION_TTL: SignedDuration = SignedDuration::from_hours(12);
const SETUP_TOKEN_SETTING: &str = "setup_token_hash";

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub role: String,
}

impl Aplomb {
    /// Prepares an empty database for its first administrator. With `admin_token`, creates the
    /// `admin` user holding that API token; otherwise returns a one-time setup token to print.
    pub async fn bootstrap(&self, admin_token: Option<&str>) -> anyhow::Result<Option<String>> {
        if let Some(token) = admin_token {
            self.bootstrap_admin(token).await?;
            return Ok(None);
        }
        if self.store.user_count().await? > 0 {
            return Ok(None);
        }
        let setup = new_secret();
        self.store
            .set_setting(SETUP_TOKEN_SETTING, &hash_token(&setup))
            .await?;
        Ok(Some(setup))
    }

    /// Instances deployed together all start with the same `APLOMB_ADMIN_TOKEN`: whichever
    /// creates `admin` first wins, and the others find the token there and carry on.
    async fn bootstrap_admin(&self, token: &str) -> anyhow::Result<()> {
        let hash = hash_token(token);
        if self.store.user_count().await? == 0 {
            let created = self
                .store
                .insert_user_with_token(
                    "admin",
                    "Administrator",
                    UserRole::Admin,
                    &hash,
                    "APLOMB_ADMIN_TOKEN",
                    self.now(),
                )
                .await;
            match created {
                Ok(_) => return Ok(()),
                // Another instance committed its `admin` (and token) first.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if self.store.actor_by_token(&hash).await?.is_none() {
            tracing::warn!(
                "APLOMB_ADMIN_TOKEN is ignored: it only creates user admin on an empty database, \
                 and this one has users; create API tokens on the Tokens page or with `aplomb token create`"
            );
        }
        Ok(())
    }

    pub async fn needs_setup(&self) -> AppResult<bool> {
        Ok(self.store.user_count().await? == 0)
    }

    /// Creates the first administrator with the setup token printed at start-up.
    pub async fn complete_setup(
        &self,
        setup_token: &str,
        username: &str,
        password: &str,
    ) -> AppResult<UserRecord> {
        let expected = self.store.setting(SETUP_TOKEN_SETTING).await?;
        if !self.needs_setup().await?
            || expected.as_deref() != Some(hash_token(setup_token.trim()).as_str())
        {
            return Err(AppError::Invalid(FieldError::new(
                "setup_token",
                "does not match the token in the server log",
            )));
        }
        let user = self
            .insert_user(NewUser {
                username: username.to_string(),
                display_name: None,
                password: Some(password.to_string()),
                role: "admin".into(),
            })
            .await?;
        self.store.delete_setting(SETUP_TOKEN_SETTING).await?;
        Ok(user)
    }

    pub async fn actor_for_token(&self, token: &str) -> AppResult<Option<Actor>> {
        Ok(self.store.actor_by_token(&hash_token(token)).await?)
    }

    /// Checks a password and opens a web session: returns (session token, CSRF token).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> AppResult<(String, String, Actor)> {
        let refused = || {
            AppError::Invalid(FieldError::new(
                "password",
                "unknown user or wrong password",
            ))
        };
        let user = self
            .store
            .user_by_username(username.trim())
            .await?
            .ok_or_else(refused)?;
        let hash = user.password_hash.as_deref().ok_or_else(refused)?;
        if !verify_password(password, hash) {
            return Err(refused());
        }
        let session = new_secret();
        let csrf = new_secret();
        self.store
            .insert_session(
                &hash_token(&session),
                user.id,
                &csrf,
                self.now() + SESSION_TTL,
            )
            .await?;
        Ok((session, csrf, user.actor()))
    }

    pub async fn session(&self, session_token: &str) -> AppResult<Option<(Actor, String)>> {
        Ok(self
            .store
            .session(&hash_token(session_token), self.now())
            .await?)
    }

    pub async fn logout(&self, session_token: &str) -> AppResult<()> {
        Ok(self
            .store
            .delete_session(&hash_token(session_token))
            .await?)
    }

    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> AppResult<UserRecord> {
        require_admin(actor)?;
        self.insert_user(new).await
    }

    async fn insert_user(&self, new: NewUser) -> AppResult<UserRecord> {
        let username = parse_username(&new.username)?;
        let role: UserRole = new.role.parse()?;
        let display_name = match new.display_name.as_deref() {
            Some(name) => bounded_text("display_name", name, 1, 100)?,
            None => username.clone(),
        };
        let hash = match new.password.as_deref() {
            Some(password) => {
                check_password(password)?;
                Some(hash_password(password)?)
            }
            None => None,
        };
        Ok(self
            .store
            .insert_user(&username, &display_name, hash.as_deref(), role, self.now())
            .await?)
    }

    pub async fn list_users(&self, actor: &Actor) -> AppResult<Vec<UserRecord>> {
        require_admin(actor)?;
        Ok(self.store.list_users().await?)
    }

    /// Issues an API token for `username`: admins for anyone, others for themselves.
    pub async fn create_token(
        &self,
        actor: &Actor,
        username: &str,
        name: &str,
    ) -> AppResult<String> {
        if !actor.is_admin() && actor.username != username {
            return Err(AppError::Forbidden(
                "only admins create tokens for other users".into(),
            ));
        }
        let name = bounded_text("name", name, 1, 100)?;
        let user = self
            .store
            .user_by_username(username)
            .await?
            .ok_or(AppError::NotFound("user"))?;
        let token = format!("apl_{}", new_secret());
        self.store
            .insert_token(user.id, &hash_token(&token), &name, self.now())
            .await?;
        Ok(token)
    }

    pub(super) async fn user_ref(&self, field: &'static str, username: &str) -> AppResult<UserRef> {
        let user = self
            .store
            .user_by_username(username.trim())
            .await?
            .ok_or_else(|| {
                FieldError::new(field, format!("no user named {:?}", username.trim()))
            })?;
        Ok(UserRef {
            id: user.id,
            username: user.username,
        })
    }
}

/// Tokens are stored only as their SHA-256: a leaked database does not leak credentials.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hash_password(password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing a password: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}
