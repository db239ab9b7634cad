//! Status updates: drafted, published and corrected in the incident's `InvestigationTx`, under
//! its row lock, with the timeline entries that record them.

use jiff::Timestamp;

use super::db::{Conn, Row, args};
use super::investigation::InvestigationTx;
use super::paging::cancel_deliveries;
use super::status::update_components;
use super::{Result, Store, StoreError, ms};
use crate::domain::access::UserRole;
use crate::domain::communication::{
    Audience, Phase, SubscriptionScope, Told, UpdateInput, UpdateState, subscriber_hears,
    tells_outside,
};
use crate::domain::escalation::{PagePurpose, PagingStop};
use crate::domain::status::ComponentStatus;
use crate::domain::templates::Template;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdateRecord {
    pub id: i64,
    pub incident_id: i64,
    pub text: String,
    pub phase: Phase,
    pub audiences: Vec<Audience>,
    pub state: UpdateState,
    pub next_update_by: Option<Timestamp>,
    pub author: Option<String>,
    pub created_at: Timestamp,
    pub published_at: Option<Timestamp>,
    pub corrected_at: Option<Timestamp>,
    /// The component statuses it sets on the status page (a public update's), by name.
    pub components: Vec<(String, ComponentStatus)>,
    /// Who it was sent to (stakeholders' subscriptions) and how each delivery stands.
    pub sent: Vec<UpdateDelivery>,
}

/// One delivery of a published update to a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateDelivery {
    pub username: String,
    pub kind: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i64,
}

/// A stakeholder's subscription to status updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub id: i64,
    pub username: String,
    pub scope: SubscriptionScope,
    /// The updates it hears: those to stakeholders, or those to responders.
    pub audience: Audience,
    /// The service of a service scope, by name.
    pub service: Option<String>,
    pub contact_method_id: i64,
    pub contact_kind: String,
    pub created_at: Timestamp,
}

const UPDATES: &str = "SELECT s.id, s.incident_id, s.text, s.phase, s.audiences, s.state, s.next_update_by, \
     u.username AS author, s.created_at, s.published_at, s.corrected_at \
     FROM status_updates s LEFT JOIN users u ON u.id = s.author_id";

impl Store {
    /// An incident's updates, newest first (drafts by when they were written).
    pub async fn status_updates(&self, incident_id: i64) -> Result<Vec<StatusUpdateRecord>> {
        let mut conn = self.read().await?;
        load_updates(&mut conn, incident_id, None).await
    }

    /// Until when the incident's overdue-update reminder is snoozed.
    pub async fn update_snoozed_until(&self, incident_id: i64) -> Result<Option<Timestamp>> {
        let row = self
            .fetch_optional(
                "SELECT update_snoozed_until FROM incidents WHERE id = $1",
                args![incident_id],
            )
            .await?;
        Ok(row
            .map(|r| r.opt_ts("update_snoozed_until"))
            .transpose()?
            .flatten())
    }
}

/// The last published update that counted toward the cadence (see
/// `communication::tells_outside`).
pub fn last_told(updates: &[StatusUpdateRecord]) -> Option<Told> {
    updates
        .iter()
        .filter(|u| u.state == UpdateState::Published && tells_outside(&u.audiences))
        .filter_map(|u| {
            u.published_at.map(|at| Told {
                at,
                next_update_by: u.next_update_by,
            })
        })
        .max_by_key(|t| t.at)
}

impl InvestigationTx {
    /// The last published update of this incident that counted toward its cadence.
    pub async fn last_told(&mut self) -> Result<Option<Told>> {
        let updates = load_updates(&mut self.tx, self.incident.id, None).await?;
        Ok(last_told(&updates))
    }

    /// An update counting toward the cadence went out: the reminders that one was due are
    /// answered, and the engine works out the next due time now.
    pub async fn told(&mut self, now: Timestamp) -> Result<()> {
        let id = self.incident.id;
        cancel_deliveries(
            &mut self.tx,
            id,
            Some(PagePurpose::UpdateDue),
            PagingStop::UpdatePosted,
            now,
        )
        .await?;
        self.tx
            .execute(
                "UPDATE incidents SET update_remind_at = $1 WHERE id = $2",
                args![ms(now), id],
            )
            .await?;
        Ok(())
    }

    /// Puts the overdue-update reminder off until `until`; the engine looks again now.
    pub async fn snooze_update_reminder(&mut self, until: Timestamp, now: Timestamp) -> Result<()> {
        self.tx
            .execute(
                "UPDATE incidents SET update_snoozed_until = $1, update_remind_at = $2 WHERE id = $3",
                args![ms(until), ms(now), self.incident.id],
            )
            .await?;
        Ok(())
    }
}

impl Store {
    pub async fn add_subscription(
        &self,
        user_id: i64,
        scope: SubscriptionScope,
        audience: Audience,
        contact_method_id: i64,
        now: Timestamp,
    ) -> Result<SubscriptionRecord> {
        let (service, severity) = match scope {
            SubscriptionScope::All => (None, None),
            SubscriptionScope::Service(id) => (Some(id), None),
            SubscriptionScope::Severity(s) => (None, Some(s.as_str())),
        };
        let mut tx = self.begin_write().await?;
        let id: i64 = tx
            .fetch_one(
                "INSERT INTO update_subscriptions (user_id, scope, audience, service_id, severity, contact_method_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                args![
                    user_id,
                    scope.kind(),
                    audience.as_str(),
                    service,
                    severity,
                    contact_method_id,
                    ms(now)
                ],
            )
            .await?
            .get("id")?;
        let added = load_subscriptions(&mut tx, user_id)
            .await?
            .into_iter()
            .find(|s| s.id == id);
        tx.commit().await?;
        added.ok_or(StoreError::NotFound)
    }

    /// A user's subscriptions, oldest first.
    pub async fn subscriptions(&self, user_id: i64) -> Result<Vec<SubscriptionRecord>> {
        let mut conn = self.read().await?;
        load_subscriptions(&mut conn, user_id).await
    }

    /// False when the user has no such subscription.
    pub async fn delete_subscription(&self, user_id: i64, id: i64) -> Result<bool> {
        Ok(self
            .write_one(
                "DELETE FROM update_subscriptions WHERE id = $1 AND user_id = $2",
                args![id, user_id],
            )
            .await?
            > 0)
    }
}

impl InvestigationTx {
    /// Queues a published update to every subscriber of one of its `audiences` (stakeholders,
    /// responders) whose subscription covers this incident, once each (through the contact
    /// method of the first subscription that covers it), in the publishing transaction;
    /// returns how many it queued.
    pub async fn send_to_subscribers(
        &mut self,
        update_id: i64,
        audiences: &[Audience],
        now: Timestamp,
    ) -> Result<usize> {
        let rows = self
            .tx
            .fetch_all(
                "SELECT s.user_id, u.role, s.scope, s.audience, s.service_id, s.severity, c.kind, c.address, c.secret \
                 FROM update_subscriptions s JOIN users u ON u.id = s.user_id \
                 JOIN contact_methods c ON c.id = s.contact_method_id ORDER BY s.id",
                args![],
            )
            .await?;
        let step_key = format!("update:{update_id}");
        let mut queued = 0;
        for r in &rows {
            if !audiences.contains(&r.parsed::<Audience>("audience")?) {
                continue;
            }
            let user_id: i64 = r.get("user_id")?;
            let scope = subscription_scope(r)?;
            let is_admin = r.parsed::<UserRole>("role")? == UserRole::Admin;
            if !subscriber_hears(scope, &self.incident, user_id, is_admin) {
                continue;
            }
            let page = self
                .tx
                .fetch_optional(
                    "INSERT INTO pages (incident_id, update_id, purpose, step_key, user_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (incident_id, step_key, user_id) DO NOTHING RETURNING id",
                    args![
                        self.incident.id,
                        update_id,
                        PagePurpose::StatusUpdate.as_str(),
                        step_key.as_str(),
                        user_id,
                        ms(now)
                    ],
                )
                .await?;
            let Some(page) = page else {
                continue;
            };
            let page_id: i64 = page.get("id")?;
            self.tx
                .execute(
                    "INSERT INTO deliveries (page_id, kind, address, secret, state, due_at, attempts, created_at) \
                     VALUES ($1, $2, $3, $4, 'pending', $5, 0, $5)",
                    args![
                        page_id,
                        r.get::<String>("kind")?,
                        r.get::<String>("address")?,
                        r.get::<String>("secret")?,
                        ms(now)
                    ],
                )
                .await?;
            queued += 1;
        }
        Ok(queued)
    }

    /// Stores a new update, a draft or published at `now`.
    pub async fn add_update(
        &mut self,
        input: &UpdateInput,
        state: UpdateState,
        author_id: i64,
        now: Timestamp,
    ) -> Result<StatusUpdateRecord> {
        let published_at = (state == UpdateState::Published).then_some(ms(now));
        let id: i64 = self
            .tx
            .fetch_one(
                "INSERT INTO status_updates (incident_id, text, phase, audiences, state, next_update_by, author_id, \
                 created_at, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                args![
                    self.incident.id,
                    &input.text,
                    input.phase.as_str(),
                    audience_list(&input.audiences),
                    state.as_str(),
                    input.next_update_by.map(ms),
                    author_id,
                    ms(now),
                    published_at,
                ],
            )
            .await?
            .get("id")?;
        self.status_update(id).await
    }

    /// One of this incident's updates.
    pub async fn status_update(&mut self, update_id: i64) -> Result<StatusUpdateRecord> {
        load_updates(&mut self.tx, self.incident.id, Some(update_id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// Stores an update as `u` has it.
    pub async fn save_update(&mut self, u: &StatusUpdateRecord) -> Result<()> {
        self.tx
            .execute(
                "UPDATE status_updates SET text = $1, phase = $2, audiences = $3, state = $4, next_update_by = $5, \
                 published_at = $6, corrected_at = $7 WHERE id = $8",
                args![
                    &u.text,
                    u.phase.as_str(),
                    audience_list(&u.audiences),
                    u.state.as_str(),
                    u.next_update_by.map(ms),
                    u.published_at.map(ms),
                    u.corrected_at.map(ms),
                    u.id,
                ],
            )
            .await?;
        Ok(())
    }
}

fn audience_list(audiences: &[Audience]) -> String {
    audiences
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) async fn load_updates(
    conn: &mut Conn,
    incident_id: i64,
    only: Option<i64>,
) -> Result<Vec<StatusUpdateRecord>> {
    let (filter, id) = match only {
        Some(id) => ("s.id = $2", id),
        None => ("s.id > $2", 0),
    };
    let rows = conn
        .fetch_all(
            &format!("{UPDATES} WHERE s.incident_id = $1 AND {filter} ORDER BY s.id DESC"),
            args![incident_id, id],
        )
        .await?;
    let mut components = update_components(conn, incident_id).await?;
    let sent = conn
        .fetch_all(
            "SELECT p.update_id, u.username, d.kind, d.state, d.attempts FROM pages p \
             JOIN users u ON u.id = p.user_id JOIN deliveries d ON d.page_id = p.id \
             WHERE p.incident_id = $1 AND p.update_id IS NOT NULL ORDER BY d.id",
            args![incident_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let mut u = update_record(r)?;
            u.components = components.remove(&u.id).unwrap_or_default();
            for d in &sent {
                if d.get::<i64>("update_id")? == u.id {
                    u.sent.push(UpdateDelivery {
                        username: d.get("username")?,
                        kind: d.get("kind")?,
                        state: d.get("state")?,
                        attempts: d.get("attempts")?,
                    });
                }
            }
            Ok(u)
        })
        .collect()
}

fn update_record(r: &Row) -> Result<StatusUpdateRecord> {
    let audiences: String = r.get("audiences")?;
    Ok(StatusUpdateRecord {
        id: r.get("id")?,
        incident_id: r.get("incident_id")?,
        text: r.get("text")?,
        phase: r.parsed("phase")?,
        audiences: audiences
            .split(',')
            .map(|a| {
                a.parse()
                    .map_err(|_| StoreError::Corrupt(format!("audience {a:?}")))
            })
            .collect::<Result<_>>()?,
        state: r.parsed("state")?,
        next_update_by: r.opt_ts("next_update_by")?,
        author: r.get("author")?,
        created_at: r.ts("created_at")?,
        published_at: r.opt_ts("published_at")?,
        corrected_at: r.opt_ts("corrected_at")?,
        components: Vec::new(),
        sent: Vec::new(),
    })
}

fn subscription_scope(r: &Row) -> Result<SubscriptionScope> {
    let kind: String = r.get("scope")?;
    let severity: Option<String> = r.get("severity")?;
    SubscriptionScope::parse(&kind, r.get("service_id")?, severity.as_deref())
        .map_err(|e| StoreError::Corrupt(format!("subscription: {e}")))
}

async fn load_subscriptions(conn: &mut Conn, user_id: i64) -> Result<Vec<SubscriptionRecord>> {
    let rows = conn
        .fetch_all(
            "SELECT s.id, u.username, s.scope, s.audience, s.service_id, v.name AS service, s.severity, \
             s.contact_method_id, c.kind, s.created_at FROM update_subscriptions s \
             JOIN users u ON u.id = s.user_id JOIN contact_methods c ON c.id = s.contact_method_id \
             LEFT JOIN services v ON v.id = s.service_id WHERE s.user_id = $1 ORDER BY s.id",
            args![user_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SubscriptionRecord {
                id: r.get("id")?,
                username: r.get("username")?,
                scope: subscription_scope(r)?,
                audience: r.parsed("audience")?,
                service: r.get("service")?,
                contact_method_id: r.get("contact_method_id")?,
                contact_kind: r.get("kind")?,
                created_at: r.ts("created_at")?,
            })
        })
        .collect()
}

/// A template the team wrote, with who last changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    pub template: Template,
    pub updated_by: Option<String>,
    pub updated_at: Timestamp,
}

impl Store {
    /// The team's status update templates, by phase, audience and incident type (any first).
    pub async fn update_templates(&self) -> Result<Vec<TemplateRecord>> {
        let rows = self
            .fetch_all(
                "SELECT t.phase, t.audience, t.incident_type, t.text, t.updated_at, u.username \
                 FROM update_templates t LEFT JOIN users u ON u.id = t.updated_by \
                 ORDER BY t.phase, t.audience, t.incident_type",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let ty: String = r.get("incident_type")?;
                Ok(TemplateRecord {
                    template: Template {
                        phase: r.parsed("phase")?,
                        audience: r.parsed("audience")?,
                        incident_type: Some(ty).filter(|t| !t.is_empty()),
                        text: r.get("text")?,
                    },
                    updated_by: r.get("username")?,
                    updated_at: r.ts("updated_at")?,
                })
            })
            .collect()
    }

    /// Writes the team's template for its phase, audience and incident type, replacing one.
    pub async fn save_update_template(
        &self,
        template: &Template,
        user_id: i64,
        now: Timestamp,
    ) -> Result<()> {
        self.write_one(
            "INSERT INTO update_templates (phase, audience, incident_type, text, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (phase, audience, incident_type) \
             DO UPDATE SET text = excluded.text, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            args![
                template.phase.as_str(),
                template.audience.as_str(),
                template.incident_type.as_deref().unwrap_or(""),
                template.text.as_str(),
                user_id,
                ms(now)
            ],
        )
        .await?;
        Ok(())
    }

    /// Removes the team's template, so aplomb's own (or the one for any type) applies again;
    /// whether there was one.
    pub async fn remove_update_template(
        &self,
        phase: Phase,
        audience: Audience,
        incident_type: Option<&str>,
    ) -> Result<bool> {
        let removed = self
            .write_one(
                "DELETE FROM update_templates WHERE phase = $1 AND audience = $2 AND incident_type = $3",
                args![phase.as_str(), audience.as_str(), incident_type.unwrap_or("")],
            )
            .await?;
        Ok(removed > 0)
    }
}
