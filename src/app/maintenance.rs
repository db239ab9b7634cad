//! Scheduled maintenance: announced on the status page ahead of its window, its components
//! shown under maintenance while it runs, and the alerts of their services silenced. The
//! engine moves it on at its set times (`engine::maintenance`); by hand it is replanned,
//! cancelled before it starts or completed early.

use jiff::SignedDuration;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Aplomb, AppError, AppResult};
use crate::domain::access::Actor;
use crate::domain::maintenance::{MaintenancePlan, MaintenanceStatus, refuse_change};
use crate::domain::{FieldError, instant};
use crate::store::{Coverage, MaintenanceRecord, StoreError};

use super::status::HISTORY_DAYS;

/// A maintenance as its author plans it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceFields {
    /// 1 to 200 characters.
    #[schema(example = "Database upgrade")]
    #[schema(value_type = crate::app::schema::Title)]
    pub title: String,
    /// Markdown, shown to readers of the status page.
    #[schema(example = "Checkout may be slow for a few minutes.")]
    #[schema(value_type = Option<crate::app::schema::LongDescription>)]
    pub description: Option<String>,
    /// RFC 3339; now when absent.
    #[schema(example = "2026-03-03T02:00:00Z", format = DateTime)]
    pub scheduled_for: Option<String>,
    /// RFC 3339, after `scheduled_for` and at most 31 days later.
    #[schema(example = "2026-03-03T03:00:00Z", format = DateTime)]
    pub scheduled_until: String,
    /// Status page components it covers, by name; the alerts of their services are silenced
    /// over the window.
    #[serde(default)]
    #[schema(example = json!(["Checkout"]))]
    pub components: Vec<String>,
}

/// A change to a maintenance: a new plan (only the fields named change), or, on its own, a
/// `status`: `cancelled` before it starts, `completed` to end it early.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceEdit {
    #[schema(value_type = Option<crate::app::schema::Title>)]
    pub title: Option<String>,
    #[schema(value_type = Option<crate::app::schema::LongDescription>)]
    pub description: Option<String>,
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    #[schema(format = DateTime)]
    pub scheduled_until: Option<String>,
    pub components: Option<Vec<String>>,
    #[schema(example = "cancelled")]
    #[schema(value_type = Option<crate::app::schema::MaintenanceStatusName>)]
    pub status: Option<String>,
}

impl MaintenanceEdit {
    fn replans(&self) -> bool {
        self.title.is_some()
            || self.description.is_some()
            || self.scheduled_for.is_some()
            || self.scheduled_until.is_some()
            || self.components.is_some()
    }
}

impl Aplomb {
    /// Maintenances not over, and those of the status page's history window.
    pub async fn maintenances(&self, _actor: &Actor) -> AppResult<Vec<MaintenanceRecord>> {
        let since = self.now() - SignedDuration::from_hours(24 * i64::from(HISTORY_DAYS));
        Ok(self.store.maintenances(since).await?)
    }

    pub async fn maintenance(&self, _actor: &Actor, id: i64) -> AppResult<MaintenanceRecord> {
        self.store
            .maintenance(id)
            .await?
            .ok_or(AppError::NotFound("maintenance"))
    }

    pub async fn schedule_maintenance(
        &self,
        actor: &Actor,
        fields: &MaintenanceFields,
    ) -> AppResult<MaintenanceRecord> {
        require_responder(actor)?;
        let now = self.now();
        let scheduled_for = match fields.scheduled_for.as_deref() {
            Some(raw) => instant("scheduled_for", raw)?,
            None => now,
        };
        let scheduled_until = instant("scheduled_until", &fields.scheduled_until)?;
        let plan = MaintenancePlan::parse(
            &fields.title,
            fields.description.as_deref(),
            scheduled_for,
            scheduled_until,
            now,
        )?;
        let (components, services) = self.coverage(&fields.components).await?;
        let coverage = Coverage {
            components: &components,
            services: &services,
        };
        let scheduled = self
            .store
            .schedule_maintenance(&plan, &coverage, actor.id, now)
            .await?;
        self.maintenance_changed().await;
        Ok(scheduled)
    }

    pub async fn change_maintenance(
        &self,
        actor: &Actor,
        id: i64,
        edit: &MaintenanceEdit,
    ) -> AppResult<MaintenanceRecord> {
        require_responder(actor)?;
        let current = self.maintenance(actor, id).await?;
        let changed = match edit.status.as_deref() {
            Some(_) if edit.replans() => {
                return Err(FieldError::new(
                    "status",
                    "change the status on its own, not with a new plan",
                )
                .into());
            }
            Some(raw) => self.end_maintenance(&current, raw).await?,
            None => self.replan_maintenance(actor, &current, edit).await?,
        };
        self.maintenance_changed().await;
        Ok(changed)
    }

    async fn end_maintenance(
        &self,
        current: &MaintenanceRecord,
        raw: &str,
    ) -> AppResult<MaintenanceRecord> {
        let to: MaintenanceStatus = raw.parse()?;
        if let Some(reason) = refuse_change(current.status, to) {
            return Err(AppError::Conflict(format!(
                "the maintenance cannot be {to}: {reason}"
            )));
        }
        if !self
            .store
            .move_maintenance(current.id, current.status, to, self.now())
            .await?
        {
            return Err(AppError::Conflict(format!(
                "the maintenance is no longer {}: it moved on meanwhile",
                current.status
            )));
        }
        self.store
            .maintenance(current.id)
            .await?
            .ok_or(AppError::NotFound("maintenance"))
    }

    async fn replan_maintenance(
        &self,
        actor: &Actor,
        current: &MaintenanceRecord,
        edit: &MaintenanceEdit,
    ) -> AppResult<MaintenanceRecord> {
        if current.status.is_over() {
            return Err(AppError::Conflict(format!(
                "the maintenance is {} and no longer changes",
                current.status
            )));
        }
        let scheduled_for = match edit.scheduled_for.as_deref() {
            Some(_) if current.status == MaintenanceStatus::InProgress => {
                return Err(FieldError::new(
                    "scheduled_for",
                    "the maintenance has started: its start no longer moves",
                )
                .into());
            }
            Some(raw) => instant("scheduled_for", raw)?,
            None => current.scheduled_for,
        };
        let scheduled_until = match edit.scheduled_until.as_deref() {
            Some(raw) => instant("scheduled_until", raw)?,
            None => current.scheduled_until,
        };
        let plan = MaintenancePlan::parse(
            edit.title.as_deref().unwrap_or(&current.title),
            Some(edit.description.as_deref().unwrap_or(&current.description)),
            scheduled_for,
            scheduled_until,
            self.now(),
        )?;
        let names: Vec<String> = match &edit.components {
            Some(names) => names.clone(),
            None => current.components.iter().map(|(_, n)| n.clone()).collect(),
        };
        let (components, services) = self.coverage(&names).await?;
        let coverage = Coverage {
            components: &components,
            services: &services,
        };
        self.store
            .replan_maintenance(
                current.id,
                current.status,
                &plan,
                &coverage,
                actor.id,
                self.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => AppError::NotFound("maintenance"),
                e => e.into(),
            })
    }

    /// The ids of the named components and of the services behind them.
    async fn coverage(&self, names: &[String]) -> AppResult<(Vec<i64>, Vec<i64>)> {
        let known = self.store.components().await?;
        let catalog = self.store.list_services().await?;
        let (mut components, mut services) = (Vec::new(), Vec::new());
        for name in names {
            let component = known
                .iter()
                .find(|c| c.name == name.trim())
                .ok_or_else(|| {
                    FieldError::new("components", format!("no component named {name:?}"))
                })?;
            if components.contains(&component.id) {
                continue;
            }
            components.push(component.id);
            for service in &component.services {
                if let Some(s) = catalog.iter().find(|s| &s.name == service)
                    && !services.contains(&s.id)
                {
                    services.push(s.id);
                }
            }
        }
        Ok((components, services))
    }

    /// The status page redraws, and the engine looks again at when the next maintenance
    /// starts or ends.
    async fn maintenance_changed(&self) {
        self.engine.wake();
        self.announce_status_page().await;
    }
}

fn require_responder(actor: &Actor) -> AppResult<()> {
    if actor.can_act() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "viewers cannot schedule or change maintenance".into(),
        ))
    }
}
