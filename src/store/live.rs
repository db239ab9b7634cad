//! Change notifications between instances that share one PostgreSQL: each committed change is
//! announced with `pg_notify`, and every instance `LISTEN`s, so a browser connected to any
//! instance sees changes made through any other. SQLite installs are one process and need none.

use std::time::Duration;

use sqlx::postgres::PgListener;

use super::{Backend, Result, Store};

const CHANNEL: &str = "aplomb_incident_changed";

impl Store {
    /// Announces a committed change to every instance (PostgreSQL only; a no-op on SQLite).
    pub async fn notify_changed(&self, incident_id: i64) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(incident_id.to_string())
                .execute(&self.pool)
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
        if self.backend != Backend::Postgres {
            return Ok(false);
        }
        let mut listener = PgListener::connect(&self.url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot LISTEN for changes: {e}"))?;
        listener.listen(CHANNEL).await?;
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(notification) => match notification.payload().parse() {
                        Ok(id) => on_change(id),
                        Err(_) => tracing::warn!(
                            payload = notification.payload(),
                            "ignoring a malformed change notification"
                        ),
                    },
                    // The listener reconnects on the next recv; pause so an outage is not a busy loop.
                    Err(e) => {
                        tracing::warn!(error = %e, "change listener lost its connection; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(true)
    }
}
