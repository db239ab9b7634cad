//! The status page's subscribers and what they are told: a subscriber signs up (email, with
//! a confirmation first) or is added (webhook), to every component or chosen ones; each public
//! update and each maintenance announcement, start and end queues one notice per covered
//! subscriber in the transaction that makes the news, and notices are leased, sent and
//! retried like a page's deliveries.

use jiff::Timestamp;

use super::db::{Conn, Row, args};
use super::investigation::InvestigationTx;
use super::{Attempt, Result, Store, StoreError, ms, outbox};
use crate::domain::communication::{Audience, Phase, UpdateState};
use crate::domain::maintenance::MaintenanceStatus;
use crate::domain::status::{SubscriberKind, subscriber_covers};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberRecord {
    pub id: i64,
    pub kind: SubscriberKind,
    pub address: String,
    /// Signs its webhooks.
    pub secret: String,
    /// Its own secret in its confirmation and unsubscribe links.
    pub token: String,
    /// The components it chose (id, name); every one when empty.
    pub components: Vec<(i64, String)>,
    pub confirmed_at: Option<Timestamp>,
    pub unsubscribed_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// How a sign-up went: a new or renewed subscription awaiting its confirmation, or one that
/// stands already (nothing is sent, so a sign-up tells no one whether an address is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignUp {
    Pending(SubscriberRecord),
    Standing(SubscriberRecord),
}

/// A notice leased to a sender, with everything its message needs.
#[derive(Debug, Clone)]
pub struct NoticeJob {
    pub id: i64,
    pub attempts: i64,
    pub subscriber: SubscriberRecord,
    pub about: NoticeAbout,
}

#[derive(Debug, Clone)]
pub enum NoticeAbout {
    /// Confirm the subscription.
    Confirm,
    /// A public update of a public incident.
    Update {
        incident_id: i64,
        title: String,
        phase: Phase,
        text: String,
        published_at: Timestamp,
    },
    /// A maintenance announced, begun, completed or cancelled.
    Maintenance {
        id: i64,
        title: String,
        description: String,
        status: MaintenanceStatus,
        scheduled_for: Timestamp,
        scheduled_until: Timestamp,
    },
}

const SUBSCRIBERS: &str = "SELECT id, kind, address, secret, token, all_components, confirmed_at, unsubscribed_at, created_at \
     FROM status_subscribers";

impl Store {
    /// Signs up `address`, to `components` (every one when empty). A new subscriber, or one
    /// that had not confirmed or had left, is (again) pending with a fresh token and a
    /// confirmation queued; an email subscriber must confirm, a webhook added by an admin
    /// stands at once.
    pub async fn sign_up(
        &self,
        kind: SubscriberKind,
        address: &str,
        components: &[i64],
        secrets: (&str, &str),
        now: Timestamp,
    ) -> Result<SignUp> {
        let (secret, token) = secrets;
        let mut tx = self.begin_write().await?;
        let existing = tx
            .fetch_optional(
                &format!("{SUBSCRIBERS} WHERE kind = $1 AND address = $2"),
                args![kind.as_str(), address],
            )
            .await?;
        if let Some(row) = &existing
            && row.opt_ts("confirmed_at")?.is_some()
            && row.opt_ts("unsubscribed_at")?.is_none()
        {
            let id: i64 = row.get("id")?;
            let standing = load(&mut tx, Some(id)).await?.pop();
            tx.commit().await?;
            return standing.map(SignUp::Standing).ok_or(StoreError::NotFound);
        }
        let confirmed = (kind == SubscriberKind::Webhook).then_some(ms(now));
        let all = i64::from(components.is_empty());
        let id: i64 = match existing {
            Some(row) => {
                let id: i64 = row.get("id")?;
                tx.execute(
                    "UPDATE status_subscribers SET secret = $1, token = $2, all_components = $3, \
                     confirmed_at = $4, unsubscribed_at = NULL, created_at = $5 WHERE id = $6",
                    args![secret, token, all, confirmed, ms(now), id],
                )
                .await?;
                tx.execute(
                    "DELETE FROM status_subscriber_components WHERE subscriber_id = $1",
                    args![id],
                )
                .await?;
                id
            }
            None => tx
                .fetch_one(
                    "INSERT INTO status_subscribers (kind, address, secret, token, all_components, confirmed_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    args![kind.as_str(), address, secret, token, all, confirmed, ms(now)],
                )
                .await?
                .get("id")?,
        };
        for component in components {
            tx.execute(
                "INSERT INTO status_subscriber_components (subscriber_id, component_id) VALUES ($1, $2)",
                args![id, *component],
            )
            .await?;
        }
        if confirmed.is_none() {
            queue(&mut tx, id, &format!("confirm:{token}"), None, None, now).await?;
        }
        let pending = load(&mut tx, Some(id)).await?.pop();
        tx.commit().await?;
        pending.map(SignUp::Pending).ok_or(StoreError::NotFound)
    }

    /// Confirms the subscription holding `token`; `None` when no standing one does.
    pub async fn confirm_subscriber(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<SubscriberRecord>> {
        let mut tx = self.begin_write().await?;
        let row = tx
            .fetch_optional(
                "UPDATE status_subscribers SET confirmed_at = COALESCE(confirmed_at, $1) \
                 WHERE token = $2 AND unsubscribed_at IS NULL RETURNING id",
                args![ms(now), token],
            )
            .await?;
        let confirmed = match row {
            Some(r) => load(&mut tx, Some(r.get("id")?)).await?.pop(),
            None => None,
        };
        tx.commit().await?;
        Ok(confirmed)
    }

    /// Ends a subscription (by its token, or by id for an admin) and drops what it had not
    /// been sent yet; false when none was standing.
    pub async fn unsubscribe(&self, by: SubscriberKey<'_>, now: Timestamp) -> Result<bool> {
        let (filter, key) = match by {
            SubscriberKey::Token(token) => ("token = $2", token.to_string()),
            SubscriberKey::Id(id) => ("CAST(id AS TEXT) = $2", id.to_string()),
        };
        let mut tx = self.begin_write().await?;
        let row = tx
            .fetch_optional(
                &format!(
                    "UPDATE status_subscribers SET unsubscribed_at = $1 \
                     WHERE {filter} AND unsubscribed_at IS NULL RETURNING id"
                ),
                args![ms(now), key.as_str()],
            )
            .await?;
        if let Some(r) = &row {
            tx.execute(
                "UPDATE subscriber_notices SET state = 'cancelled' WHERE subscriber_id = $1 AND state = 'pending'",
                args![r.get::<i64>("id")?],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(row.is_some())
    }

    pub async fn subscriber_by_token(&self, token: &str) -> Result<Option<SubscriberRecord>> {
        let mut conn = self.read().await?;
        let row = conn
            .fetch_optional(
                "SELECT id FROM status_subscribers WHERE token = $1",
                args![token],
            )
            .await?;
        match row {
            Some(r) => Ok(load(&mut conn, Some(r.get("id")?)).await?.pop()),
            None => Ok(None),
        }
    }

    /// Every subscriber not unsubscribed, oldest first.
    pub async fn subscribers(&self) -> Result<Vec<SubscriberRecord>> {
        let mut conn = self.read().await?;
        let mut all = load(&mut conn, None).await?;
        all.retain(|s| s.unsubscribed_at.is_none());
        Ok(all)
    }

    /// How many notices each state holds, for one piece of news (`about`).
    pub async fn notice_states(&self, about: &str) -> Result<Vec<(String, i64)>> {
        let rows = self
            .fetch_all(
                "SELECT state, COUNT(*) AS n FROM subscriber_notices WHERE about = $1 GROUP BY state ORDER BY state",
                args![about],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.get("state")?, r.get("n")?)))
            .collect()
    }

    /// Leases up to `limit` due notices to `owner` until `lease_until`.
    pub async fn claim_notices(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<NoticeJob>> {
        let mut tx = self.begin_write().await?;
        let rows = outbox::claim(
            &mut tx,
            self.backend,
            "subscriber_notices",
            "id, subscriber_id, about, update_id, maintenance_id, attempts",
            (owner, now, lease_until, limit),
        )
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in &rows {
            let Some(subscriber) = load(&mut tx, Some(r.get("subscriber_id")?)).await?.pop() else {
                continue;
            };
            let about = notice_about(&mut tx, r).await?;
            jobs.push(NoticeJob {
                id: r.get("id")?,
                attempts: r.get("attempts")?,
                subscriber,
                about,
            });
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// Records one attempt of a notice this owner holds, and releases the lease.
    pub async fn finish_notice(&self, id: i64, owner: &str, attempt: &Attempt) -> Result<()> {
        // An unsubscribe while it was on its way keeps it cancelled.
        outbox::finish(self, "subscriber_notices", id, owner, attempt).await
    }
}

impl InvestigationTx {
    /// Queues a just-published public update for the status page's subscribers it concerns
    /// (those of the components the incident's public updates named, or everyone when they
    /// named none), in the publishing transaction; never for a private incident.
    pub async fn tell_status_subscribers(
        &mut self,
        update_id: i64,
        now: Timestamp,
    ) -> Result<usize> {
        if self.incident.private {
            return Ok(0);
        }
        let affected = incident_components(&mut self.tx, self.incident.id).await?;
        tell_subscribers(
            &mut self.tx,
            &format!("update:{update_id}"),
            (Some(update_id), None),
            &affected,
            now,
        )
        .await
    }
}

/// A subscriber by its token (readers' links) or its id (admins).
#[derive(Debug, Clone, Copy)]
pub enum SubscriberKey<'a> {
    Token(&'a str),
    Id(i64),
}

/// Queues `about` for every confirmed subscriber covering the news about `affected`
/// components (see `subscriber_covers`), once each; returns how many it queued.
pub(super) async fn tell_subscribers(
    conn: &mut Conn,
    about: &str,
    news: (Option<i64>, Option<i64>),
    affected: &[i64],
    now: Timestamp,
) -> Result<usize> {
    let subscribers = load(conn, None).await?;
    let mut queued = 0;
    for s in subscribers
        .iter()
        .filter(|s| s.confirmed_at.is_some() && s.unsubscribed_at.is_none())
    {
        let chosen: Vec<i64> = s.components.iter().map(|(id, _)| *id).collect();
        if subscriber_covers(&chosen, affected) {
            queued += queue(conn, s.id, about, news.0, news.1, now).await?;
        }
    }
    Ok(queued)
}

/// The components a public incident's published public updates named, for choosing whom its
/// news concerns.
async fn incident_components(conn: &mut Conn, incident_id: i64) -> Result<Vec<i64>> {
    let rows = conn
        .fetch_all(
            "SELECT DISTINCT uc.component_id, s.audiences FROM update_components uc \
             JOIN status_updates s ON s.id = uc.update_id WHERE s.incident_id = $1 AND s.state = $2",
            args![incident_id, UpdateState::Published.as_str()],
        )
        .await?;
    let mut ids = Vec::new();
    for r in &rows {
        let audiences: String = r.get("audiences")?;
        let id: i64 = r.get("component_id")?;
        if audiences.split(',').any(|a| a == Audience::Public.as_str()) && !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

async fn queue(
    conn: &mut Conn,
    subscriber: i64,
    about: &str,
    update_id: Option<i64>,
    maintenance_id: Option<i64>,
    now: Timestamp,
) -> Result<usize> {
    let queued = conn
        .execute(
            "INSERT INTO subscriber_notices (subscriber_id, about, update_id, maintenance_id, state, due_at, attempts, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, 0, $5) ON CONFLICT (subscriber_id, about) DO NOTHING",
            args![subscriber, about, update_id, maintenance_id, ms(now)],
        )
        .await?;
    Ok(queued as usize)
}

async fn notice_about(conn: &mut Conn, r: &Row) -> Result<NoticeAbout> {
    if let Some(update_id) = r.get::<Option<i64>>("update_id")? {
        let u = conn
            .fetch_one(
                "SELECT i.id, i.title, s.phase, s.text, s.published_at FROM status_updates s \
                 JOIN incidents i ON i.id = s.incident_id WHERE s.id = $1",
                args![update_id],
            )
            .await?;
        return Ok(NoticeAbout::Update {
            incident_id: u.get("id")?,
            title: u.get("title")?,
            phase: u.parsed("phase")?,
            text: u.get("text")?,
            published_at: u.ts("published_at")?,
        });
    }
    if let Some(id) = r.get::<Option<i64>>("maintenance_id")? {
        let m = conn
            .fetch_one(
                "SELECT title, description, scheduled_for, scheduled_until FROM maintenances WHERE id = $1",
                args![id],
            )
            .await?;
        // The status the news was about, not the one it has since moved to.
        let about: String = r.get("about")?;
        let status = about
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("notice about {about:?}")))?;
        return Ok(NoticeAbout::Maintenance {
            id,
            title: m.get("title")?,
            description: m.get("description")?,
            status,
            scheduled_for: m.ts("scheduled_for")?,
            scheduled_until: m.ts("scheduled_until")?,
        });
    }
    Ok(NoticeAbout::Confirm)
}

async fn load(conn: &mut Conn, only: Option<i64>) -> Result<Vec<SubscriberRecord>> {
    let rows = conn
        .fetch_all(
            &format!("{SUBSCRIBERS} WHERE ($1 = 0 OR id = $1) ORDER BY id"),
            args![only.unwrap_or(0)],
        )
        .await?;
    let chosen = conn
        .fetch_all(
            "SELECT sc.subscriber_id, c.id, c.name FROM status_subscriber_components sc \
             JOIN status_components c ON c.id = sc.component_id \
             WHERE ($1 = 0 OR sc.subscriber_id = $1) ORDER BY c.position, c.id",
            args![only.unwrap_or(0)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.get("id")?;
            let mut components = Vec::new();
            for c in &chosen {
                if c.get::<i64>("subscriber_id")? == id {
                    components.push((c.get("id")?, c.get("name")?));
                }
            }
            Ok(SubscriberRecord {
                id,
                kind: r.parsed("kind")?,
                address: r.get("address")?,
                secret: r.get("secret")?,
                token: r.get("token")?,
                components,
                confirmed_at: r.opt_ts("confirmed_at")?,
                unsubscribed_at: r.opt_ts("unsubscribed_at")?,
                created_at: r.ts("created_at")?,
            })
        })
        .collect()
}
