//! Schema migrations: one list, written once for both backends, compiled into the binary.

use super::db::{Conn, args};
use super::{Backend, Result, Store, StoreError};

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
    (
        8,
        "incident alerts by recency",
        include_str!("../../migrations/0008_incident_alerts.sql"),
    ),
    (
        9,
        "investigation",
        include_str!("../../migrations/0009_investigation.sql"),
    ),
    (
        10,
        "response changes",
        include_str!("../../migrations/0010_response_changes.sql"),
    ),
    (11, "tasks", include_str!("../../migrations/0011_tasks.sql")),
    (
        12,
        "user reports",
        include_str!("../../migrations/0012_user_reports.sql"),
    ),
    (13, "forge", include_str!("../../migrations/0013_forge.sql")),
    (
        14,
        "evidence attachments",
        include_str!("../../migrations/0014_attachments.sql"),
    ),
    (
        15,
        "status updates",
        include_str!("../../migrations/0015_status_updates.sql"),
    ),
    (
        16,
        "update cadence",
        include_str!("../../migrations/0016_update_cadence.sql"),
    ),
    (
        17,
        "status page",
        include_str!("../../migrations/0017_status_page.sql"),
    ),
    (
        18,
        "scheduled maintenance",
        include_str!("../../migrations/0018_maintenance.sql"),
    ),
    (
        19,
        "update subscriptions",
        include_str!("../../migrations/0019_update_subscriptions.sql"),
    ),
    (
        20,
        "status page subscribers",
        include_str!("../../migrations/0020_status_subscribers.sql"),
    ),
    (
        21,
        "update templates",
        include_str!("../../migrations/0021_update_templates.sql"),
    ),
    (
        22,
        "subscription audience",
        include_str!("../../migrations/0022_subscription_audience.sql"),
    ),
    (
        23,
        "status page brand",
        include_str!("../../migrations/0023_status_brand.sql"),
    ),
    (
        24,
        "retention indexes",
        include_str!("../../migrations/0024_retention.sql"),
    ),
    (
        25,
        "evidence by alert",
        include_str!("../../migrations/0025_evidence_alert.sql"),
    ),
    (
        26,
        "reviews",
        include_str!("../../migrations/0026_reviews.sql"),
    ),
    (
        27,
        "action items",
        include_str!("../../migrations/0027_action_items.sql"),
    ),
    (
        28,
        "playbooks",
        include_str!("../../migrations/0028_playbooks.sql"),
    ),
    (
        29,
        "drills",
        include_str!("../../migrations/0029_drills.sql"),
    ),
    (
        30,
        "review comments",
        include_str!("../../migrations/0030_review_comments.sql"),
    ),
    (
        31,
        "review meetings",
        include_str!("../../migrations/0031_review_meetings.sql"),
    ),
    (
        32,
        "action item playbook",
        include_str!("../../migrations/0032_action_item_playbook.sql"),
    ),
];

/// The newest migration this aplomb knows.
pub(super) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// Turns the shared migration text into one backend's dialect.
fn dialect(sql: &str, backend: Backend) -> String {
    let (id_column, bytes_column) = match backend {
        Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
    };
    sql.replace("ID_COLUMN", id_column)
        .replace("BYTES_COLUMN", bytes_column)
}

/// Applies pending migrations, all in one transaction: on PostgreSQL the transaction first
/// takes an advisory lock, so several instances starting together migrate once (the others
/// wait, then find nothing left to do); on SQLite the write lock does the same.
pub(super) async fn run(store: &Store) -> anyhow::Result<()> {
    let failed = |e: StoreError| anyhow::anyhow!("database migration failed: {e}");
    let mut tx = store.begin_write().await.map_err(failed)?;
    if store.backend == Backend::Postgres {
        tx.fetch_all("SELECT pg_advisory_xact_lock($1)", args![MIGRATION_LOCK])
            .await
            .map_err(failed)?;
    }
    tx.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await
    .map_err(failed)?;
    adopt_earlier_record(&mut tx, store.backend)
        .await
        .map_err(failed)?;
    let applied: Vec<i64> = tx
        .fetch_all("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(failed)?
        .iter()
        .map(|r| r.get("version"))
        .collect::<Result<_, _>>()
        .map_err(failed)?;
    for (version, description, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.batch(&dialect(sql, store.backend)).await.map_err(|e| {
            anyhow::anyhow!("database migration {version} ({description}) failed: {e}")
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
            args![*version, *description, wall_clock_ms()],
        )
        .await
        .map_err(failed)?;
    }
    tx.commit().await.map_err(failed)
}

/// When a migration ran: a note for operators, read by no rule (so not the injected clock,
/// which the store never sees).
#[allow(clippy::disallowed_methods)]
fn wall_clock_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Any number, the same in every instance: the advisory lock migrations take.
const MIGRATION_LOCK: i64 = 0x6170_6c6f_6d62;

/// Databases created before `schema_migrations` recorded their migrations in sqlx's table:
/// its versions are taken over once, so nothing runs twice.
async fn adopt_earlier_record(tx: &mut Conn, backend: Backend) -> Result<()> {
    let exists = match backend {
        Backend::Sqlite => {
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => "SELECT 1 WHERE to_regclass('_sqlx_migrations') IS NOT NULL",
    };
    if tx.fetch_optional(exists, &[]).await?.is_none() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO schema_migrations (version, description, applied_at) \
         SELECT version, description, 0 FROM _sqlx_migrations WHERE success \
         AND version NOT IN (SELECT version FROM schema_migrations)",
        &[],
    )
    .await?;
    Ok(())
}
