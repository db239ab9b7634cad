//! The executor every store module runs its SQL through, the same for both backends: a
//! connection (`Conn`, a read connection or a write transaction) that executes a statement or
//! fetches its rows, with one argument type (`Arg`) and one row type (`Row`).
//!
//! Statements use `$N` placeholders on both backends; `$N` takes `args[N-1]`.
//!
//! SQLite (`sqlite`) runs a statement on the calling thread, on a connection the caller holds
//! from BEGIN to COMMIT; PostgreSQL (`postgres`) sends it to the server on a pooled client.

mod postgres;
mod sqlite;

use std::sync::Arc;

use super::{Result, StoreError};

pub(super) use postgres::{Postgres, is_unavailable as pg_is_unavailable, sqlstate as pg_sqlstate};
pub(super) use sqlite::{Location, Sqlite, is_unique_violation as sqlite_is_unique_violation};

/// A statement argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
    /// Raw bytes (an attachment's content): a BLOB on SQLite, a bytea on PostgreSQL.
    Bytes(Vec<u8>),
    Null,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<&i64> for Arg {
    fn from(v: &i64) -> Self {
        Arg::Int(*v)
    }
}

impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}

impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Bytes(v.to_vec())
    }
}

impl<T: Into<Arg>> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}

/// The arguments of a statement, `$1` first: `args![id, name, None::<i64>]`.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$($crate::store::db::Arg::from($arg)),*][..]
    };
}
pub(super) use args;

/// The statuses of an incident whose response is over, as an SQL list:
/// `concat!("… i.status NOT IN ", closed_statuses!())` (`Status::is_active` is the rule).
macro_rules! closed_statuses {
    () => {
        "('resolved', 'reviewed')"
    };
}
pub(super) use closed_statuses;

/// A query's WHERE conditions and the values they bind, `$N` numbered in the order bound:
/// how a list filtered by what its caller gave is written once.
#[derive(Debug, Default)]
pub(super) struct Conditions {
    conditions: Vec<String>,
    pub(super) values: Vec<Arg>,
}

impl Conditions {
    /// Binds `value`, answering its placeholder (`$3`).
    pub(super) fn bind(&mut self, value: impl Into<Arg>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    pub(super) fn push(&mut self, condition: impl Into<String>) {
        self.conditions.push(condition.into());
    }

    /// Only incidents (`incidents i`) `viewer` may see: every one for an admin, otherwise the
    /// public ones and the private ones they take part in; `None`, only the public ones.
    pub(super) fn visible_to(&mut self, viewer: Option<&crate::domain::access::Actor>) {
        match viewer {
            Some(v) if v.is_admin() => {}
            Some(v) => {
                let p = self.bind(v.id);
                self.push(format!(
                    "(i.private = 0 OR EXISTS (SELECT 1 FROM participants p WHERE p.incident_id = i.id AND p.user_id = {p}))"
                ));
            }
            None => self.push("i.private = 0"),
        }
    }

    /// ` WHERE a AND b`, or nothing without a condition.
    pub(super) fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// An SQL condition on `incidents i` that it is real, not a drill (`Origin::Drill`): drills
/// are kept off the status page, out of the metrics, and joined by no real alert or report.
macro_rules! not_drill {
    () => {
        "i.origin <> 'drill'"
    };
}
pub(super) use not_drill;

/// One column's value as the database answered it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A row of a statement's answer, read by column name or position.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

/// A way to name a column of a `Row`: its name or its position from 0.
pub trait Column: Copy + std::fmt::Display {
    fn position(self, columns: &[String]) -> Option<usize>;
}

impl Column for &str {
    fn position(self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
}

impl Column for usize {
    fn position(self, columns: &[String]) -> Option<usize> {
        (self < columns.len()).then_some(self)
    }
}

/// A Rust type a column's value reads as.
pub trait FromValue: Sized {
    const EXPECTED: &'static str;
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    const EXPECTED: &'static str = "an integer";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }
}

impl FromValue for bool {
    const EXPECTED: &'static str = "a flag";
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).map(|v| v != 0)
    }
}

impl FromValue for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Real(v) => Some(*v),
            #[allow(clippy::cast_precision_loss)]
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    const EXPECTED: &'static str = "text";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    const EXPECTED: &'static str = "bytes";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Bytes(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl Row {
    /// The value of `column`; a missing column or a value of another type means the SQL and
    /// the code disagree, reported as corrupt data rather than a panic.
    pub fn get<T: FromValue>(&self, column: impl Column) -> Result<T> {
        let value = column
            .position(&self.columns)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| StoreError::Corrupt(format!("no column {column} in the answer")))?;
        T::from_value(value).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "{column} holds {value:?}, expected {}",
                T::EXPECTED
            ))
        })
    }
}

/// The connections of one database.
pub(super) enum Database {
    Sqlite(sqlite::Sqlite),
    Postgres(Arc<postgres::Postgres>),
}

impl Database {
    /// A connection for reading: on SQLite one of the read connections beside the writer's,
    /// on PostgreSQL one of the pool's.
    pub async fn reader(&self) -> Result<Conn> {
        Ok(Conn {
            inner: match self {
                Database::Sqlite(db) => Inner::Sqlite(db.reader().await?),
                Database::Postgres(db) => Inner::Postgres(db.acquire().await?),
            },
        })
    }

    /// A connection inside a transaction that will write, opened with `begin` (see
    /// `Backend::begin_write`). On SQLite it is the one writer connection: callers queue for it.
    pub async fn writer(&self, begin: &str) -> Result<Conn> {
        let mut conn = Conn {
            inner: match self {
                Database::Sqlite(db) => Inner::Sqlite(db.writer().await),
                Database::Postgres(db) => Inner::Postgres(db.acquire().await?),
            },
        };
        conn.batch(begin).await?;
        Ok(conn)
    }

    pub fn close(&self) {
        if let Database::Postgres(db) = self {
            db.close();
        }
    }
}

/// A connection to run statements on: a read connection, or the connection of a write
/// transaction (see `super::WriteTx`). On SQLite every statement runs right here, on the
/// calling thread.
pub struct Conn {
    inner: Inner,
}

enum Inner {
    Sqlite(sqlite::Held),
    Postgres(postgres::Held),
}

impl Conn {
    /// Runs a statement; the number of rows it changed.
    pub async fn execute(&mut self, sql: &str, args: &[Arg]) -> Result<u64> {
        match &mut self.inner {
            Inner::Sqlite(c) => c.execute(sql, args),
            Inner::Postgres(c) => c.execute(sql, args).await,
        }
    }

    /// Runs statements that take no arguments and answer nothing (`BEGIN`, a migration).
    pub async fn batch(&mut self, sql: &str) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(c) => c.batch(sql),
            Inner::Postgres(c) => c.batch(sql).await,
        }
    }

    pub async fn fetch_all(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>> {
        match &mut self.inner {
            Inner::Sqlite(c) => c.fetch_all(sql, args),
            Inner::Postgres(c) => c.fetch_all(sql, args).await,
        }
    }

    pub async fn fetch_optional(&mut self, sql: &str, args: &[Arg]) -> Result<Option<Row>> {
        Ok(self.fetch_all(sql, args).await?.into_iter().next())
    }

    /// The first row of the answer; none is `StoreError::NotFound`.
    pub async fn fetch_one(&mut self, sql: &str, args: &[Arg]) -> Result<Row> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub(super) async fn commit(mut self) -> Result<()> {
        self.batch("COMMIT").await
    }
}
