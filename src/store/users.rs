//! Users, API tokens, web sessions, settings and the service catalog.

use jiff::Timestamp;

use super::db::{Conn, Row, args};
use super::{Result, Store, StoreError, ms};
use crate::domain::access::{Actor, UserRole};
use crate::domain::incident::UserRef;

/// The automation user's name (see `Store::system_user`).
pub const SYSTEM_USER: &str = "aplomb";

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: UserRole,
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
}

impl UserRecord {
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
        }
    }

    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            username: row.get("username")?,
            display_name: row.get("display_name")?,
            role: row.parsed("role")?,
            password_hash: row.get("password_hash")?,
            created_at: row.ts("created_at")?,
        })
    }
}

/// An API token as its holder sees it: the secret itself is shown once, at creation.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ServiceRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub owner_team: String,
    pub team_id: Option<i64>,
    pub escalation_policy_id: Option<i64>,
    pub tags: Vec<String>,
}

const USER_COLUMNS: &str =
    "u.id, u.username, u.display_name, u.role, u.password_hash, u.created_at";

impl Store {
    pub async fn user_count(&self) -> Result<i64> {
        self.read()
            .await?
            .fetch_one("SELECT COUNT(*) AS n FROM users", args![])
            .await?
            .get("n")
    }

    /// Creates a user; `Conflict` when the username is taken.
    pub async fn insert_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: Option<&str>,
        role: UserRole,
        now: Timestamp,
    ) -> Result<UserRecord> {
        let mut tx = self.begin_write().await?;
        let id = insert_user(&mut tx, username, display_name, password_hash, role, now).await?;
        tx.commit().await?;
        Ok(UserRecord {
            id,
            username: username.to_string(),
            display_name: display_name.to_string(),
            role,
            password_hash: password_hash.map(String::from),
            created_at: now,
        })
    }

    /// The automation user that declares incidents no person declared (from alerts, from a
    /// burst of user reports) and records what the public reports; created on first use.
    pub async fn system_user(&self, now: Timestamp) -> Result<UserRef> {
        let user = match self.user_by_username(SYSTEM_USER).await? {
            Some(user) => user,
            None => match self
                .insert_user(
                    SYSTEM_USER,
                    "aplomb (automation)",
                    None,
                    UserRole::Viewer,
                    now,
                )
                .await
            {
                Ok(user) => user,
                // Another instance created it meanwhile.
                Err(StoreError::Conflict(_)) => self
                    .user_by_username(SYSTEM_USER)
                    .await?
                    .ok_or(StoreError::NotFound)?,
                Err(e) => return Err(e),
            },
        };
        Ok(UserRef {
            id: user.id,
            username: user.username,
        })
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1");
        self.fetch_optional(&sql, args![username])
            .await?
            .as_ref()
            .map(UserRecord::from_row)
            .transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username");
        self.fetch_all(&sql, args![])
            .await?
            .iter()
            .map(UserRecord::from_row)
            .collect()
    }

    /// Stores a token's hash; returns the token's id.
    pub async fn insert_token(
        &self,
        user_id: i64,
        token_hash: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let row = tx.fetch_one("INSERT INTO api_tokens (user_id, token_hash, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            args![user_id, token_hash, name, ms(now)])
            .await?;
        tx.commit().await?;
        row.get("id")
    }

    /// Creates a user holding one API token, both or neither. Two instances bootstrapping one
    /// database at once: the second's insert waits for the first's commit and then finds the
    /// name taken (`Conflict`), by which time the first's token is there too.
    pub async fn insert_user_with_token(
        &self,
        username: &str,
        display_name: &str,
        role: UserRole,
        token_hash: &str,
        token_name: &str,
        now: Timestamp,
    ) -> Result<UserRecord> {
        let mut tx = self.begin_write().await?;
        let id = insert_user(&mut tx, username, display_name, None, role, now).await?;
        tx.execute("INSERT INTO api_tokens (user_id, token_hash, name, created_at) VALUES ($1, $2, $3, $4)",
            args![id, token_hash, token_name, ms(now)])
            .await?;
        tx.commit().await?;
        Ok(UserRecord {
            id,
            username: username.to_string(),
            display_name: display_name.to_string(),
            role,
            password_hash: None,
            created_at: now,
        })
    }

    /// A user's API tokens, oldest first (never their hashes).
    pub async fn list_tokens(&self, user_id: i64) -> Result<Vec<TokenRecord>> {
        self.fetch_all(
            "SELECT id, name, created_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id",
            args![user_id],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(TokenRecord {
                id: row.get("id")?,
                name: row.get("name")?,
                created_at: row.ts("created_at")?,
            })
        })
        .collect()
    }

    /// Revokes one of a user's tokens; `NotFound` when that user has no token `id`.
    pub async fn delete_token(&self, user_id: i64, id: i64) -> Result<()> {
        let done = self
            .write_one(
                "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2",
                args![id, user_id],
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn actor_by_token(&self, token_hash: &str) -> Result<Option<Actor>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u JOIN api_tokens t ON t.user_id = u.id WHERE t.token_hash = $1"
        );
        let row = self.fetch_optional(&sql, args![token_hash]).await?;
        Ok(row
            .as_ref()
            .map(UserRecord::from_row)
            .transpose()?
            .map(|u| u.actor()))
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        self.write_one("INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
            args![token_hash, user_id, csrf, ms(expires_at)])
            .await?;
        Ok(())
    }

    /// The signed-in user and CSRF token of a live session.
    pub async fn session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(Actor, String)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, s.csrf_token FROM users u JOIN sessions s ON s.user_id = u.id \
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        );
        let Some(row) = self
            .fetch_optional(&sql, args![token_hash, ms(now)])
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((
            UserRecord::from_row(&row)?.actor(),
            row.get("csrf_token")?,
        )))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.write_one(
            "DELETE FROM sessions WHERE token_hash = $1",
            args![token_hash],
        )
        .await?;
        Ok(())
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let row = self
            .fetch_optional("SELECT value FROM settings WHERE name = $1", args![name])
            .await?;
        row.map(|r| r.get("value")).transpose()
    }

    pub async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        self.write_one(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            args![name, value],
        )
        .await?;
        Ok(())
    }

    /// The setting's value, storing `candidate` first if it has none (the first writer wins,
    /// so instances starting together agree).
    pub async fn setting_or_insert(&self, name: &str, candidate: &str) -> Result<String> {
        self.write_one(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            args![name, candidate],
        )
        .await?;
        self.setting(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("setting {name} vanished")))
    }

    pub async fn delete_setting(&self, name: &str) -> Result<()> {
        self.write_one("DELETE FROM settings WHERE name = $1", args![name])
            .await?;
        Ok(())
    }

    /// Adds a service to the catalog; `Conflict` when the name is taken.
    pub async fn insert_service(
        &self,
        name: &str,
        description: &str,
        owner_team: &str,
        now: Timestamp,
    ) -> Result<ServiceRecord> {
        let mut tx = self.begin_write().await?;
        let id = insert_service(&mut tx, name, description, owner_team, now).await?;
        tx.commit().await?;
        Ok(ServiceRecord {
            id,
            name: name.to_string(),
            description: description.to_string(),
            owner_team: owner_team.to_string(),
            team_id: None,
            escalation_policy_id: None,
            tags: Vec::new(),
        })
    }

    pub async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        let rows = self
            .fetch_all(
                "SELECT id, name, description, owner_team, team_id, escalation_policy_id, tags FROM services ORDER BY name",
                args![],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ServiceRecord {
                    id: row.get("id")?,
                    name: row.get("name")?,
                    description: row.get("description")?,
                    owner_team: row.get("owner_team")?,
                    team_id: row.get("team_id")?,
                    escalation_policy_id: row.get("escalation_policy_id")?,
                    tags: serde_json::from_str(&row.get::<String>("tags")?).unwrap_or_default(),
                })
            })
            .collect()
    }
}

/// Also run by `apply`'s transaction (see `oncall::OrgTx`).
pub(super) async fn insert_user(
    conn: &mut Conn,
    username: &str,
    display_name: &str,
    password_hash: Option<&str>,
    role: UserRole,
    now: Timestamp,
) -> Result<i64> {
    let row = conn
        .fetch_one(
            "INSERT INTO users (username, display_name, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            args![
                username,
                display_name,
                password_hash,
                role.as_str(),
                ms(now)
            ],
        )
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                StoreError::Conflict(format!("username {username:?} is taken"))
            } else {
                e
            }
        })?;
    row.get("id")
}

/// Also run by `apply`'s transaction (see `oncall::OrgTx`).
pub(super) async fn insert_service(
    conn: &mut Conn,
    name: &str,
    description: &str,
    owner_team: &str,
    now: Timestamp,
) -> Result<i64> {
    let row = conn
        .fetch_one(
            "INSERT INTO services (name, description, owner_team, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            args![name, description, owner_team, ms(now)],
        )
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                StoreError::Conflict(format!("service {name:?} exists"))
            } else {
                e
            }
        })?;
    row.get("id")
}
