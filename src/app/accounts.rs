//! Accounts: users, API tokens, password sign-in, web sessions and the first-run setup.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{Aplomb, AppError, AppResult, require_admin};
use crate::domain::access::{Actor, UserRole, check_password, parse_username};
use crate::domain::incident::UserRef;
use crate::domain::rate::{Buckets, Limit};
use crate::domain::{FieldError, bounded_text};
use crate::secret::{hex, new_secret};
use crate::store::{SYSTEM_USER, StoreError, TokenRecord, UserRecord};

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

/// Failed sign-ins one account may have per minute before it is refused for a while.
const FAILURES_PER_ACCOUNT_PER_MINUTE: u32 = 5;
/// Failed sign-ins per minute from one address (across accounts: guessing many names).
const FAILURES_PER_ADDRESS_PER_MINUTE: u32 = 20;
/// Beyond this many tracked keys, refilled buckets are swept (a flood of made-up names).
const MAX_TRACKED: usize = 10_000;

/// What keeps password checks from hurting the server: argon2 runs on blocking threads, one
/// at a time, and failed sign-ins are counted per account and per client address. The counts
/// live in this instance's memory (N instances allow N times as many guesses); that bounds a
/// guesser without a write per attempt.
pub(super) struct SignInGuard {
    /// One permit: a hash takes a core's worth of CPU for tens of milliseconds, and a flood of
    /// sign-ins must leave the other cores to the rest of the server.
    hashing: Arc<Semaphore>,
    failures: Mutex<Failures>,
}

struct Failures {
    by_account: Buckets<String>,
    by_address: Buckets<IpAddr>,
}

impl Default for Failures {
    fn default() -> Self {
        Self {
            by_account: Buckets::new(
                Limit::per_minute(FAILURES_PER_ACCOUNT_PER_MINUTE),
                MAX_TRACKED,
            ),
            by_address: Buckets::new(
                Limit::per_minute(FAILURES_PER_ADDRESS_PER_MINUTE),
                MAX_TRACKED,
            ),
        }
    }
}

impl Default for SignInGuard {
    fn default() -> Self {
        Self {
            hashing: Arc::new(Semaphore::new(1)),
            failures: Mutex::default(),
        }
    }
}

impl SignInGuard {
    /// Runs a password hash or check on a blocking thread, once the permit is free.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("the hashing permit: {e}")))?;
        // The permit moves into the task: a client hanging up mid-check must not free it while
        // the hash still runs.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("a password hash task: {e}")))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        // The counts stay usable even if a thread panicked holding the lock.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses when the account or the address has no failure left to spend.
    fn check(&self, username: &str, client: Option<IpAddr>, now: Timestamp) -> AppResult<()> {
        let failures = self.lock();
        if let Err(retry_after) = failures.by_account.check(&username.to_string(), now) {
            return Err(AppError::TooManyAttempts {
                what: "failed sign-ins",
                from: "for this account",
                retry_after,
            });
        }
        if let Some(ip) = client
            && let Err(retry_after) = failures.by_address.check(&ip, now)
        {
            return Err(AppError::TooManyAttempts {
                what: "failed sign-ins",
                from: "from this address",
                retry_after,
            });
        }
        Ok(())
    }

    fn failed(&self, username: &str, client: Option<IpAddr>, now: Timestamp) {
        let mut failures = self.lock();
        // A failure past the limit is refused already; it only needs counting.
        let _ = failures.by_account.take(username.to_string(), now);
        if let Some(ip) = client {
            let _ = failures.by_address.take(ip, now);
        }
    }
}

/// A new API token: the secret is shown once, here; the database keeps only its hash.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub id: i64,
    pub token: String,
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
    /// `client` is the caller's address, for counting failed sign-ins per address.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> AppResult<(String, String, Actor)> {
        let user = self.check_sign_in(username, password, client).await?;
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

    /// The user whose password this is, unless this account or address has failed too often
    /// lately (then nothing is checked: a guessing attacker learns nothing and costs nothing).
    async fn check_sign_in(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> AppResult<UserRecord> {
        let username = username.trim();
        self.sign_in.check(username, client, self.now())?;
        let refused = || {
            AppError::Invalid(FieldError::new(
                "password",
                "unknown user or wrong password",
            ))
        };
        let user = self.store.user_by_username(username).await?;
        let verified = match user.as_ref().and_then(|u| u.password_hash.clone()) {
            Some(hash) => {
                let password = password.to_string();
                self.sign_in
                    .hashing(move || verify_password(&password, &hash))
                    .await?
            }
            None => false,
        };
        match user {
            Some(user) if verified => Ok(user),
            _ => {
                self.sign_in.failed(username, client, self.now());
                Err(refused())
            }
        }
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
                let password = password.to_string();
                Some(
                    self.sign_in
                        .hashing(move || hash_password(&password))
                        .await??,
                )
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

    /// Every person's username, for choosing someone to give a role or page: anyone signed
    /// in may know who they can call on, so no access check. The automation user is no one
    /// to call on.
    pub async fn user_names(&self) -> AppResult<Vec<String>> {
        let users = self.store.list_users().await?;
        Ok(users
            .into_iter()
            .map(|u| u.username)
            .filter(|name| name != SYSTEM_USER)
            .collect())
    }

    /// Issues an API token for `username`: admins for anyone, others for themselves.
    pub async fn create_token(
        &self,
        actor: &Actor,
        username: &str,
        name: &str,
    ) -> AppResult<IssuedToken> {
        let user = self.token_holder(actor, username, "create tokens").await?;
        self.issue_token(&user, name).await
    }

    /// Signs in with a password and issues an API token named `token_name` (the CLI's
    /// `aplomb login`); failed attempts count as on the login form.
    pub async fn login_for_token(
        &self,
        username: &str,
        password: &str,
        token_name: &str,
        client: Option<IpAddr>,
    ) -> AppResult<(IssuedToken, Actor)> {
        let name = bounded_text("token_name", token_name, 1, 100)?;
        let user = self.check_sign_in(username, password, client).await?;
        Ok((self.issue_token(&user, &name).await?, user.actor()))
    }

    /// A user's tokens (names and times; the secrets are never shown again).
    pub async fn list_tokens(&self, actor: &Actor, username: &str) -> AppResult<Vec<TokenRecord>> {
        let user = self.token_holder(actor, username, "see tokens").await?;
        Ok(self.store.list_tokens(user.id).await?)
    }

    /// Revokes one of a user's tokens: it stops working at once.
    pub async fn revoke_token(&self, actor: &Actor, username: &str, id: i64) -> AppResult<()> {
        let user = self.token_holder(actor, username, "revoke tokens").await?;
        match self.store.delete_token(user.id, id).await {
            Err(StoreError::NotFound) => Err(AppError::NotFound("token")),
            done => Ok(done?),
        }
    }

    /// The user whose tokens `actor` wants to manage: their own, or anyone's for an admin.
    async fn token_holder(
        &self,
        actor: &Actor,
        username: &str,
        doing: &str,
    ) -> AppResult<UserRecord> {
        if !actor.is_admin() && actor.username != username {
            return Err(AppError::Forbidden(format!(
                "only admins {doing} for other users"
            )));
        }
        self.store
            .user_by_username(username)
            .await?
            .ok_or(AppError::NotFound("user"))
    }

    async fn issue_token(&self, user: &UserRecord, name: &str) -> AppResult<IssuedToken> {
        let name = bounded_text("name", name, 1, 100)?;
        let token = format!("apl_{}", new_secret());
        let id = self
            .store
            .insert_token(user.id, &hash_token(&token), &name, self.now())
            .await?;
        Ok(IssuedToken { id, token })
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
