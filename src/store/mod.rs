//! Storage: one `Store` over SQLite or PostgreSQL, chosen once from the database URL.
//!
//! The SQL is shared: both backends take `$N` placeholders, store times as Unix milliseconds and
//! flags as integers, so one query serves both. Dialect differences are confined to `Backend`
//! (transaction start, row locks) and to the per-backend migrations in `migrations/`.

mod action_items;
mod alerts;
mod backup;
mod communication;
mod coordination;
mod db;
mod drills;
mod forge;
mod incidents;
mod ingest;
mod investigation;
mod live;
mod maintenance;
mod metrics;
mod migrate;
mod oncall;
mod outbox;
mod paging;
mod playbooks;
mod reports;
mod requests;
mod retention;
mod review;
mod status;
mod subscribers;
mod users;

use std::str::FromStr;
use std::sync::Arc;

use db::{Arg, Conn, Database, Row};
use jiff::Timestamp;

use crate::domain::{FieldError, RuleError};

pub use action_items::{
    ActionItemFilter, ActionItemRecord, ActionItemValues, DueActionItem, TrackerJob,
};
pub use alerts::{AlertFilter, AlertRecord, ChangeEventRecord, IntegrationRecord};
pub use backup::{Restored, restore};
pub use communication::{
    StatusUpdateRecord, SubscriptionRecord, TemplateRecord, UpdateDelivery, last_told,
};
pub use coordination::{CheckInRecord, ResponseChangeRecord, TaskRecord, Work, WorkIncident};
pub use drills::{DrillEventRecord, DrillRecord};
pub use incidents::{
    IdempotencyKey, IncidentFilter, IncidentPage, IncidentSummary, Inserted, TimelineEntry,
    TimelinePage, TimelineWindow,
};
pub use ingest::{AlertIncidentDefaults, BeforeCommit, Ingest, Ingested, Ingester};
pub use investigation::{
    AttachmentRecord, EvidenceRecord, HypothesisRecord, InvestigationTx, LinkedSource, TestRecord,
};
pub use maintenance::{Coverage, MaintenanceRecord};
pub use metrics::PeriodFilter;
pub use oncall::{
    ContactMethodRecord, EngagementRuleRecord, NotificationRuleRecord, NotificationStep, OrgTx,
    OverrideRecord, PolicyRecord, ScheduleRecord, TeamRecord,
};
pub use paging::{
    Attempt, AttemptRecord, DeliveryJob, DeliveryRecord, DueCheckIn, DueEscalation, DueUpdate,
    PageAbout, PageRecord, PagingBacklog, PagingTx,
};
pub use playbooks::{
    ChecklistStep, IncidentPlaybook, PlaybookRecord, PlaybookVersion, VersionFields,
};
pub use reports::{ReportRecord, ReportTx, WaitingCount, WaitingReport};
pub use requests::{Claim, ClaimTimes};
pub use retention::Prunable;
pub use review::{
    Attendee, InviteJob, InviteRecord, MeetingRecord, ReviewComment, ReviewEdit, ReviewRecord,
    ReviewTx,
};
pub use status::ComponentRecord;
pub use subscribers::{NoticeAbout, NoticeJob, SignUp, SubscriberKey, SubscriberRecord};
pub use users::{SYSTEM_USER, ServiceRecord, TokenRecord, UserRecord};

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
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// What this database cannot do (e.g. a backup of PostgreSQL, which pg_dump takes).
    #[error("{0}")]
    Unsupported(&'static str),
    /// A file beside the database could not be read or written.
    #[error("file error: {0}")]
    Io(String),
    /// No connection to the database could be had in time (it is down, or failing over).
    #[error("database unavailable: {0}")]
    Unreachable(String),
}

impl StoreError {
    /// The database could not be reached, or dropped the connection (a restart, a failover,
    /// an administrator ending sessions): worth retrying on a new connection, and for a
    /// client "unavailable, retry", not "internal error".
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Postgres(e) => db::pg_is_unavailable(e),
            StoreError::Unreachable(_) => true,
            _ => false,
        }
    }
}

impl From<FieldError> for StoreError {
    fn from(e: FieldError) -> Self {
        Self::Rule(e.into())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    backend: Backend,
    /// Where tests make an operation fail as a crash would (debug builds only).
    faults: Arc<crate::faults::FaultPoints>,
}

/// A write transaction (see `Store::begin_write`): derefs to its connection.
pub struct WriteTx {
    conn: Conn,
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        self.conn.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Conn;
    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let (backend, db) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (
                Backend::Postgres,
                Database::Postgres(db::Postgres::new(url)?),
            )
        } else if url.starts_with("sqlite:") {
            let location = db::Location::parse(url)?;
            let db = db::Sqlite::open(&location)
                .map_err(|e| anyhow::anyhow!("cannot open database {url}: {e}"))?;
            (Backend::Sqlite, Database::Sqlite(db))
        } else {
            anyhow::bail!("database URL must start with sqlite: or postgres://, got {url:?}");
        };
        let store = Self {
            db: Arc::new(db),
            backend,
            faults: Arc::default(),
        };
        store
            .ping()
            .await
            .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", redact(url)))?;
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
        self.read().await?.fetch_all("SELECT 1", &[]).await?;
        Ok(())
    }

    /// A connection for reading (on SQLite, one of the read-only connections beside the
    /// writer's).
    async fn read(&self) -> Result<Conn> {
        self.db.reader().await
    }

    /// The rows of a read-only statement, on a read connection.
    async fn fetch_all(&self, sql: &str, args: &[Arg]) -> Result<Vec<Row>> {
        self.read().await?.fetch_all(sql, args).await
    }

    /// The first row of a read-only statement, if any, on a read connection.
    async fn fetch_optional(&self, sql: &str, args: &[Arg]) -> Result<Option<Row>> {
        self.read().await?.fetch_optional(sql, args).await
    }

    /// Runs one statement that writes, as a transaction of its own; the rows it changed.
    async fn write_one(&self, sql: &str, args: &[Arg]) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let changed = tx.execute(sql, args).await?;
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn close(&self) {
        self.db.close();
    }

    /// Starts a transaction that will write (see `Backend::begin_write`). On SQLite, writers
    /// queue for the one writer connection, first come first served.
    async fn begin_write(&self) -> Result<WriteTx> {
        Ok(WriteTx {
            conn: self.db.writer(self.backend.begin_write()).await?,
        })
    }

    /// The suffix that locks the selected rows of `alias` (see `Backend::row_lock`).
    fn row_lock(&self, alias: &str) -> String {
        self.backend.row_lock(alias)
    }
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

/// Fails with `StoreError::Injected` when a test armed or holds `point` (see `crate::faults`).
fn check_fault(faults: &crate::faults::FaultPoints, point: &'static str) -> Result<()> {
    faults
        .check(point)
        .map_err(|e| StoreError::Injected(e.to_string()))
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

impl Row {
    /// A time stored as Unix milliseconds.
    fn ts(&self, column: &str) -> Result<Timestamp> {
        let millis: i64 = self.get(column)?;
        Timestamp::from_millisecond(millis)
            .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    }

    fn opt_ts(&self, column: &str) -> Result<Option<Timestamp>> {
        let millis: Option<i64> = self.get(column)?;
        millis
            .map(|m| {
                Timestamp::from_millisecond(m)
                    .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
            })
            .transpose()
    }

    /// Parses a stored enum value; a failure means the database holds something the code
    /// never wrote.
    fn parsed<T: FromStr>(&self, column: &str) -> Result<T> {
        let raw: String = self.get(column)?;
        raw.parse()
            .map_err(|_| StoreError::Corrupt(format!("{column} holds {raw:?}")))
    }

    /// `parsed`, of a column that may be NULL.
    fn opt_parsed<T: FromStr>(&self, column: &str) -> Result<Option<T>> {
        let raw: Option<String> = self.get(column)?;
        raw.map(|raw| {
            raw.parse()
                .map_err(|_| StoreError::Corrupt(format!("{column} holds {raw:?}")))
        })
        .transpose()
    }
}

impl StoreError {
    /// A uniqueness rule was hit (e.g. a username taken).
    fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => db::sqlite_is_unique_violation(e),
            _ => self.sqlstate().as_deref() == Some("23505"),
        }
    }

    /// The SQLSTATE code of a database error, if it is one.
    fn sqlstate(&self) -> Option<String> {
        match self {
            StoreError::Postgres(e) => db::pg_sqlstate(e).map(String::from),
            _ => None,
        }
    }
}

/// A transaction PostgreSQL aborted to break a deadlock or a serialization conflict; running
/// it again is the remedy.
fn is_retryable(e: &StoreError) -> bool {
    matches!(e.sqlstate().as_deref(), Some("40P01" | "40001"))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/aplomb"),
            "postgres://app:***@db:5432/aplomb"
        );
        assert_eq!(redact("sqlite://aplomb.db"), "sqlite://aplomb.db");
    }

    #[test]
    fn the_sql_test_of_a_drill_is_the_domains() {
        use crate::domain::incident::Origin;
        assert_eq!(
            super::db::not_drill!(),
            format!("i.origin <> '{}'", Origin::Drill.as_str())
        );
    }

    #[test]
    fn the_sql_list_of_closed_statuses_is_the_domains() {
        use crate::domain::incident::Status;
        let over: Vec<String> = Status::ALL
            .iter()
            .filter(|s| !s.is_active())
            .map(|s| format!("'{s}'"))
            .collect();
        assert_eq!(
            super::db::closed_statuses!(),
            format!("({})", over.join(", "))
        );
    }
}
