//! The public status page: its components and its brand (administered by admins), the
//! component statuses public updates set, and the snapshot the page, its JSON, feed and badges are rendered
//! from. The snapshot reads only public updates of public incidents.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Aplomb, AppResult, require_admin};
use crate::announce::STATUS_PAGE_CHANGED;
use crate::config::StatusPageBrand;
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::communication::Audience;
use crate::domain::maintenance::MaintenanceStatus;
use crate::domain::status::{
    self, Brand, ComponentInput, ComponentStatus, Day, Indicator, PublicIncident,
};
use crate::store::{ComponentRecord, MaintenanceRecord, StoreError};

/// How far back the page's history and uptime bars reach.
pub const HISTORY_DAYS: i32 = 90;

/// The status page's brand as an admin sets it; `logo_url` left out or empty means none.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandFields {
    /// The page's title, 1 to 100 characters.
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
    /// An image shown beside the title: an http(s) URL.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// The header's colour, `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub accent: String,
}

/// A component as the API and the administration page give it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentFields {
    /// Unique, 1 to 100 characters.
    #[schema(example = "Checkout")]
    #[schema(value_type = crate::app::schema::Name)]
    pub name: String,
    #[schema(example = "Paying for orders")]
    #[schema(value_type = Option<crate::app::schema::ShortDescription>)]
    pub description: Option<String>,
    /// Components of one group are shown together.
    #[schema(example = "Shop")]
    #[schema(value_type = Option<crate::app::schema::BlankName>)]
    pub group: Option<String>,
    /// The services behind it, by name.
    #[serde(default)]
    #[schema(example = json!(["checkout-api"]))]
    pub services: Vec<String>,
}

/// A change to a component: only the fields named change (`services` replaces the list).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentEdit {
    #[schema(example = "Checkout")]
    #[schema(value_type = Option<crate::app::schema::Name>)]
    pub name: Option<String>,
    #[schema(value_type = Option<crate::app::schema::ShortDescription>)]
    pub description: Option<String>,
    /// An empty group takes the component out of its group.
    #[schema(value_type = Option<crate::app::schema::BlankName>)]
    pub group: Option<String>,
    pub services: Option<Vec<String>>,
}

/// A component status a public update sets.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentChange {
    /// A component's name.
    #[schema(example = "Checkout")]
    pub name: String,
    /// `operational`, `degraded_performance`, `partial_outage`, `major_outage` or
    /// `under_maintenance`.
    #[schema(example = "partial_outage")]
    #[schema(value_type = crate::app::schema::ComponentStatusName)]
    pub status: String,
}

/// A component on the page now.
#[derive(Debug, Clone)]
pub struct ComponentState {
    pub record: ComponentRecord,
    pub status: ComponentStatus,
    /// Its uptime bar, one day each, oldest first.
    pub days: Vec<Day>,
    pub uptime_percent: f64,
}

/// Everything the public status page shows, read once per change.
#[derive(Debug, Clone)]
pub struct StatusSnapshot {
    pub brand: StatusPageBrand,
    pub components: Vec<ComponentState>,
    /// Public incidents of the last `HISTORY_DAYS` days and any still open, newest first.
    pub incidents: Vec<PublicIncident>,
    /// Maintenances not over and those that completed in the last `HISTORY_DAYS` days, latest
    /// window first; never a cancelled one.
    pub maintenances: Vec<MaintenanceRecord>,
    pub indicator: Indicator,
    /// When anything readers see last changed.
    pub updated_at: Timestamp,
    pub built_at: Timestamp,
}

impl StatusSnapshot {
    pub fn open_incidents(&self) -> impl Iterator<Item = &PublicIncident> {
        self.incidents.iter().filter(|i| i.is_open())
    }

    pub fn component(&self, id: i64) -> Option<&ComponentState> {
        self.components.iter().find(|c| c.record.id == id)
    }

    /// Maintenances announced and not started, soonest first.
    pub fn upcoming_maintenances(&self) -> impl Iterator<Item = &MaintenanceRecord> {
        self.maintenances
            .iter()
            .rev()
            .filter(|m| m.status == MaintenanceStatus::Scheduled)
    }

    pub fn active_maintenances(&self) -> impl Iterator<Item = &MaintenanceRecord> {
        self.maintenances
            .iter()
            .filter(|m| m.status == MaintenanceStatus::InProgress)
    }
}

impl Aplomb {
    /// The status page's components, in page order; anyone signed in may read them.
    pub async fn components(&self, _actor: &Actor) -> AppResult<Vec<ComponentRecord>> {
        Ok(self.store.components().await?)
    }

    pub async fn add_component(
        &self,
        actor: &Actor,
        fields: &ComponentFields,
    ) -> AppResult<ComponentRecord> {
        require_admin(actor)?;
        let (input, services) = self.component_input(fields).await?;
        let added = self
            .store
            .add_component(&input, &services, self.now())
            .await?;
        self.announce_status_page().await;
        Ok(added)
    }

    pub async fn edit_component(
        &self,
        actor: &Actor,
        id: i64,
        edit: &ComponentEdit,
    ) -> AppResult<ComponentRecord> {
        require_admin(actor)?;
        let current = self
            .store
            .component(id)
            .await?
            .ok_or(super::AppError::NotFound("component"))?;
        let fields = ComponentFields {
            name: edit.name.clone().unwrap_or(current.name),
            description: edit.description.clone().or(Some(current.description)),
            group: edit.group.clone().or(current.group),
            services: edit.services.clone().unwrap_or(current.services),
        };
        let (input, services) = self.component_input(&fields).await?;
        let edited = self
            .store
            .edit_component(id, &input, &services, self.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => super::AppError::NotFound("component"),
                e => e.into(),
            })?;
        self.announce_status_page().await;
        Ok(edited)
    }

    async fn component_input(
        &self,
        fields: &ComponentFields,
    ) -> AppResult<(ComponentInput, Vec<i64>)> {
        let input = ComponentInput::parse(
            &fields.name,
            fields.description.as_deref(),
            fields.group.as_deref(),
            &fields.services,
        )?;
        let catalog = self.store.list_services().await?;
        let mut ids = Vec::new();
        for name in &input.services {
            let found = catalog
                .iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| FieldError::new("services", format!("no service named {name:?}")))?;
            ids.push(found.id);
        }
        Ok((input, ids))
    }

    /// The component statuses an update to `audiences` sets, by component id: only a public
    /// update sets any, since they are shown on the public page.
    pub(super) async fn component_changes(
        &self,
        changes: &[ComponentChange],
        audiences: &[Audience],
    ) -> AppResult<Vec<(i64, ComponentStatus)>> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        if !audiences.contains(&Audience::Public) {
            return Err(FieldError::new(
                "components",
                "component statuses are shown on the public status page: only a public update sets them",
            )
            .into());
        }
        let known = self.store.components().await?;
        let mut set: Vec<(i64, ComponentStatus)> = Vec::new();
        for change in changes {
            let component = known
                .iter()
                .find(|c| c.name == change.name.trim())
                .ok_or_else(|| {
                    FieldError::new(
                        "components",
                        format!("no component named {:?}", change.name),
                    )
                })?;
            let status: ComponentStatus = change
                .status
                .parse()
                .map_err(|e: FieldError| FieldError::new("components", e.message))?;
            if set.iter().any(|(id, _)| *id == component.id) {
                return Err(FieldError::new(
                    "components",
                    format!("{} is named twice", component.name),
                )
                .into());
            }
            set.push((component.id, status));
        }
        Ok(set)
    }

    /// How the status page presents itself now: as an admin set it, else as the config file
    /// says.
    pub async fn status_brand(&self) -> AppResult<StatusPageBrand> {
        let set = self.store.status_brand().await?;
        Ok(self.settings.status_page.overlaid(set.as_ref()))
    }

    /// Sets the status page's brand (admins); readers see it within a second.
    pub async fn set_status_brand(
        &self,
        actor: &Actor,
        fields: &BrandFields,
    ) -> AppResult<StatusPageBrand> {
        require_admin(actor)?;
        let brand = Brand::parse(&fields.name, fields.logo_url.as_deref(), &fields.accent)?;
        self.store
            .set_status_brand(&brand, actor.id, self.now())
            .await?;
        self.announce_status_page().await;
        Ok(self.settings.status_page.overlaid(Some(&brand)))
    }

    pub(super) async fn announce_status_page(&self) {
        self.announce(STATUS_PAGE_CHANGED).await;
    }

    /// Reads what the status page shows now, and records the components whose status
    /// changed since the history last said, so their uptime bars show it.
    pub async fn status_snapshot(&self) -> AppResult<StatusSnapshot> {
        let now = self.now();
        let since = now - SignedDuration::from_hours(24 * i64::from(HISTORY_DAYS));
        let records = self.store.components().await?;
        let incidents = self.store.public_incidents(since).await?;
        let mut maintenances = self.store.maintenances(since).await?;
        maintenances.retain(|m| m.status != MaintenanceStatus::Cancelled);
        let in_maintenance: Vec<i64> = maintenances
            .iter()
            .filter(|m| m.status == MaintenanceStatus::InProgress)
            .flat_map(MaintenanceRecord::component_ids)
            .collect();
        let ids: Vec<i64> = records.iter().map(|c| c.id).collect();
        let statuses = status::component_statuses(&ids, &incidents, &in_maintenance);
        let mut history = self.store.component_history(since).await?;
        let mut changed = Vec::new();
        for id in &ids {
            let log = history.entry(*id).or_default();
            let last = log.last().map_or(ComponentStatus::Operational, |(_, s)| *s);
            if statuses[id] != last {
                changed.push((*id, statuses[id]));
                log.push((now, statuses[id]));
            }
        }
        self.store.log_component_statuses(&changed, now).await?;
        let indicator = status::indicator(&statuses, &incidents);
        let updated_at = incidents
            .iter()
            .map(PublicIncident::updated_at)
            .chain(records.iter().map(|c| c.updated_at))
            .chain(maintenances.iter().map(|m| m.updated_at))
            .max()
            .unwrap_or(now);
        let components = records
            .into_iter()
            .map(|record| {
                let log = history.remove(&record.id).unwrap_or_default();
                let days = status::uptime(&log, record.created_at, now, HISTORY_DAYS);
                ComponentState {
                    uptime_percent: status::uptime_percent(&days, record.created_at, now),
                    status: statuses[&record.id],
                    days,
                    record,
                }
            })
            .collect();
        Ok(StatusSnapshot {
            brand: self.status_brand().await?,
            components,
            incidents,
            maintenances,
            indicator,
            updated_at,
            built_at: now,
        })
    }
}
