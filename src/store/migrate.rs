//! Schema migrations: one list, written once for both backends, compiled into the binary.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::{Backend, Store};

/// (version, description, SQL). Append only; never edit a shipped entry.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "spine", include_str!("../../migrations/0001_spine.sql")),
    (
        2,
        "oncall",
        include_str!("../../migrations/0002_oncall.sql"),
    ),
    (
        3,
        "alerts",
        include_str!("../../migrations/0003_alerts.sql"),
    ),
    (
        4,
        "silences",
        include_str!("../../migrations/0004_silences.sql"),
    ),
    (
        5,
        "ingest routes",
        include_str!("../../migrations/0005_ingest_routes.sql"),
    ),
    (
        6,
        "paging stops, idempotent requests",
        include_str!("../../migrations/0006_paging_and_requests.sql"),
    ),
    (
        7,
        "incident version",
        include_str!("../../migrations/0007_incident_version.sql"),
    ),
];

/// Turns the shared migration text into one backend's dialect.
fn dialect(sql: &str, backend: Backend) -> String {
    let id_column = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    sql.replace("ID_COLUMN", id_column)
}

/// Applies pending migrations. On PostgreSQL the migrator holds an advisory lock, so several
/// instances starting together migrate once.
pub(super) async fn run(store: &Store) -> anyhow::Result<()> {
    let migrations: Vec<Migration> = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Owned(dialect(sql, store.backend)),
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
