//! Idempotent requests: a POST with an `Idempotency-Key` is claimed before it runs and keeps
//! its answer, so a client's retry gets the first answer instead of a second effect.

use super::db::{Conn, args};
use super::{Result, Store, ms};
use jiff::{SignedDuration, Timestamp};

/// What a claim on a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's now: run it.
    Claimed,
    /// Another request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
    /// The request ran before: its answer.
    Answered { status: u16, body: String },
}

/// How long claims and answers count (see `Store::claim_request`).
#[derive(Debug, Clone, Copy)]
pub struct ClaimTimes {
    /// A claim this old whose request never answered (its server died) may be taken over.
    pub stale_after: SignedDuration,
    /// Answers this old are forgotten: a retry comes within minutes, not days.
    pub kept_for: SignedDuration,
}

impl Store {
    /// Claims `key` for a request with `fingerprint`, after forgetting the user's answers
    /// older than `times.kept_for`.
    pub async fn claim_request(
        &self,
        user_id: i64,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        times: ClaimTimes,
    ) -> Result<Claim> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            "DELETE FROM idempotent_requests WHERE user_id = $1 AND status IS NOT NULL \
             AND created_at < $2",
            args![user_id, ms(now - times.kept_for)],
        )
        .await?;
        let claim = claim_in(&mut tx, user_id, key, fingerprint, now, times.stale_after).await?;
        tx.commit().await?;
        Ok(claim)
    }

    /// Keeps the answer of a claimed request, for its retries.
    pub async fn answer_request(
        &self,
        user_id: i64,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        self.write_one(
            "UPDATE idempotent_requests SET status = $1, body = $2 WHERE user_id = $3 AND key = $4",
            args![i64::from(status), body, user_id, key],
        )
        .await?;
        Ok(())
    }

    /// Gives up a claim whose request had no effect to remember (it failed), so a retry runs.
    pub async fn release_request(&self, user_id: i64, key: &str) -> Result<()> {
        self.write_one(
            "DELETE FROM idempotent_requests WHERE user_id = $1 AND key = $2 AND status IS NULL",
            args![user_id, key],
        )
        .await?;
        Ok(())
    }
}

async fn claim_in(
    conn: &mut Conn,
    user_id: i64,
    key: &str,
    fingerprint: &str,
    now: Timestamp,
    stale_after: SignedDuration,
) -> Result<Claim> {
    let inserted = conn
        .fetch_optional(
            "INSERT INTO idempotent_requests (user_id, key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, key) DO NOTHING RETURNING key",
            args![user_id, key, fingerprint, ms(now)],
        )
        .await?;
    if inserted.is_some() {
        return Ok(Claim::Claimed);
    }
    let row = conn
        .fetch_one(
            "SELECT fingerprint, status, body, created_at FROM idempotent_requests \
             WHERE user_id = $1 AND key = $2",
            args![user_id, key],
        )
        .await?;
    if row.get::<String>("fingerprint")? != fingerprint {
        return Ok(Claim::Mismatch);
    }
    if let Some(status) = row.get::<Option<i64>>("status")? {
        return Ok(Claim::Answered {
            status: u16::try_from(status).unwrap_or(500),
            body: row.get::<Option<String>>("body")?.unwrap_or_default(),
        });
    }
    let claimed_at = row.ts("created_at")?;
    if now.duration_since(claimed_at) < stale_after {
        return Ok(Claim::InProgress);
    }
    // Only one of several retries racing for an abandoned claim takes it over.
    let taken = conn
        .execute(
            "UPDATE idempotent_requests SET created_at = $1 \
             WHERE user_id = $2 AND key = $3 AND created_at = $4 AND status IS NULL",
            args![ms(now), user_id, key, ms(claimed_at)],
        )
        .await?;
    Ok(if taken == 1 {
        Claim::Claimed
    } else {
        Claim::InProgress
    })
}
