//! What the forge webhook needs besides the investigation's transaction: the integration a
//! routing key names, with its secret, and the deliveries already taken.

use jiff::Timestamp;

use super::db::args;
use super::{Result, Store, ms};
use crate::domain::forge::FORGE_KIND;

impl Store {
    /// The live forge integration with `routing_key`: its id and signing secret.
    pub async fn forge_integration(&self, routing_key: &str) -> Result<Option<(i64, String)>> {
        let row = self
            .fetch_optional(
                "SELECT id, signing_secret FROM integrations \
                 WHERE routing_key = $1 AND kind = $2 AND revoked_at IS NULL AND signing_secret IS NOT NULL",
                args![routing_key, FORGE_KIND],
            )
            .await?;
        row.map(|r| Ok((r.get("id")?, r.get("signing_secret")?)))
            .transpose()
    }

    /// Whether the integration took the delivery with this id already.
    pub async fn forge_delivery_taken(&self, integration_id: i64, delivery: &str) -> Result<bool> {
        let row = self
            .fetch_optional(
                "SELECT 1 AS taken FROM forge_deliveries WHERE integration_id = $1 AND delivery = $2",
                args![integration_id, delivery],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Marks a delivery taken, once everything it reported is recorded, and forgets the
    /// integration's deliveries taken before `forget_before`, so the table stays small.
    pub async fn take_forge_delivery(
        &self,
        integration_id: i64,
        delivery: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            "DELETE FROM forge_deliveries WHERE integration_id = $1 AND received_at < $2",
            args![integration_id, ms(forget_before)],
        )
        .await?;
        tx.execute(
            "INSERT INTO forge_deliveries (integration_id, delivery, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            args![integration_id, delivery, ms(now)],
        )
        .await?;
        tx.commit().await
    }
}
