//! `Idempotency-Key` on the API's POSTs: a retried request gets the first answer instead of a
//! second effect. Declarations keep their key in their own transaction (`store::incidents`);
//! every other POST claims its key before it runs and keeps its answer after.

use jiff::SignedDuration;

use super::{Aplomb, AppError, AppResult};
use crate::domain::access::Actor;
use crate::store::{Claim, ClaimTimes};

/// A claimed key waits a minute for its request to answer before a retry may take it over
/// (the server that ran it died; a request never takes this long); answers are kept a day.
const CLAIM_TIMES: ClaimTimes = ClaimTimes {
    stale_after: SignedDuration::from_secs(60),
    kept_for: SignedDuration::from_hours(24),
};

impl Aplomb {
    /// Claims `key` for `actor`'s request with `fingerprint`: `None` means run it, `Some`
    /// is the first answer (status and body) to send again.
    pub async fn claim_request(
        &self,
        actor: &Actor,
        key: &str,
        fingerprint: &str,
    ) -> AppResult<Option<(u16, String)>> {
        let claim = self
            .store
            .claim_request(actor.id, key, fingerprint, self.now(), CLAIM_TIMES)
            .await?;
        match claim {
            Claim::Claimed => Ok(None),
            Claim::Answered { status, body } => Ok(Some((status, body))),
            Claim::Mismatch => Err(AppError::IdempotencyMismatch),
            Claim::InProgress => Err(AppError::Conflict(
                "a request with this Idempotency-Key is still running; retry shortly".into(),
            )),
        }
    }

    /// Keeps the answer of a request that had its effect, for its retries.
    pub async fn answer_request(
        &self,
        actor: &Actor,
        key: &str,
        status: u16,
        body: &str,
    ) -> AppResult<()> {
        Ok(self
            .store
            .answer_request(actor.id, key, status, body)
            .await?)
    }

    /// Frees the key of a request that failed, so its retry runs.
    pub async fn release_request(&self, actor: &Actor, key: &str) -> AppResult<()> {
        Ok(self.store.release_request(actor.id, key).await?)
    }
}
