//! Backups of a SQLite database: a consistent copy taken while aplomb serves, and its
//! restoration while aplomb is stopped. PostgreSQL has its own tools for both (`pg_dump`,
//! `pg_restore`: see the README).
//!
//! The copy is `VACUUM INTO` on a read-only connection of its own: one read transaction, so
//! a consistent snapshot, which WAL lets run beside the writer (ingestion is not held up),
//! and compacted as it is written. A restore copies the backup into the database with
//! SQLite's backup API in one write transaction, so one cut short leaves the database as it
//! was.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::db::{Database, Location};
use super::{Result, Store, StoreError, migrate};
use crate::secret::new_secret;

/// What a restore put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub database: PathBuf,
    /// The newest schema migration the backup had (aplomb brings it up to date at start).
    pub schema_version: i64,
    pub incidents: i64,
    pub alerts: i64,
    pub users: i64,
}

impl Store {
    /// A consistent copy of the database as an open file. It was written beside the database
    /// (where there is room for one) and its name is gone already: it lives until closed.
    pub async fn backup(&self) -> Result<std::fs::File> {
        let file = match &*self.db {
            Database::Sqlite(db) => db.file().map(Path::to_path_buf),
            Database::Postgres(_) => {
                return Err(StoreError::Unsupported(
                    "a PostgreSQL database is backed up with pg_dump (see the README's Backups and retention)",
                ));
            }
        };
        let file = file.ok_or(StoreError::Unsupported(
            "an in-memory database has nothing to back up",
        ))?;
        tokio::task::spawn_blocking(move || snapshot(&file))
            .await
            .map_err(|e| StoreError::Io(format!("the backup task stopped: {e}")))?
    }
}

fn snapshot(database: &Path) -> Result<std::fs::File> {
    let copy = beside(database, &format!("backup-{}", &new_secret()[..12]));
    let conn = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A checkpoint running beside the copy may hold the file for a moment: wait, do not fail.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // A lossy name would make VACUUM write a file other than the one removed below, leaving a
    // full copy of the database behind.
    let target = copy
        .to_str()
        .ok_or_else(|| StoreError::Io(format!("{} is not a UTF-8 path", database.display())))?;
    let written = conn.execute("VACUUM INTO ?1", [target]);
    let opened = written.map_err(StoreError::from).and_then(|_| {
        std::fs::File::open(&copy).map_err(|e| StoreError::Io(format!("{}: {e}", copy.display())))
    });
    let _ = std::fs::remove_file(&copy);
    opened
}

/// `database` with `.suffix` after its name, in its directory.
fn beside(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    database.with_file_name(name)
}

/// Puts the backup at `backup` in place of the SQLite database at `url`, which nothing may
/// be using: stop every `aplomb serve` on it first. The backup is checked before anything is
/// touched: it must be an intact aplomb database no newer than this aplomb.
pub fn restore(backup: &Path, url: &str) -> anyhow::Result<Restored> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!(
            "a PostgreSQL database is restored with pg_restore (see the README's Backups and retention); \
             aplomb restore writes SQLite files"
        );
    }
    let location = Location::parse(url)?;
    let target = location
        .file
        .ok_or_else(|| anyhow::anyhow!("{url} is an in-memory database: restore into a file"))?;
    let named = |e: rusqlite::Error| anyhow::anyhow!("{}: {e}", backup.display());
    if !backup.is_file() {
        anyhow::bail!("{}: no such backup file", backup.display());
    }
    let source = Connection::open_with_flags(
        backup,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(named)?;
    let intact: String = source
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| anyhow::anyhow!("{} is not a SQLite database: {e}", backup.display()))?;
    anyhow::ensure!(
        intact == "ok",
        "{} is damaged ({intact}); restore another backup",
        backup.display()
    );
    let schema_version: i64 = source
        .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .map_err(|_| anyhow::anyhow!("{} is not an aplomb database", backup.display()))?;
    anyhow::ensure!(
        schema_version <= migrate::latest(),
        "{} was made by a newer aplomb (schema {schema_version}; this one knows up to {}): \
         restore it with that version",
        backup.display(),
        migrate::latest()
    );

    let mut target_conn =
        Connection::open(&target).map_err(|e| anyhow::anyhow!("{}: {e}", target.display()))?;
    // Held to the end: no server can open the database while it is being replaced, and one
    // that has it open already makes this fail rather than have its data swapped under it.
    target_conn
        .execute_batch(
            "PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;",
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                anyhow::anyhow!(
                    "{} is in use: stop aplomb serve (every instance using it) before restoring",
                    target.display()
                )
            }
            _ => anyhow::anyhow!("{}: {e}", target.display()),
        })?;
    rusqlite::backup::Backup::new(&source, &mut target_conn)
        .and_then(|copy| copy.step(-1))
        .map_err(|e| anyhow::anyhow!("restoring into {}: {e}", target.display()))?;
    let count = |table: &str| -> anyhow::Result<i64> {
        Ok(target_conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    };
    Ok(Restored {
        incidents: count("incidents")?,
        alerts: count("alerts")?,
        users: count("users")?,
        database: target,
        schema_version,
    })
}
