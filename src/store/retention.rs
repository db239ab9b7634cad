//! Retention: what grows with traffic and stops mattering with age is deleted in bounded
//! batches, each its own short write transaction, so pruning never holds the writer long
//! enough to keep ingestion waiting. Incidents, their timelines and every alert an incident
//! holds or its evidence cites are kept for ever.

use jiff::Timestamp;

use super::db::args;
use super::{Result, Store, ms};
use crate::domain::alert::AlertStatus;

/// A kind of row that retention prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prunable {
    /// Resolved alerts last seen before the cut-off, outside every incident and its evidence.
    ResolvedAlerts,
    /// The record of each try at sending a page or a notice.
    DeliveryAttempts,
    /// Declarations' idempotency keys and other POSTs' kept answers.
    IdempotencyKeys,
}

impl Prunable {
    pub const ALL: [Self; 3] = [
        Self::ResolvedAlerts,
        Self::DeliveryAttempts,
        Self::IdempotencyKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResolvedAlerts => "resolved alerts",
            Self::DeliveryAttempts => "delivery attempts",
            Self::IdempotencyKeys => "idempotency keys",
        }
    }
}

impl Store {
    /// Deletes at most `batch` rows of `kind` older than `cutoff` (for idempotency keys, at
    /// most `batch` of each table) and says how many went.
    pub async fn prune(&self, kind: Prunable, cutoff: Timestamp, batch: i64) -> Result<u64> {
        let cutoff = ms(cutoff);
        match kind {
            Prunable::ResolvedAlerts => {
                self.write_one(
                    "DELETE FROM alerts WHERE id IN (SELECT a.id FROM alerts a \
                     WHERE a.last_at < $1 AND a.status = $2 AND a.incident_id IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.alert_id = a.id) \
                     ORDER BY a.last_at LIMIT $3)",
                    args![cutoff, AlertStatus::Resolved.as_str(), batch],
                )
                .await
            }
            Prunable::DeliveryAttempts => {
                self.write_one(
                    "DELETE FROM delivery_attempts WHERE id IN (SELECT id FROM delivery_attempts \
                     WHERE at < $1 ORDER BY at LIMIT $2)",
                    args![cutoff, batch],
                )
                .await
            }
            Prunable::IdempotencyKeys => {
                let mut tx = self.begin_write().await?;
                let mut gone = 0;
                for table in ["idempotency_keys", "idempotent_requests"] {
                    gone += tx
                        .execute(
                            &format!(
                                "DELETE FROM {table} WHERE (user_id, key) IN \
                                 (SELECT user_id, key FROM {table} WHERE created_at < $1 \
                                 ORDER BY created_at LIMIT $2)"
                            ),
                            args![cutoff, batch],
                        )
                        .await?;
                }
                tx.commit().await?;
                Ok(gone)
            }
        }
    }
}
