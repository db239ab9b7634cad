//! Change notifications between instances that share one PostgreSQL: each committed change is
//! announced with `pg_notify`, and every instance `LISTEN`s, so a browser connected to any
//! instance sees changes made through any other. SQLite installs are one process and need none.

use super::db::{Database, args};
use super::{Backend, Result, Store};

const CHANNEL: &str = "aplomb_incident_changed";

impl Store {
    /// Announces a committed change to every instance (PostgreSQL only; a no-op on SQLite).
    pub async fn notify_changed(&self, incident_id: i64) -> Result<()> {
        if self.backend == Backend::Postgres {
            self.read()
                .await?
                .execute(
                    "SELECT pg_notify($1, $2)",
                    args![CHANNEL, incident_id.to_string()],
                )
                .await?;
        }
        Ok(())
    }

    /// Starts listening for changes announced by any instance and calls `on_change` for each.
    /// Returns `false` on SQLite, where there is nothing to listen to.
    pub async fn listen_changes(
        &self,
        on_change: impl Fn(i64) + Send + 'static,
    ) -> anyhow::Result<bool> {
        let Database::Postgres(db) = &*self.db else {
            return Ok(false);
        };
        db.listen(CHANNEL, move |payload| match payload.parse() {
            Ok(id) => on_change(id),
            Err(_) => tracing::warn!(payload, "ignoring a malformed change notification"),
        })
        .await?;
        Ok(true)
    }
}
