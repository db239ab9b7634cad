//! The organisation behind paging: responder profiles and contact methods, teams, schedules,
//! escalation policies, service on-call settings and engagement rules.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Result, Store, StoreError, WriteTx, is_unique_violation, ms, ts};
use crate::domain::access::UserRole;
use crate::domain::schedule::{LayerSpec, Override, Schedule};

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

fn conflict(e: sqlx::Error, what: String) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(format!("{what} exists"))
    } else {
        e.into()
    }
}

impl Store {
    pub async fn set_profile(
        &self,
        user_id: i64,
        time_zone: &str,
        skills_json: &str,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        set_profile(&mut conn, user_id, time_zone, skills_json).await
    }

    /// (time zone, skills JSON) of a responder, if they have a profile.
    pub async fn profile(&self, user_id: i64) -> Result<Option<(String, String)>> {
        let row =
            sqlx::query("SELECT time_zone, skills FROM responder_profiles WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row
            .map(|r| Ok::<_, sqlx::Error>((r.try_get("time_zone")?, r.try_get("skills")?)))
            .transpose()?)
    }

    pub async fn insert_contact_method(
        &self,
        user_id: i64,
        kind: &str,
        address: &str,
        secret: &str,
        now: Timestamp,
    ) -> Result<ContactMethodRecord> {
        let mut conn = self.pool.acquire().await?;
        let id = insert_contact_method(&mut conn, user_id, kind, address, secret, now).await?;
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
        let rows = sqlx::query("SELECT user_id, time_zone, skills FROM responder_profiles")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("user_id")?,
                    r.try_get("time_zone")?,
                    r.try_get("skills")?,
                ))
            })
            .collect()
    }

    /// Everyone's contact methods, in the order they were added.
    pub async fn all_contact_methods(&self) -> Result<Vec<ContactMethodRecord>> {
        let rows = sqlx::query(
            "SELECT id, user_id, kind, address, secret FROM contact_methods ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(method_from_row).collect()
    }

    /// Everyone's notification rules, in the order they were added (the contact method tells
    /// whose).
    pub async fn all_notification_rules(&self) -> Result<Vec<NotificationRuleRecord>> {
        let rows = sqlx::query(
            "SELECT id, contact_method_id, delay_minutes FROM notification_rules ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NotificationRuleRecord {
                    id: r.try_get("id")?,
                    contact_method_id: r.try_get("contact_method_id")?,
                    delay_minutes: r.try_get("delay_minutes")?,
                })
            })
            .collect()
    }

    /// The kinds of contact method anyone has (`email`, `webhook`, …).
    pub async fn contact_method_kinds(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT kind FROM contact_methods ORDER BY kind")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("kind"))
            .collect::<Result<_, _>>()?)
    }

    pub async fn contact_methods(&self, user_id: i64) -> Result<Vec<ContactMethodRecord>> {
        let mut conn = self.pool.acquire().await?;
        contact_methods(&mut conn, user_id).await
    }

    pub async fn insert_notification_rule(
        &self,
        user_id: i64,
        method_id: i64,
        delay_minutes: i64,
    ) -> Result<i64> {
        let mut conn = self.pool.acquire().await?;
        insert_notification_rule(&mut conn, user_id, method_id, delay_minutes).await
    }

    /// A responder's own rules, in the order they were added (without the default of every
    /// contact method at once).
    pub async fn notification_rules(&self, user_id: i64) -> Result<Vec<NotificationRuleRecord>> {
        let rows = sqlx::query(
            "SELECT id, contact_method_id, delay_minutes FROM notification_rules WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NotificationRuleRecord {
                    id: r.try_get("id")?,
                    contact_method_id: r.try_get("contact_method_id")?,
                    delay_minutes: r.try_get("delay_minutes")?,
                })
            })
            .collect()
    }

    /// Replaces the signing secret of one of a responder's contact methods; false when they
    /// have none with `id`. Deliveries still queued to it (first tries and retries) are signed
    /// with the new secret too: the old one, perhaps leaked, signs nothing more.
    pub async fn set_contact_secret(&self, user_id: i64, id: i64, secret: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let method = sqlx::query(
            "UPDATE contact_methods SET secret = $1 WHERE id = $2 AND user_id = $3 \
             RETURNING kind, address",
        )
        .bind(secret)
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(method) = method else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE deliveries SET secret = $1 WHERE state = 'pending' AND kind = $2 \
             AND address = $3 AND page_id IN (SELECT id FROM pages WHERE user_id = $4)",
        )
        .bind(secret)
        .bind(method.try_get::<String, _>("kind")?)
        .bind(method.try_get::<String, _>("address")?)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes one of a responder's notification rules; false when they have none with `id`.
    pub async fn delete_notification_rule(&self, user_id: i64, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM notification_rules WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes one of a responder's contact methods with the notification rules that use it;
    /// false when they have none with `id`. Deliveries already queued keep their own copy of
    /// the address.
    pub async fn delete_contact_method(&self, user_id: i64, id: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM notification_rules WHERE contact_method_id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM contact_methods WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn notification_steps(&self, user_id: i64) -> Result<Vec<NotificationStep>> {
        let mut conn = self.pool.acquire().await?;
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
        let rows = sqlx::query("SELECT id, name, domain FROM teams ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let mut teams = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let members = sqlx::query(
                "SELECT u.username FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.username",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("username"))
            .collect::<Result<Vec<String>, _>>()?;
            teams.push(TeamRecord {
                id,
                name: row.try_get("name")?,
                domain: row.try_get("domain")?,
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
        let mut conn = self.pool.acquire().await?;
        insert_schedule(&mut conn, name, time_zone, layers_json, now).await
    }

    pub async fn schedule(&self, id: i64) -> Result<Option<ScheduleRecord>> {
        let mut conn = self.pool.acquire().await?;
        schedule(&mut conn, id).await
    }

    pub async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        let ids: Vec<i64> = sqlx::query("SELECT id FROM schedules ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let mut conn = self.pool.acquire().await?;
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
        Ok(sqlx::query(
            "INSERT INTO schedule_overrides (schedule_id, user_id, start_at, end_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(schedule_id)
        .bind(user_id)
        .bind(ms(start))
        .bind(ms(end))
        .fetch_one(&self.pool)
        .await?
        .try_get("id")?)
    }

    pub async fn insert_policy(
        &self,
        name: &str,
        repeat: i64,
        levels_json: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let mut conn = self.pool.acquire().await?;
        insert_policy(&mut conn, name, repeat, levels_json, now).await
    }

    pub async fn policies(&self) -> Result<Vec<PolicyRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, repeat_count, levels FROM escalation_policies ORDER BY name",
        )
        .fetch_all(&self.pool)
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
        let rows = sqlx::query("SELECT service_id, depends_on_id FROM service_dependencies")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("service_id")?, r.try_get("depends_on_id")?)))
            .collect()
    }

    /// (policy id, tags JSON) of each service named.
    pub async fn services_oncall(&self, service_ids: &[i64]) -> Result<Vec<(Option<i64>, String)>> {
        let mut out = Vec::with_capacity(service_ids.len());
        for id in service_ids {
            if let Some(row) =
                sqlx::query("SELECT escalation_policy_id, tags FROM services WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            {
                out.push((row.try_get("escalation_policy_id")?, row.try_get("tags")?));
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
        let mut conn = self.pool.acquire().await?;
        insert_engagement_rule(
            &mut conn,
            name,
            conditions_json,
            target_json,
            engaged_as_json,
            now,
        )
        .await
    }

    pub async fn engagement_rules(&self) -> Result<Vec<EngagementRuleRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, conditions, target, engaged_as FROM engagement_rules ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EngagementRuleRecord {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    conditions_json: r.try_get("conditions")?,
                    target_json: r.try_get("target")?,
                    engaged_as_json: r.try_get("engaged_as")?,
                })
            })
            .collect()
    }
}

pub(super) fn policy_from_row(row: &AnyRow) -> Result<PolicyRecord> {
    Ok(PolicyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        repeat: row.try_get("repeat_count")?,
        levels_json: row.try_get("levels")?,
    })
}

pub(super) async fn contact_methods(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<ContactMethodRecord>> {
    let rows = sqlx::query("SELECT id, user_id, kind, address, secret FROM contact_methods WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(method_from_row).collect()
}

fn method_from_row(r: &AnyRow) -> Result<ContactMethodRecord> {
    Ok(ContactMethodRecord {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        kind: r.try_get("kind")?,
        address: r.try_get("address")?,
        secret: r.try_get("secret")?,
    })
}

/// Adds users to a team (those already in it stay once).
async fn add_team_members(conn: &mut AnyConnection, team_id: i64, user_ids: &[i64]) -> Result<()> {
    for user in user_ids {
        sqlx::query(
            "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(team_id)
        .bind(user)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A responder's notification rules; without any, every contact method at once.
pub(super) async fn notification_steps(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<NotificationStep>> {
    let methods = contact_methods(conn, user_id).await?;
    let rules = sqlx::query("SELECT contact_method_id, delay_minutes FROM notification_rules WHERE user_id = $1 ORDER BY delay_minutes, id")
        .bind(user_id)
        .fetch_all(&mut *conn)
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
        let method_id: i64 = rule.try_get("contact_method_id")?;
        if let Some(method) = methods.iter().find(|m| m.id == method_id) {
            steps.push(NotificationStep {
                method: method.clone(),
                delay_minutes: rule.try_get("delay_minutes")?,
            });
        }
    }
    Ok(steps)
}

pub(super) async fn schedule(conn: &mut AnyConnection, id: i64) -> Result<Option<ScheduleRecord>> {
    let Some(row) = sqlx::query("SELECT id, name, time_zone, layers FROM schedules WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let overrides = sqlx::query(
        "SELECT id, user_id, start_at, end_at FROM schedule_overrides WHERE schedule_id = $1 ORDER BY start_at",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(OverrideRecord {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            start: ts(r, "start_at")?,
            end: ts(r, "end_at")?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    Ok(Some(ScheduleRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        time_zone: row.try_get("time_zone")?,
        layers_json: row.try_get("layers")?,
        overrides,
    }))
}

pub(super) async fn team_member_ids(conn: &mut AnyConnection, team_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id")
        .bind(team_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("user_id"))
        .collect::<Result<_, _>>()?)
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
        sqlx::query("UPDATE schedules SET time_zone = $1, layers = $2 WHERE id = $3")
            .bind(time_zone)
            .bind(layers_json)
            .bind(id)
            .execute(&mut *self.tx)
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
        sqlx::query("UPDATE escalation_policies SET repeat_count = $1, levels = $2 WHERE id = $3")
            .bind(repeat)
            .bind(levels_json)
            .bind(id)
            .execute(&mut *self.tx)
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
        sqlx::query("UPDATE services SET description = $1, owner_team = $2 WHERE id = $3")
            .bind(description)
            .bind(owner_team)
            .bind(id)
            .execute(&mut *self.tx)
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
        sqlx::query(
            "UPDATE engagement_rules SET conditions = $1, target = $2, engaged_as = $3 WHERE id = $4",
        )
        .bind(conditions_json)
        .bind(target_json)
        .bind(engaged_as_json)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

async fn set_profile(
    conn: &mut AnyConnection,
    user_id: i64,
    time_zone: &str,
    skills_json: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO responder_profiles (user_id, time_zone, skills) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET time_zone = excluded.time_zone, skills = excluded.skills",
    )
    .bind(user_id)
    .bind(time_zone)
    .bind(skills_json)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_contact_method(
    conn: &mut AnyConnection,
    user_id: i64,
    kind: &str,
    address: &str,
    secret: &str,
    now: Timestamp,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO contact_methods (user_id, kind, address, secret, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(kind)
    .bind(address)
    .bind(secret)
    .bind(ms(now))
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?)
}

async fn insert_notification_rule(
    conn: &mut AnyConnection,
    user_id: i64,
    method_id: i64,
    delay_minutes: i64,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO notification_rules (user_id, contact_method_id, delay_minutes) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(user_id)
    .bind(method_id)
    .bind(delay_minutes)
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?)
}

async fn insert_team(
    conn: &mut AnyConnection,
    name: &str,
    domain: &str,
    member_ids: &[i64],
    now: Timestamp,
) -> Result<i64> {
    let id: i64 = sqlx::query(
        "INSERT INTO teams (name, domain, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(domain)
    .bind(ms(now))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| conflict(e, format!("team {name:?}")))?
    .try_get("id")?;
    add_team_members(conn, id, member_ids).await?;
    Ok(id)
}

/// Replaces a team's domain and members.
async fn update_team(
    conn: &mut AnyConnection,
    id: i64,
    domain: &str,
    member_ids: &[i64],
) -> Result<()> {
    sqlx::query("UPDATE teams SET domain = $1 WHERE id = $2")
        .bind(domain)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM team_members WHERE team_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    add_team_members(conn, id, member_ids).await
}

async fn insert_schedule(
    conn: &mut AnyConnection,
    name: &str,
    time_zone: &str,
    layers_json: &str,
    now: Timestamp,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO schedules (name, time_zone, layers, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(time_zone)
    .bind(layers_json)
    .bind(ms(now))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| conflict(e, format!("schedule {name:?}")))?
    .try_get("id")?)
}

async fn insert_policy(
    conn: &mut AnyConnection,
    name: &str,
    repeat: i64,
    levels_json: &str,
    now: Timestamp,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO escalation_policies (name, repeat_count, levels, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(repeat)
    .bind(levels_json)
    .bind(ms(now))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| conflict(e, format!("escalation policy {name:?}")))?
    .try_get("id")?)
}

/// Sets a service's owner team, escalation policy, tags and dependencies together.
async fn set_service_oncall(
    conn: &mut AnyConnection,
    service_id: i64,
    team_id: Option<i64>,
    policy_id: Option<i64>,
    tags_json: &str,
    depends_on: &[i64],
) -> Result<()> {
    sqlx::query(
        "UPDATE services SET team_id = $1, escalation_policy_id = $2, tags = $3 WHERE id = $4",
    )
    .bind(team_id)
    .bind(policy_id)
    .bind(tags_json)
    .bind(service_id)
    .execute(&mut *conn)
    .await?;
    // The escalation policy is part of what the event writer keeps in memory.
    super::ingest::routes_changed(conn).await?;
    sqlx::query("DELETE FROM service_dependencies WHERE service_id = $1")
        .bind(service_id)
        .execute(&mut *conn)
        .await?;
    for dep in depends_on {
        sqlx::query("INSERT INTO service_dependencies (service_id, depends_on_id) VALUES ($1, $2)")
            .bind(service_id)
            .bind(dep)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn insert_engagement_rule(
    conn: &mut AnyConnection,
    name: &str,
    conditions_json: &str,
    target_json: &str,
    engaged_as_json: Option<&str>,
    now: Timestamp,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO engagement_rules (name, conditions, target, engaged_as, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(conditions_json)
    .bind(target_json)
    .bind(engaged_as_json)
    .bind(ms(now))
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?)
}
