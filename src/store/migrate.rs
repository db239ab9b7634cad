//! Schema migrations, one list per backend, compiled into the binary.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::{Backend, Store};

/// (version, description, SQLite text, PostgreSQL text). Append only; never edit a shipped entry.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[(
    1,
    "spine",
    include_str!("../../migrations/sqlite/0001_spine.sql"),
    include_str!("../../migrations/postgres/0001_spine.sql"),
)];

/// Applies pending migrations. On PostgreSQL the migrator holds an advisory lock, so several
/// instances starting together migrate once.
pub(super) async fn run(store: &Store) -> anyhow::Result<()> {
    let migrations: Vec<Migration> = MIGRATIONS
        .iter()
        .map(|(version, description, sqlite, postgres)| {
            let sql = match store.backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect();
    let migrator = Migrator {
        migrations: Cow::Owned(migrations),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    migrator
        .run(&store.pool)
        .await
        .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))
}
