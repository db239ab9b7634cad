//! Outboxes: tables of messages owed to someone outside (status page subscribers' notices,
//! the tracker's events), each row with `state`, `due_at`, `attempts`, a lease and the last
//! attempt's `detail`. Rows are leased to one sender at a time and retried with backoff, as a
//! page's deliveries are.

use jiff::Timestamp;

use super::db::{Conn, Row, args};
use super::{Attempt, Backend, Result, Store, ms};

/// Leases up to `limit` due rows of `table` to `owner` until `lease_until`, answering the
/// `returning` columns of each.
pub(super) async fn claim(
    conn: &mut Conn,
    backend: Backend,
    table: &str,
    returning: &str,
    (owner, now, lease_until, limit): (&str, Timestamp, Timestamp, i64),
) -> Result<Vec<Row>> {
    let lock = backend.claim_lock("n");
    let sql = format!(
        "UPDATE {table} SET lease_owner = $1, lease_until = $2 WHERE id IN (\
           SELECT n.id FROM {table} n WHERE n.state = 'pending' AND n.due_at <= $3 \
           AND (n.lease_until IS NULL OR n.lease_until < $3) ORDER BY n.due_at LIMIT $4{lock}) \
         RETURNING {returning}"
    );
    conn.fetch_all(&sql, args![owner, ms(lease_until), ms(now), limit])
        .await
}

/// Records one attempt at a row `owner` holds, and releases the lease. A row cancelled
/// while it was on its way stays cancelled.
pub(super) async fn finish(
    store: &Store,
    table: &str,
    id: i64,
    owner: &str,
    attempt: &Attempt,
) -> Result<()> {
    let (detail, state, due) = match attempt {
        Attempt::Sent(d) => (d, "sent", None),
        Attempt::Retry(d, at) => (d, "pending", Some(ms(*at))),
        Attempt::GiveUp(d) => (d, "failed", None),
    };
    let sql = format!(
        "UPDATE {table} SET attempts = attempts + 1, detail = $1, \
         state = CASE WHEN state = 'cancelled' THEN state ELSE $2 END, \
         due_at = COALESCE($3, due_at), lease_owner = NULL, lease_until = NULL \
         WHERE id = $4 AND lease_owner = $5"
    );
    store
        .write_one(&sql, args![detail.as_str(), state, due, id, owner])
        .await?;
    Ok(())
}
