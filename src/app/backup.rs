//! Backups taken while aplomb serves: admins only, since a copy holds everything.

use super::{Aplomb, AppError, AppResult, require_admin};
use crate::domain::access::Actor;

impl Aplomb {
    /// A consistent copy of the SQLite database, as an open file (see `Store::backup`).
    pub async fn backup(&self, actor: &Actor) -> AppResult<std::fs::File> {
        require_admin(actor)?;
        // Copying the whole database is heavy: a second request waits for none, it is told.
        let _copying = self.backing_up.try_acquire().map_err(|_| {
            AppError::Conflict("a backup is being taken already; try again when it is done".into())
        })?;
        Ok(self.store.backup().await?)
    }
}
