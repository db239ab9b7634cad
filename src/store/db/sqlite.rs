//! SQLite through rusqlite. A statement runs on the thread that calls it, on a connection the
//! caller holds for the whole transaction: no statement is handed to another thread and back.
//!
//! One writer connection, behind a fair async mutex: SQLite has one writer at a time anyway,
//! and queueing writers here (first come, first served) keeps them out of SQLite's busy
//! handler, whose sleeps of 1, 2, 5, 10… ms would make a writer wait behind an event storm.
//! Reads go to a few connections of their own (`query_only`), which WAL lets run beside the
//! writer, so pages stay fast while alerts are written.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use super::{Arg, Row, Value};
use crate::store::{Result, StoreError};

/// Every connection's settings. WAL lets readers proceed during a write; FULL sync keeps
/// "durable before acknowledged" true across power loss too.
const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

/// Read connections: enough for a few pages at once beside the writer on a small machine.
const READERS: usize = 4;

/// Prepared statements kept per connection. A hundred-row upsert is a large statement, so the
/// cache stays well under a hundred of them.
const STATEMENT_CACHE: usize = 64;

/// Where a SQLite URL points and how to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store) struct Location {
    /// `None` for an in-memory database.
    pub file: Option<PathBuf>,
    /// `mode=` of the URL: `ro`, `rw` or `rwc` (the default: create the file when missing).
    pub mode: String,
}

impl Location {
    /// Reads `sqlite://path`, `sqlite:path` or `sqlite::memory:`, with an optional `?mode=`.
    /// A file that may be created needs its directory: a missing one is named in the error.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("sqlite:")
            .ok_or_else(|| anyhow::anyhow!("a SQLite URL starts with sqlite:, got {url:?}"))?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut mode = "rwc".to_string();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("mode", m)) if ["ro", "rw", "rwc", "memory"].contains(&m) => {
                    mode = m.to_string()
                }
                _ => anyhow::bail!(
                    "invalid database URL {url:?}: unknown parameter {pair:?} (only mode=ro|rw|rwc|memory)"
                ),
            }
        }
        if path.is_empty() || path == ":memory:" || mode == "memory" {
            return Ok(Self {
                file: None,
                mode: "rwc".into(),
            });
        }
        let file = PathBuf::from(path);
        if mode == "rwc"
            && let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            anyhow::bail!(
                "cannot create the database file {}: the directory {} does not exist",
                file.display(),
                dir.display()
            );
        }
        Ok(Self {
            file: Some(file),
            mode,
        })
    }

    fn flags(&self) -> OpenFlags {
        let base = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        base | match self.mode.as_str() {
            "ro" => OpenFlags::SQLITE_OPEN_READ_ONLY,
            "rw" => OpenFlags::SQLITE_OPEN_READ_WRITE,
            _ => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        }
    }
}

/// The connections to one SQLite database.
pub(in crate::store) struct Sqlite {
    writer: Arc<tokio::sync::Mutex<Connection>>,
    /// `None` for an in-memory database, which only its own connection can see: reads then
    /// take the writer's turn.
    readers: Option<Arc<Readers>>,
}

struct Readers {
    file: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// A connection held by one caller: the writer's (for a whole transaction) or a reader's.
pub(in crate::store) enum Held {
    Writer(OwnedMutexGuard<Connection>),
    Reader(Reader),
}

pub(in crate::store) struct Reader {
    conn: Option<Connection>,
    readers: Arc<Readers>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.readers.idle.lock()) {
            idle.push(conn);
        }
    }
}

impl Drop for Held {
    /// A transaction left open (its caller returned early with an error) is rolled back, so
    /// the next writer starts clean.
    fn drop(&mut self) {
        if let Held::Writer(conn) = self
            && !conn.is_autocommit()
        {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

impl Sqlite {
    pub fn open(location: &Location) -> Result<Self> {
        let path = location
            .file
            .as_deref()
            .unwrap_or_else(|| Path::new(":memory:"));
        let writer = open_connection(path, location.flags())?;
        let readers = location.file.clone().map(|file| {
            Arc::new(Readers {
                file,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(READERS)),
            })
        });
        Ok(Self {
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers,
        })
    }

    /// The database's file; `None` in memory.
    pub fn file(&self) -> Option<&Path> {
        self.readers.as_ref().map(|r| r.file.as_path())
    }

    /// The writer's connection, once every writer before this one is done with it.
    pub async fn writer(&self) -> Held {
        Held::Writer(self.writer.clone().lock_owned().await)
    }

    pub async fn reader(&self) -> Result<Held> {
        let Some(readers) = &self.readers else {
            return Ok(self.writer().await);
        };
        let permit = readers
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Corrupt("the read connections are closed".into()))?;
        let idle = readers.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = open_connection(
                    &readers.file,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                conn.execute_batch("PRAGMA query_only = ON")?;
                conn
            }
        };
        Ok(Held::Reader(Reader {
            conn: Some(conn),
            readers: readers.clone(),
            _permit: permit,
        }))
    }
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.execute_batch(PRAGMAS)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

impl Held {
    fn conn(&self) -> &Connection {
        match self {
            Held::Writer(conn) => conn,
            Held::Reader(reader) => reader
                .conn
                .as_ref()
                .expect("a held reader has its connection"),
        }
    }

    pub fn batch(&self, sql: &str) -> Result<()> {
        let conn = self.conn();
        if sql == "COMMIT" {
            // The commit waits for the disk (fsync): the runtime moves its other tasks to
            // another thread meanwhile. The statements before it are too short to be worth that.
            blocking(|| conn.execute_batch(sql))?;
        } else {
            conn.execute_batch(sql)?;
        }
        Ok(())
    }

    pub fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64> {
        let mut statement = prepared(self.conn(), sql, args)?;
        Ok(statement.raw_execute()? as u64)
    }

    pub fn fetch_all(&self, sql: &str, args: &[Arg]) -> Result<Vec<Row>> {
        let mut statement = prepared(self.conn(), sql, args)?;
        let columns: Arc<[String]> = statement
            .column_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        let width = columns.len();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                });
            }
            out.push(Row {
                columns: columns.clone(),
                values,
            });
        }
        Ok(out)
    }
}

/// Runs `f`, which blocks on the disk, letting the runtime (when it has worker threads to
/// spare) move its other tasks on meanwhile.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(v) => ToSqlOutput::from(*v),
            Arg::Text(v) => ToSqlOutput::from(v.as_str()),
            Arg::Bytes(v) => ToSqlOutput::from(v.as_slice()),
            Arg::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
        })
    }
}

/// The cached statement for `sql` with `args` bound: `$N` takes `args[N-1]`, wherever and
/// however often it appears. (SQLite would treat `$N` as a name, found by a linear search per
/// placeholder; `?N` is the N-th parameter by definition.)
fn prepared<'c>(
    conn: &'c Connection,
    sql: &str,
    args: &[Arg],
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut statement = conn.prepare_cached(&numbered(sql))?;
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

/// `sql` with each `$N` written `?N`. Statements take every value as an argument, so a `$`
/// followed by a digit is always a placeholder.
fn numbered(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return sql.into();
    }
    let mut bytes = sql.as_bytes().to_vec();
    for i in 0..bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            bytes[i] = b'?';
        }
    }
    // One ASCII byte replaced by another keeps the text valid UTF-8.
    String::from_utf8(bytes).map_or(sql.into(), Into::into)
}

/// A uniqueness rule was hit.
pub(in crate::store) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_bind_by_number_wherever_they_appear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = Location::parse(&format!("sqlite://{}/t.db", dir.path().display()))
            .expect("a location");
        let db = Sqlite::open(&location).expect("open");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let conn = rt.block_on(db.writer());
        conn.batch("CREATE TABLE t (a INTEGER, b TEXT, c INTEGER)")
            .expect("create");
        let args = [Arg::Int(7), Arg::from("x"), Arg::Null];
        conn.execute(
            "INSERT INTO t (b, a, c) VALUES ($2, $1, $3), ($2, $1, $1)",
            &args,
        )
        .expect("insert");
        let rows = conn
            .fetch_all("SELECT a, b, c FROM t ORDER BY c", &[])
            .expect("select");
        let read = |r: &Row| {
            (
                r.get::<i64>("a").expect("a"),
                r.get::<String>(1).expect("b"),
                r.get::<Option<i64>>("c").expect("c"),
            )
        };
        assert_eq!(
            rows.iter().map(read).collect::<Vec<_>>(),
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
        drop(conn);
        let reader = rt.block_on(db.reader()).expect("a reader");
        let wal = reader
            .fetch_all("PRAGMA journal_mode", &[])
            .expect("journal mode");
        assert_eq!(wal[0].get::<String>(0).expect("mode"), "wal");
        let refused = reader.execute("DELETE FROM t", &[]);
        assert!(refused.is_err(), "a reader wrote: {refused:?}");
    }

    #[test]
    fn a_sqlite_url_creates_its_file_unless_it_says_otherwise() {
        let dir = std::env::temp_dir();
        let plain = format!("sqlite://{}/aplomb-url-test.db", dir.display());
        let location = Location::parse(&plain).expect("a URL");
        assert_eq!(location.mode, "rwc");
        assert_eq!(
            location.file.as_deref(),
            Some(dir.join("aplomb-url-test.db").as_path())
        );
        let read_only = Location::parse(&format!("{plain}?mode=ro")).expect("a URL");
        assert_eq!(read_only.mode, "ro");
        assert_eq!(
            Location::parse("sqlite::memory:").expect("memory").file,
            None
        );
        let error = Location::parse("sqlite:///no/such/dir/aplomb.db")
            .expect_err("a missing directory")
            .to_string();
        assert!(
            error.contains("the directory /no/such/dir does not exist"),
            "{error}"
        );
        let unknown = Location::parse(&format!("{plain}?cache=shared"))
            .expect_err("an unknown parameter")
            .to_string();
        assert!(unknown.contains("cache=shared"), "{unknown}");
    }
}
