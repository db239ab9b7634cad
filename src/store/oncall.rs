//! The organisation behind paging: responder profiles and contact methods, teams, schedules,
//! escalation policies, service on-call settings and engagement rules.

use super::db::{Conn, Row, args};
use super::{Result, Store, StoreError, WriteTx, ms};
use crate::domain::access::UserRole;
use crate::domain::schedule::{LayerSpec, Override, Schedule};
use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMethodRecord {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub address: String,
    /// Signing secret for webhook deliveries.
    pub secret: String,
}

/// A responder's rule: page through this contact method this many minutes after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRuleRecord {
    pub id: i64,
    pub contact_method_id: i64,
    pub delay_minutes: i64,
}

/// A contact method with the delay after a page before it is used.
#[derive(Debug, Clone)]
pub struct NotificationStep {
    pub method: ContactMethodRecord,
    pub delay_minutes: i64,
}

#[derive(Debug, Clone)]
pub struct TeamRecord {
    pub id: i64,
    pub name: String,
    pub domain: String,
    pub members: Vec<String>,
}

/// A schedule as stored: its layers as JSON, its overrides as rows.
#[derive(Debug, Clone)]
pub struct ScheduleRecord {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    pub layers_json: String,
    pub overrides: Vec<OverrideRecord>,
}

impl ScheduleRecord {
    /// The stored schedule as the domain sees it. It was validated before it was stored, so a
    /// failure here means the database holds something the code never wrote.
    pub fn schedule(&self) -> Result<Schedule> {
        let specs: Vec<LayerSpec> = serde_json::from_str(&self.layers_json)
            .map_err(|e| StoreError::Corrupt(format!("schedule {} layers: {e}", self.id)))?;
        let overrides = self
            .overrides
            .iter()
            .map(|o| Override {
                responder: o.user_id,
                start: o.start,
                end: o.end,
            })
            .collect();
        Schedule::from_specs(&self.time_zone, &specs, overrides)
            .map_err(|e| StoreError::Corrupt(format!("schedule {}: {e}", self.id)))
    }
}

#[derive(Debug, Clone)]
pub struct OverrideRecord {
    pub id: i64,
    pub user_id: i64,
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Debug, Clone)]
pub struct PolicyRecord {
    pub id: i64,
    pub name: String,
    pub repeat: i64,
    pub levels_json: String,
}

#[derive(Debug, Clone)]
pub struct EngagementRuleRecord {
    pub id: i64,
    pub name: String,
    pub conditions_json: String,
    pub target_json: String,
    pub engaged_as_json: Option<String>,
}

fn conflict(e: StoreError, what: String) -> StoreError {
    if e.is_unique_violation() {
        StoreError::Conflict(format!("{what} exists"))
    } else {
        e
    }
}

impl Store {
    pub async fn set_profile(
        &self,
        user_id: i64,
        time_zone: &str,
        skills_json: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        set_profile(&mut tx, user_id, time_zone, skills_json).await?;
        tx.commit().await
    }

    /// (time zone, skills JSON) of a responder, if they have a profile.
    pub async fn profile(&self, user_id: i64) -> Result<Option<(String, String)>> {
        let row = self
            .fetch_optional(
                "SELECT time_zone, skills FROM responder_profiles WHERE user_id = $1",
                args![user_id],
            )
            .await?;
        row.map(|r| Ok::<_, StoreError>((r.get("time_zone")?, r.get("skills")?)))
            .transpose()
    }

    pub async fn insert_contact_method(
        &self,
        user_id: i64,
        kind: &str,
        address: &str,
        secret: &str,
        now: Timestamp,
    ) -> Result<ContactMethodRecord> {
        let mut tx = self.begin_write().await?;
        let id = insert_contact_method(&mut tx, user_id, kind, address, secret, now).await?;
        tx.commit().await?;
        Ok(ContactMethodRecord {
            id,
            user_id,
            kind: kind.to_string(),
            address: address.to_string(),
            secret: secret.to_string(),
        })
    }

    /// Every responder's (user id, time zone, skills JSON), for `apply` and `export`.
    pub async fn profiles(&self) -> Result<Vec<(i64, String, String)>> {
        let rows = self
            .fetch_all(
                "SELECT user_id, time_zone, skills FROM responder_profiles",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.get("user_id")?, r.get("time_zone")?, r.get("skills")?)))
            .collect()
    }

    /// Everyone's contact methods, in the order they were added.
    pub async fn all_contact_methods(&self) -> Result<Vec<ContactMethodRecord>> {
        let rows = self
            .fetch_all(
                "SELECT id, user_id, kind, address, secret FROM contact_methods ORDER BY id",
                &[],
            )
            .await?;
        rows.iter().map(method_from_row).collect()
    }

    /// Everyone's notification rules, in the order they were added (the contact method tells
    /// whose).
    pub async fn all_notification_rules(&self) -> Result<Vec<NotificationRuleRecord>> {
        let rows = self
            .fetch_all(
                "SELECT id, contact_method_id, delay_minutes FROM notification_rules ORDER BY id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(NotificationRuleRecord {
                    id: r.get("id")?,
                    contact_method_id: r.get("contact_method_id")?,
                    delay_minutes: r.get("delay_minutes")?,
                })
            })
            .collect()
    }

    /// The kinds of contact method anyone has (`email`, `webhook`, …).
    pub async fn contact_method_kinds(&self) -> Result<Vec<String>> {
        let rows = self
            .fetch_all(
                "SELECT DISTINCT kind FROM contact_methods ORDER BY kind",
                &[],
            )
            .await?;
        rows.iter().map(|r| r.get("kind")).collect::<Result<_, _>>()
    }

    pub async fn contact_methods(&self, user_id: i64) -> Result<Vec<ContactMethodRecord>> {
        let mut conn = self.read().await?;
        contact_methods(&mut conn, user_id).await
    }

    pub async fn insert_notification_rule(
        &self,
        user_id: i64,
        method_id: i64,
        delay_minutes: i64,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = insert_notification_rule(&mut tx, user_id, method_id, delay_minutes).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A responder's own rules, in the order they were added (without the default of every
    /// contact method at once).
    pub async fn notification_rules(&self, user_id: i64) -> Result<Vec<NotificationRuleRecord>> {
        let rows = self.fetch_all("SELECT id, contact_method_id, delay_minutes FROM notification_rules WHERE user_id = $1 ORDER BY id", args![user_id])
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NotificationRuleRecord {
                    id: r.get("id")?,
                    contact_method_id: r.get("contact_method_id")?,
                    delay_minutes: r.get("delay_minutes")?,
                })
            })
            .collect()
    }

    /// Replaces the signing secret of one of a responder's contact methods; false when they
    /// have none with `id`. Deliveries still queued to it (first tries and retries) are signed
    /// with the new secret too: the old one, perhaps leaked, signs nothing more.
    pub async fn set_contact_secret(&self, user_id: i64, id: i64, secret: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let method = tx
            .fetch_optional(
                "UPDATE contact_methods SET secret = $1 WHERE id = $2 AND user_id = $3 \
             RETURNING kind, address",
                args![secret, id, user_id],
            )
            .await?;
        let Some(method) = method else {
            return Ok(false);
        };
        tx.execute(
            "UPDATE deliveries SET secret = $1 WHERE state = 'pending' AND kind = $2 \
             AND address = $3 AND page_id IN (SELECT id FROM pages WHERE user_id = $4)",
            args![
                secret,
                method.get::<String>("kind")?,
                method.get::<String>("address")?,
                user_id
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes one of a responder's notification rules; false when they have none with `id`.
    pub async fn delete_notification_rule(&self, user_id: i64, id: i64) -> Result<bool> {
        let done = self
            .write_one(
                "DELETE FROM notification_rules WHERE id = $1 AND user_id = $2",
                args![id, user_id],
            )
            .await?;
        Ok(done > 0)
    }

    /// Removes one of a responder's contact methods with the notification rules that use it;
    /// false when they have none with `id`. Deliveries already queued keep their own copy of
    /// the address.
    pub async fn delete_contact_method(&self, user_id: i64, id: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            "DELETE FROM notification_rules WHERE contact_method_id = $1 AND user_id = $2",
            args![id, user_id],
        )
        .await?;
        tx.execute(
            "DELETE FROM update_subscriptions WHERE contact_method_id = $1 AND user_id = $2",
            args![id, user_id],
        )
        .await?;
        let done = tx
            .execute(
                "DELETE FROM contact_methods WHERE id = $1 AND user_id = $2",
                args![id, user_id],
            )
            .await?;
        tx.commit().await?;
        Ok(done > 0)
    }

    pub async fn notification_steps(&self, user_id: i64) -> Result<Vec<NotificationStep>> {
        let mut conn = self.read().await?;
        notification_steps(&mut conn, user_id).await
    }

    pub async fn insert_team(
        &self,
        name: &str,
        domain: &str,
        member_ids: &[i64],
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = insert_team(&mut tx, name, domain, member_ids, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces a team's domain and members.
    pub async fn update_team(&self, id: i64, domain: &str, member_ids: &[i64]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        update_team(&mut tx, id, domain, member_ids).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn teams(&self) -> Result<Vec<TeamRecord>> {
        let rows = self
            .fetch_all("SELECT id, name, domain FROM teams ORDER BY name", &[])
            .await?;
        let mut teams = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.get("id")?;
            let members = self.fetch_all("SELECT u.username FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.username", args![id])
            .await?
            .iter()
            .map(|r| r.get("username"))
            .collect::<Result<Vec<String>, _>>()?;
            teams.push(TeamRecord {
                id,
                name: row.get("name")?,
                domain: row.get("domain")?,
                members,
            });
        }
        Ok(teams)
    }

    pub async fn insert_schedule(
        &self,
        name: &str,
        time_zone: &str,
        layers_json: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = insert_schedule(&mut tx, name, time_zone, layers_json, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn schedule(&self, id: i64) -> Result<Option<ScheduleRecord>> {
        let mut conn = self.read().await?;
        schedule(&mut conn, id).await
    }

    pub async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        let ids: Vec<i64> = self
            .fetch_all("SELECT id FROM schedules ORDER BY name", &[])
            .await?
            .iter()
            .map(|r| r.get("id"))
            .collect::<Result<_, _>>()?;
        let mut conn = self.read().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(schedule(&mut conn, id).await?);
        }
        Ok(out)
    }

    pub async fn insert_override(
        &self,
        schedule_id: i64,
        user_id: i64,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = tx.fetch_one("INSERT INTO schedule_overrides (schedule_id, user_id, start_at, end_at) VALUES ($1, $2, $3, $4) RETURNING id", args![schedule_id, user_id, ms(start), ms(end)])
        .await?
        .get("id")?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn insert_policy(
        &self,
        name: &str,
        repeat: i64,
        levels_json: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = insert_policy(&mut tx, name, repeat, levels_json, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn policies(&self) -> Result<Vec<PolicyRecord>> {
        let rows = self
            .fetch_all(
                "SELECT id, name, repeat_count, levels FROM escalation_policies ORDER BY name",
                &[],
            )
            .await?;
        rows.iter().map(policy_from_row).collect()
    }

    /// Sets a service's owner team, escalation policy, tags and dependencies together.
    pub async fn set_service_oncall(
        &self,
        service_id: i64,
        team_id: Option<i64>,
        policy_id: Option<i64>,
        tags_json: &str,
        depends_on: &[i64],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        set_service_oncall(
            &mut tx, service_id, team_id, policy_id, tags_json, depends_on,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every dependency edge (service, depends on), for cycle checks.
    pub async fn service_dependencies(&self) -> Result<Vec<(i64, i64)>> {
        let rows = self
            .fetch_all(
                "SELECT service_id, depends_on_id FROM service_dependencies",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.get("service_id")?, r.get("depends_on_id")?)))
            .collect()
    }

    /// (policy id, tags JSON) of each service named.
    pub async fn services_oncall(&self, service_ids: &[i64]) -> Result<Vec<(Option<i64>, String)>> {
        let mut out = Vec::with_capacity(service_ids.len());
        for id in service_ids {
            if let Some(row) = self
                .fetch_optional(
                    "SELECT escalation_policy_id, tags FROM services WHERE id = $1",
                    args![id],
                )
                .await?
            {
                out.push((row.get("escalation_policy_id")?, row.get("tags")?));
            }
        }
        Ok(out)
    }

    pub async fn insert_engagement_rule(
        &self,
        name: &str,
        conditions_json: &str,
        target_json: &str,
        engaged_as_json: Option<&str>,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = insert_engagement_rule(
            &mut tx,
            name,
            conditions_json,
            target_json,
            engaged_as_json,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn engagement_rules(&self) -> Result<Vec<EngagementRuleRecord>> {
        let rows = self
            .fetch_all(
                "SELECT id, name, conditions, target, engaged_as FROM engagement_rules ORDER BY id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(EngagementRuleRecord {
                    id: r.get("id")?,
                    name: r.get("name")?,
                    conditions_json: r.get("conditions")?,
                    target_json: r.get("target")?,
                    engaged_as_json: r.get("engaged_as")?,
                })
            })
            .collect()
    }
}

pub(super) fn policy_from_row(row: &Row) -> Result<PolicyRecord> {
    Ok(PolicyRecord {
        id: row.get("id")?,
        name: row.get("name")?,
        repeat: row.get("repeat_count")?,
        levels_json: row.get("levels")?,
    })
}

pub(super) async fn contact_methods(
    conn: &mut Conn,
    user_id: i64,
) -> Result<Vec<ContactMethodRecord>> {
    let rows = conn.fetch_all("SELECT id, user_id, kind, address, secret FROM contact_methods WHERE user_id = $1 ORDER BY id", args![user_id])
        .await?;
    rows.iter().map(method_from_row).collect()
}

fn method_from_row(r: &Row) -> Result<ContactMethodRecord> {
    Ok(ContactMethodRecord {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        kind: r.get("kind")?,
        address: r.get("address")?,
        secret: r.get("secret")?,
    })
}

/// Adds users to a team (those already in it stay once).
async fn add_team_members(conn: &mut Conn, team_id: i64, user_ids: &[i64]) -> Result<()> {
    for user in user_ids {
        conn.execute(
            "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            args![team_id, user],
        )
        .await?;
    }
    Ok(())
}

/// A responder's notification rules; without any, every contact method at once.
pub(super) async fn notification_steps(
    conn: &mut Conn,
    user_id: i64,
) -> Result<Vec<NotificationStep>> {
    let methods = contact_methods(conn, user_id).await?;
    let rules = conn.fetch_all("SELECT contact_method_id, delay_minutes FROM notification_rules WHERE user_id = $1 ORDER BY delay_minutes, id", args![user_id])
        .await?;
    if rules.is_empty() {
        return Ok(methods
            .into_iter()
            .map(|method| NotificationStep {
                method,
                delay_minutes: 0,
            })
            .collect());
    }
    let mut steps = Vec::with_capacity(rules.len());
    for rule in rules {
        let method_id: i64 = rule.get("contact_method_id")?;
        if let Some(method) = methods.iter().find(|m| m.id == method_id) {
            steps.push(NotificationStep {
                method: method.clone(),
                delay_minutes: rule.get("delay_minutes")?,
            });
        }
    }
    Ok(steps)
}

pub(super) async fn schedule(conn: &mut Conn, id: i64) -> Result<Option<ScheduleRecord>> {
    let Some(row) = conn
        .fetch_optional(
            "SELECT id, name, time_zone, layers FROM schedules WHERE id = $1",
            args![id],
        )
        .await?
    else {
        return Ok(None);
    };
    let overrides = conn.fetch_all("SELECT id, user_id, start_at, end_at FROM schedule_overrides WHERE schedule_id = $1 ORDER BY start_at", args![id])
    .await?
    .iter()
    .map(|r| {
        Ok(OverrideRecord {
            id: r.get("id")?,
            user_id: r.get("user_id")?,
            start: r.ts("start_at")?,
            end: r.ts("end_at")?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    Ok(Some(ScheduleRecord {
        id: row.get("id")?,
        name: row.get("name")?,
        time_zone: row.get("time_zone")?,
        layers_json: row.get("layers")?,
        overrides,
    }))
}

pub(super) async fn team_member_ids(conn: &mut Conn, team_id: i64) -> Result<Vec<i64>> {
    let rows = conn
        .fetch_all(
            "SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id",
            args![team_id],
        )
        .await?;
    rows.iter()
        .map(|r| r.get("user_id"))
        .collect::<Result<_, _>>()
}

/// One transaction that writes a whole org document (`apply`): every change commits, or none.
/// Its methods are the same statements the single-object writes run, on this transaction.
pub struct OrgTx {
    tx: WriteTx,
}

impl Store {
    pub async fn begin_org(&self) -> Result<OrgTx> {
        Ok(OrgTx {
            tx: self.begin_write().await?,
        })
    }
}

impl OrgTx {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }

    pub async fn insert_user(
        &mut self,
        username: &str,
        display_name: &str,
        role: UserRole,
        now: Timestamp,
    ) -> Result<i64> {
        super::users::insert_user(&mut self.tx, username, display_name, None, role, now).await
    }

    pub async fn set_profile(
        &mut self,
        user_id: i64,
        time_zone: &str,
        skills_json: &str,
    ) -> Result<()> {
        set_profile(&mut self.tx, user_id, time_zone, skills_json).await
    }

    pub async fn insert_contact_method(
        &mut self,
        user_id: i64,
        kind: &str,
        address: &str,
        secret: &str,
        now: Timestamp,
    ) -> Result<i64> {
        insert_contact_method(&mut self.tx, user_id, kind, address, secret, now).await
    }

    pub async fn insert_notification_rule(
        &mut self,
        user_id: i64,
        method_id: i64,
        delay_minutes: i64,
    ) -> Result<i64> {
        insert_notification_rule(&mut self.tx, user_id, method_id, delay_minutes).await
    }

    pub async fn insert_team(
        &mut self,
        name: &str,
        domain: &str,
        member_ids: &[i64],
        now: Timestamp,
    ) -> Result<i64> {
        insert_team(&mut self.tx, name, domain, member_ids, now).await
    }

    pub async fn update_team(&mut self, id: i64, domain: &str, member_ids: &[i64]) -> Result<()> {
        update_team(&mut self.tx, id, domain, member_ids).await
    }

    pub async fn insert_schedule(
        &mut self,
        name: &str,
        time_zone: &str,
        layers_json: &str,
        now: Timestamp,
    ) -> Result<i64> {
        insert_schedule(&mut self.tx, name, time_zone, layers_json, now).await
    }

    pub async fn update_schedule(
        &mut self,
        id: i64,
        time_zone: &str,
        layers_json: &str,
    ) -> Result<()> {
        self.tx
            .execute(
                "UPDATE schedules SET time_zone = $1, layers = $2 WHERE id = $3",
                args![time_zone, layers_json, id],
            )
            .await?;
        Ok(())
    }

    pub async fn insert_policy(
        &mut self,
        name: &str,
        repeat: i64,
        levels_json: &str,
        now: Timestamp,
    ) -> Result<i64> {
        insert_policy(&mut self.tx, name, repeat, levels_json, now).await
    }

    pub async fn update_policy(&mut self, id: i64, repeat: i64, levels_json: &str) -> Result<()> {
        self.tx
            .execute(
                "UPDATE escalation_policies SET repeat_count = $1, levels = $2 WHERE id = $3",
                args![repeat, levels_json, id],
            )
            .await?;
        Ok(())
    }

    pub async fn insert_service(
        &mut self,
        name: &str,
        description: &str,
        owner_team: &str,
        now: Timestamp,
    ) -> Result<i64> {
        super::users::insert_service(&mut self.tx, name, description, owner_team, now).await
    }

    pub async fn update_service(
        &mut self,
        id: i64,
        description: &str,
        owner_team: &str,
    ) -> Result<()> {
        self.tx
            .execute(
                "UPDATE services SET description = $1, owner_team = $2 WHERE id = $3",
                args![description, owner_team, id],
            )
            .await?;
        Ok(())
    }

    pub async fn set_service_oncall(
        &mut self,
        service_id: i64,
        team_id: Option<i64>,
        policy_id: Option<i64>,
        tags_json: &str,
        depends_on: &[i64],
    ) -> Result<()> {
        set_service_oncall(
            &mut self.tx,
            service_id,
            team_id,
            policy_id,
            tags_json,
            depends_on,
        )
        .await
    }

    pub async fn insert_engagement_rule(
        &mut self,
        name: &str,
        conditions_json: &str,
        target_json: &str,
        engaged_as_json: Option<&str>,
        now: Timestamp,
    ) -> Result<i64> {
        insert_engagement_rule(
            &mut self.tx,
            name,
            conditions_json,
            target_json,
            engaged_as_json,
            now,
        )
        .await
    }

    pub async fn update_engagement_rule(
        &mut self,
        id: i64,
        conditions_json: &str,
        target_json: &str,
        engaged_as_json: Option<&str>,
    ) -> Result<()> {
        self.tx.execute("UPDATE engagement_rules SET conditions = $1, target = $2, engaged_as = $3 WHERE id = $4", args![conditions_json, target_json, engaged_as_json, id])
        .await?;
        Ok(())
    }
}

async fn set_profile(
    conn: &mut Conn,
    user_id: i64,
    time_zone: &str,
    skills_json: &str,
) -> Result<()> {
    conn.execute("INSERT INTO responder_profiles (user_id, time_zone, skills) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET time_zone = excluded.time_zone, skills = excluded.skills", args![user_id, time_zone, skills_json])
    .await?;
    Ok(())
}

async fn insert_contact_method(
    conn: &mut Conn,
    user_id: i64,
    kind: &str,
    address: &str,
    secret: &str,
    now: Timestamp,
) -> Result<i64> {
    conn.fetch_one("INSERT INTO contact_methods (user_id, kind, address, secret, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id", args![user_id, kind, address, secret, ms(now)])
    .await?
    .get("id")
}

async fn insert_notification_rule(
    conn: &mut Conn,
    user_id: i64,
    method_id: i64,
    delay_minutes: i64,
) -> Result<i64> {
    conn.fetch_one("INSERT INTO notification_rules (user_id, contact_method_id, delay_minutes) VALUES ($1, $2, $3) RETURNING id", args![user_id, method_id, delay_minutes])
    .await?
    .get("id")
}

async fn insert_team(
    conn: &mut Conn,
    name: &str,
    domain: &str,
    member_ids: &[i64],
    now: Timestamp,
) -> Result<i64> {
    let id: i64 = conn
        .fetch_one(
            "INSERT INTO teams (name, domain, created_at) VALUES ($1, $2, $3) RETURNING id",
            args![name, domain, ms(now)],
        )
        .await
        .map_err(|e| conflict(e, format!("team {name:?}")))?
        .get("id")?;
    add_team_members(conn, id, member_ids).await?;
    Ok(id)
}

/// Replaces a team's domain and members.
async fn update_team(conn: &mut Conn, id: i64, domain: &str, member_ids: &[i64]) -> Result<()> {
    conn.execute(
        "UPDATE teams SET domain = $1 WHERE id = $2",
        args![domain, id],
    )
    .await?;
    conn.execute("DELETE FROM team_members WHERE team_id = $1", args![id])
        .await?;
    add_team_members(conn, id, member_ids).await
}

async fn insert_schedule(
    conn: &mut Conn,
    name: &str,
    time_zone: &str,
    layers_json: &str,
    now: Timestamp,
) -> Result<i64> {
    conn.fetch_one("INSERT INTO schedules (name, time_zone, layers, created_at) VALUES ($1, $2, $3, $4) RETURNING id", args![name, time_zone, layers_json, ms(now)])
    .await
    .map_err(|e| conflict(e, format!("schedule {name:?}")))?
    .get("id")
}

async fn insert_policy(
    conn: &mut Conn,
    name: &str,
    repeat: i64,
    levels_json: &str,
    now: Timestamp,
) -> Result<i64> {
    conn.fetch_one("INSERT INTO escalation_policies (name, repeat_count, levels, created_at) VALUES ($1, $2, $3, $4) RETURNING id", args![name, repeat, levels_json, ms(now)])
    .await
    .map_err(|e| conflict(e, format!("escalation policy {name:?}")))?
    .get("id")
}

/// Sets a service's owner team, escalation policy, tags and dependencies together.
async fn set_service_oncall(
    conn: &mut Conn,
    service_id: i64,
    team_id: Option<i64>,
    policy_id: Option<i64>,
    tags_json: &str,
    depends_on: &[i64],
) -> Result<()> {
    conn.execute(
        "UPDATE services SET team_id = $1, escalation_policy_id = $2, tags = $3 WHERE id = $4",
        args![team_id, policy_id, tags_json, service_id],
    )
    .await?;
    // The escalation policy is part of what the event writer keeps in memory.
    super::ingest::routes_changed(conn).await?;
    conn.execute(
        "DELETE FROM service_dependencies WHERE service_id = $1",
        args![service_id],
    )
    .await?;
    for dep in depends_on {
        conn.execute(
            "INSERT INTO service_dependencies (service_id, depends_on_id) VALUES ($1, $2)",
            args![service_id, dep],
        )
        .await?;
    }
    Ok(())
}

async fn insert_engagement_rule(
    conn: &mut Conn,
    name: &str,
    conditions_json: &str,
    target_json: &str,
    engaged_as_json: Option<&str>,
    now: Timestamp,
) -> Result<i64> {
    conn.fetch_one("INSERT INTO engagement_rules (name, conditions, target, engaged_as, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id", args![name, conditions_json, target_json, engaged_as_json, ms(now)])
    .await?
    .get("id")
}
