//! Backups taken while aplomb serves: admins only, since a copy holds everything.

use super::{Aplomb, AppResult, require_admin};
use crate::domain::access::Actor;

impl Aplomb {
    /// A consistent copy of the SQLite database, as an open file (see `Store::backup`).
    pub async fn backup(&self, actor: &Actor) -> AppResult<std::fs::File> {
        require_admin(actor)?;
        Ok(self.store.backup().await?)
    }
}
