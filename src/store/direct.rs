//! SQLite statements run on the caller's own thread, for the event writer's hot path.
//!
//! sqlx runs every SQLite statement on a worker thread of its own, so each statement costs two
//! thread wake-ups (there and back: 50–100 µs on a small VM), several times the statement
//! itself. A batch of alerts is a handful of statements and one fsync, so those hand-offs were
//! most of its time. `DirectConn` is a second connection to the same database file, through
//! rusqlite over the same compiled SQLite (one `libsqlite3-sys` in the build), and runs a
//! whole batch without leaving the thread. Statements keep sqlx's `$N` placeholders and take
//! their arguments as `Arg`s, so the SQL text and arguments are built once for both paths.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::sqlite::SqliteConnectOptions;

use super::{Result, SQLITE_PRAGMAS, StoreError};

/// A statement argument either connection binds.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Arg {
    Int(i64),
    Text(String),
    Null,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::Null, Arg::Int)
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(v) => ToSqlOutput::from(*v),
            Arg::Text(v) => ToSqlOutput::from(v.as_str()),
            Arg::Null => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// Binds `args` to a sqlx query, `$1` first.
pub(super) fn bind_args<'q>(
    mut query: Query<'q, sqlx::Any, AnyArguments<'q>>,
    args: &'q [Arg],
) -> Query<'q, sqlx::Any, AnyArguments<'q>> {
    for arg in args {
        query = match arg {
            Arg::Int(v) => query.bind(*v),
            Arg::Text(v) => query.bind(v.as_str()),
            Arg::Null => query.bind(None::<i64>),
        };
    }
    query
}

/// The database file behind a SQLite URL, when there is one on disk (not in memory).
pub(super) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    path.is_file().then(|| path.to_path_buf())
}

/// A rusqlite connection with the pool's pragmas and a statement cache for the row counts a
/// steady load uses (each count is its own statement; a hundred-row upsert is a large one, so
/// the cache is kept well under a hundred to bound memory).
pub(super) struct DirectConn {
    conn: Connection,
}

impl DirectConn {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(SQLITE_PRAGMAS)?;
        conn.set_prepared_statement_cache_capacity(48);
        Ok(Self { conn })
    }

    /// Runs statements that take no arguments and answer no rows (BEGIN, COMMIT).
    pub fn batch(&self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql)?;
        Ok(())
    }

    pub fn execute(&self, sql: &str, args: &[Arg]) -> Result<usize> {
        let mut statement = self.prepared(sql, args)?;
        Ok(statement.raw_execute()?)
    }

    /// The rows a statement answers, each read by `read`.
    pub fn query<T>(
        &self,
        sql: &str,
        args: &[Arg],
        mut read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut statement = self.prepared(sql, args)?;
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(read(row)?);
        }
        Ok(out)
    }

    /// The cached statement for `sql` with `args` bound: `$N` takes `args[N-1]`, wherever and
    /// however often it appears. (SQLite would treat `$N` as a name, found by a linear search
    /// per placeholder; `?N` is the N-th parameter by definition.)
    fn prepared(&self, sql: &str, args: &[Arg]) -> Result<rusqlite::CachedStatement<'_>> {
        let mut statement = self.conn.prepare_cached(&numbered(sql))?;
        if statement.parameter_count() > args.len() {
            return Err(StoreError::Corrupt(format!(
                "a statement takes {} arguments, given {}",
                statement.parameter_count(),
                args.len()
            )));
        }
        for (index, arg) in args.iter().enumerate().take(statement.parameter_count()) {
            statement.raw_bind_parameter(index + 1, arg)?;
        }
        Ok(statement)
    }
}

/// `sql` with each `$N` written `?N`. The statements run here take every value as an
/// argument, so a `$` followed by a digit is always a placeholder.
fn numbered(sql: &str) -> std::borrow::Cow<'_, str> {
    let mut bytes = sql.as_bytes().to_vec();
    for i in 0..bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            bytes[i] = b'?';
        }
    }
    // One ASCII byte replaced by another keeps the text valid UTF-8.
    String::from_utf8(bytes).map_or(sql.into(), Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_bind_by_number_wherever_they_appear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        Connection::open(&path)
            .and_then(|c| c.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c INTEGER)"))
            .expect("create");
        let conn = DirectConn::open(&path).expect("open");
        let args = [Arg::Int(7), Arg::from("x"), Arg::Null];
        conn.execute(
            "INSERT INTO t (b, a, c) VALUES ($2, $1, $3), ($2, $1, $1)",
            &args,
        )
        .expect("insert");
        let rows = conn
            .query("SELECT a, b, c FROM t ORDER BY c", &[], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })
            .expect("select");
        assert_eq!(
            rows,
            vec![(7, "x".to_string(), None), (7, "x".to_string(), Some(7))]
        );
        assert_eq!(
            numbered("SELECT $1, '€', $12, $x"),
            "SELECT ?1, '€', ?12, $x"
        );
        let missing = conn.execute("INSERT INTO t (a) VALUES ($4)", &args);
        assert!(
            matches!(missing, Err(StoreError::Corrupt(_))),
            "{missing:?}"
        );
        let wal: String = conn
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode");
        assert_eq!(wal, "wal");
    }
}
