//! Storage: one `Store` over SQLite or PostgreSQL, chosen once from the database URL.
//!
//! The SQL is shared: both backends take `$N` placeholders, store times as Unix milliseconds and
//! flags as integers, so one query serves both. Dialect differences are confined to `Backend`
//! (transaction start, row locks) and to the per-backend migrations in `migrations/`.

mod alerts;
mod direct;
mod incidents;
mod ingest;
mod live;
mod migrate;
mod oncall;
mod paging;
mod requests;
mod users;

use std::str::FromStr;
use std::sync::Arc;

use jiff::Timestamp;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

use crate::domain::{FieldError, RuleError};

pub use alerts::{AlertFilter, AlertRecord, IntegrationRecord};
pub use incidents::{
    IdempotencyKey, IncidentFilter, IncidentPage, IncidentSummary, Inserted, TimelineEntry,
};
pub use ingest::{AlertIncidentDefaults, Ingest, Ingested, Ingester};
pub use oncall::{
    ContactMethodRecord, EngagementRuleRecord, NotificationRuleRecord, NotificationStep, OrgTx,
    OverrideRecord, PolicyRecord, ScheduleRecord, TeamRecord,
};
pub use paging::{
    Attempt, AttemptRecord, DeliveryJob, DeliveryRecord, DueEscalation, PageRecord, PagingTx,
};
pub use requests::{Claim, ClaimTimes};
pub use users::{ServiceRecord, TokenRecord, UserRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The statement that opens a transaction that will write. On SQLite it takes the write
    /// lock up front (`BEGIN IMMEDIATE`), so it never fails half-way with SQLITE_BUSY on upgrade.
    fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// The suffix that locks the selected rows of `alias` until the transaction ends; SQLite's
    /// write lock (taken by `begin_write`) already covers the whole database.
    fn row_lock(self, alias: &str) -> String {
        match self {
            Backend::Sqlite => String::new(),
            Backend::Postgres => format!(" FOR UPDATE OF {alias}"),
        }
    }

    /// Like `row_lock`, but rows another transaction holds are skipped rather than waited for:
    /// how several instances share out due work.
    fn claim_lock(self, alias: &str) -> String {
        match self {
            Backend::Sqlite => String::new(),
            Backend::Postgres => format!(" FOR UPDATE OF {alias} SKIP LOCKED"),
        }
    }
}

/// Why a storage operation failed, for the cases callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was hit (e.g. the username is taken).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyMismatch,
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A test armed a fault point here (see `crate::faults`).
    #[error("{0}")]
    Injected(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// From the event writer's own SQLite connection (see `direct`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// The database could not be reached, or dropped the connection (a restart, a failover,
    /// an administrator ending sessions): worth retrying on a new connection, and for a
    /// client "unavailable, retry", not "internal error".
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // Class 08: connection exception; 53300: too many connections; 57P01–57P03:
                // the server is shutting down or starting; 55000 on connecting: the database
                // is closed to connections (`ALLOW_CONNECTIONS false`, as during maintenance).
                sqlx::Error::Database(db) => db.code().is_some_and(|c| {
                    c.starts_with("08")
                        || c.starts_with("57P0")
                        || c == "53300"
                        || (c == "55000" && db.message().contains("accepting connections"))
                }),
                _ => false,
            },
            _ => false,
        }
    }
}

impl From<FieldError> for StoreError {
    fn from(e: FieldError) -> Self {
        Self::Rule(e.into())
    }
}

/// Every SQLite connection's settings. WAL lets readers proceed during a write; FULL sync keeps
/// "durable before acknowledged" true across power loss too.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Kept for connections outside the pool (the PostgreSQL change listener).
    url: String,
    /// On SQLite, writers queue here (first come, first served) before taking the database's
    /// write lock. Left to SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between tries,
    /// a writer could wait a quarter of a second behind an event storm's back-to-back batches.
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// Where tests make an operation fail as a crash would (debug builds only).
    faults: Arc<crate::faults::FaultPoints>,
}

/// A write transaction (see `Store::begin_write`): derefs to its connection.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("database URL must start with sqlite: or postgres://, got {url:?}");
        };
        let url = &match backend {
            Backend::Sqlite => sqlite_url_creating_the_file(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| anyhow::anyhow!("invalid database URL {url:?}: {e}"))?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            // While the database is unreachable a request waits this long for a connection,
            // then is answered 503 (the default, 30 s, outlasts most clients' patience).
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(std::time::Duration::from_secs(5))
                    .connect_with(options)
                    .await
            }
        }
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", redact(url)))?;
        let store = Self {
            pool,
            backend,
            url: url.to_string(),
            write_gate: Arc::default(),
            faults: Arc::default(),
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// The fault points of this store and everything using it (see `crate::faults`).
    pub fn faults(&self) -> &crate::faults::FaultPoints {
        &self.faults
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Succeeds when the database answers a query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction that will write (see `Backend::begin_write`).
    async fn begin_write(&self) -> Result<WriteTx> {
        let gate = self.write_turn().await;
        Ok(WriteTx {
            tx: self.pool.begin_with(self.backend.begin_write()).await?,
            _gate: gate,
        })
    }

    /// Waits for this process's turn to write, on SQLite; held until the transaction ends.
    async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_gate.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// The suffix that locks the selected rows of `alias` (see `Backend::row_lock`).
    fn row_lock(&self, alias: &str) -> String {
        self.backend.row_lock(alias)
    }
}

/// A SQLite URL that creates its file when missing (`mode=rwc`, unless the URL sets a mode), so
/// `sqlite:///var/lib/aplomb/aplomb.db` just works; a missing directory is named in the error.
fn sqlite_url_creating_the_file(url: &str) -> anyhow::Result<String> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("invalid database URL {url:?}: {e}"))?;
    let file = options.get_filename();
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !in_memory
        && let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        anyhow::bail!(
            "cannot create the database file {}: the directory {} does not exist",
            file.display(),
            dir.display()
        );
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// Hides a password in a database URL before it is logged.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(row: &AnyRow, column: &str) -> Result<Timestamp> {
    let millis: i64 = row.try_get(column)?;
    Timestamp::from_millisecond(millis).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn opt_ts(row: &AnyRow, column: &str) -> Result<Option<Timestamp>> {
    let millis: Option<i64> = row.try_get(column)?;
    millis
        .map(|m| {
            Timestamp::from_millisecond(m)
                .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
        })
        .transpose()
}

/// Parses a stored enum value; a failure means the database holds something the code never wrote.
fn parsed<T: FromStr>(row: &AnyRow, column: &str) -> Result<T> {
    let raw: String = row.try_get(column)?;
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} holds {raw:?}")))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A transaction PostgreSQL aborted to break a deadlock or a serialization conflict; running
/// it again is the remedy.
fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(sqlx::Error::Database(db))
        if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_sqlite_url_creates_its_file_unless_it_says_otherwise() {
        let dir = std::env::temp_dir();
        let plain = format!("sqlite://{}/aplomb-url-test.db", dir.display());
        assert_eq!(
            super::sqlite_url_creating_the_file(&plain).expect("a URL"),
            format!("{plain}?mode=rwc")
        );
        let read_only = format!("{plain}?mode=ro");
        assert_eq!(
            super::sqlite_url_creating_the_file(&read_only).expect("a URL"),
            read_only
        );
        let error = super::sqlite_url_creating_the_file("sqlite:///no/such/dir/aplomb.db")
            .expect_err("a missing directory")
            .to_string();
        assert!(
            error.contains("the directory /no/such/dir does not exist"),
            "{error}"
        );
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/aplomb"),
            "postgres://app:***@db:5432/aplomb"
        );
        assert_eq!(redact("sqlite://aplomb.db"), "sqlite://aplomb.db");
    }
}
