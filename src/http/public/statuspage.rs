//! Atlassian Statuspage's public API v2 shapes (CONTRACTS.md §8), so dashboards, widgets and
//! aggregators built for Statuspage read aplomb unchanged. Ids are strings there; aplomb's
//! numbers are written as such, and a group, which Statuspage shows as a component holding
//! others, gets an id from its name.

use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::app::{ComponentState, StatusSnapshot};
use crate::domain::communication::Phase;
use crate::domain::maintenance::MaintenanceStatus;
use crate::domain::status::{ComponentStatus, Indicator, PublicIncident};
use crate::store::MaintenanceRecord;

/// The page's one id: aplomb serves one status page.
const PAGE_ID: &str = "aplomb";
/// The 50 most recent, as Statuspage's `incidents.json`.
const RECENT_INCIDENTS: usize = 50;

/// The page every document names.
#[derive(Clone, Serialize, ToSchema)]
#[schema(as = StatuspagePage)]
pub struct Page {
    /// Always `aplomb`: one status page per aplomb.
    pub id: &'static str,
    pub name: String,
    pub url: String,
    pub time_zone: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// The page's overall state.
#[derive(Clone, Serialize, ToSchema)]
#[schema(as = StatuspagePageStatus)]
pub struct PageStatus {
    pub indicator: Indicator,
    pub description: &'static str,
}

/// A component, or a group of them (`group: true`, its members' ids in `components`).
#[derive(Clone, Serialize, ToSchema)]
#[schema(as = StatuspageComponent)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub status: ComponentStatus,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub position: i64,
    pub description: Option<String>,
    pub showcase: bool,
    pub group_id: Option<String>,
    pub group: bool,
    pub only_show_if_degraded: bool,
    pub page_id: &'static str,
    /// The day it was added; none for a group.
    #[schema(value_type = Option<String>, format = Date)]
    pub start_date: Option<String>,
    /// A group's members, by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
}

/// A component an update changed.
#[derive(Clone, Serialize, ToSchema)]
#[schema(as = StatuspageAffectedComponent)]
pub struct AffectedComponent {
    pub code: String,
    pub name: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

/// What an update says an incident or a maintenance is at.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = StatuspageUpdateStatus)]
pub enum UpdateStatus {
    Incident(Phase),
    Maintenance(MaintenanceStatus),
}

/// One public update of an incident, or one moment of a maintenance.
#[derive(Clone, Serialize, ToSchema)]
#[schema(as = StatuspageIncidentUpdate)]
pub struct IncidentUpdate {
    pub id: String,
    pub incident_id: String,
    pub status: UpdateStatus,
    pub body: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub display_at: Timestamp,
    pub affected_components: Vec<AffectedComponent>,
}

/// An incident as the page shows it: only its public updates.
#[derive(Clone, Serialize, ToSchema)]
#[schema(as = StatuspageIncident)]
pub struct Incident {
    pub id: String,
    pub name: String,
    pub status: UpdateStatus,
    /// The incident's impact, or `maintenance`.
    #[schema(value_type = String, example = "minor")]
    pub impact: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub monitoring_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    pub shortlink: String,
    pub page_id: &'static str,
    pub components: Vec<Component>,
    /// Newest first.
    pub incident_updates: Vec<IncidentUpdate>,
}

/// A scheduled maintenance: an incident with impact `maintenance` and its window.
#[derive(Clone, Serialize, ToSchema)]
#[schema(as = StatuspageScheduledMaintenance)]
pub struct ScheduledMaintenance {
    #[serde(flatten)]
    pub incident: Incident,
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_for: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_until: Timestamp,
}

/// `summary.json`: everything at once.
#[derive(Serialize, ToSchema)]
#[schema(as = StatuspageSummary)]
pub struct Summary {
    pub page: Page,
    pub status: PageStatus,
    pub components: Vec<Component>,
    /// The unresolved incidents.
    pub incidents: Vec<Incident>,
    /// Those under way, then those announced.
    pub scheduled_maintenances: Vec<ScheduledMaintenance>,
}

/// `status.json`.
#[derive(Serialize, ToSchema)]
#[schema(as = StatuspageStatusDocument)]
pub struct StatusDocument {
    pub page: Page,
    pub status: PageStatus,
}

/// `components.json`.
#[derive(Serialize, ToSchema)]
#[schema(as = StatuspageComponentsDocument)]
pub struct ComponentsDocument {
    pub page: Page,
    pub components: Vec<Component>,
}

/// `incidents.json` and `incidents/unresolved.json`.
#[derive(Serialize, ToSchema)]
#[schema(as = StatuspageIncidentsDocument)]
pub struct IncidentsDocument {
    pub page: Page,
    pub incidents: Vec<Incident>,
}

/// `scheduled-maintenances.json` and its `upcoming` and `active` lists.
#[derive(Serialize, ToSchema)]
#[schema(as = StatuspageMaintenancesDocument)]
pub struct MaintenancesDocument {
    pub page: Page,
    pub scheduled_maintenances: Vec<ScheduledMaintenance>,
}

/// Every JSON document, rendered together from one snapshot.
pub struct Documents {
    pub summary: Summary,
    pub status: StatusDocument,
    pub components: ComponentsDocument,
    pub incidents: IncidentsDocument,
    pub unresolved: IncidentsDocument,
    /// Every maintenance of the page's window; those announced and not begun; those under way.
    pub maintenances: MaintenancesDocument,
    pub upcoming: MaintenancesDocument,
    pub active: MaintenancesDocument,
}

impl Documents {
    pub fn new(s: &StatusSnapshot) -> Self {
        let page = Page {
            id: PAGE_ID,
            name: s.brand.name.clone(),
            url: s.brand.url.clone(),
            time_zone: "Etc/UTC",
            updated_at: s.updated_at,
        };
        let status = PageStatus {
            indicator: s.indicator,
            description: s.indicator.description(),
        };
        let components = components(s);
        let unresolved: Vec<Incident> = s.open_incidents().map(|i| incident(s, i)).collect();
        let recent: Vec<Incident> = s
            .incidents
            .iter()
            .take(RECENT_INCIDENTS)
            .map(|i| incident(s, i))
            .collect();
        let upcoming: Vec<ScheduledMaintenance> = s
            .upcoming_maintenances()
            .map(|m| maintenance(s, m))
            .collect();
        let active: Vec<ScheduledMaintenance> =
            s.active_maintenances().map(|m| maintenance(s, m)).collect();
        let announced = active.iter().chain(&upcoming).cloned().collect();
        let all = s
            .maintenances
            .iter()
            .take(RECENT_INCIDENTS)
            .map(|m| maintenance(s, m))
            .collect();
        let with_page = |scheduled_maintenances| MaintenancesDocument {
            page: page.clone(),
            scheduled_maintenances,
        };
        Self {
            maintenances: with_page(all),
            upcoming: with_page(upcoming),
            active: with_page(active),
            summary: Summary {
                page: page.clone(),
                status: status.clone(),
                components: components.clone(),
                incidents: unresolved.clone(),
                scheduled_maintenances: announced,
            },
            status: StatusDocument {
                page: page.clone(),
                status,
            },
            components: ComponentsDocument {
                page: page.clone(),
                components,
            },
            incidents: IncidentsDocument {
                page: page.clone(),
                incidents: recent,
            },
            unresolved: IncidentsDocument {
                page,
                incidents: unresolved,
            },
        }
    }
}

/// Components in page order, each group once, before its first member.
fn components(s: &StatusSnapshot) -> Vec<Component> {
    let mut out = Vec::new();
    let mut groups_seen: Vec<&str> = Vec::new();
    for c in &s.components {
        if let Some(group) = c.record.group.as_deref()
            && !groups_seen.contains(&group)
        {
            groups_seen.push(group);
            let members: Vec<&ComponentState> = s
                .components
                .iter()
                .filter(|m| m.record.group.as_deref() == Some(group))
                .collect();
            let status = members
                .iter()
                .fold(ComponentStatus::Operational, |w, m| w.worst(m.status));
            let times = members.iter().map(|m| &m.record);
            out.push(Component {
                id: group_id(group),
                name: group.to_string(),
                status,
                created_at: times
                    .clone()
                    .map(|r| r.created_at)
                    .min()
                    .unwrap_or(c.record.created_at),
                updated_at: times
                    .map(|r| r.updated_at)
                    .max()
                    .unwrap_or(c.record.updated_at),
                position: c.record.position,
                description: None,
                showcase: false,
                group_id: None,
                group: true,
                only_show_if_degraded: false,
                page_id: PAGE_ID,
                start_date: None,
                components: Some(members.iter().map(|m| m.record.id.to_string()).collect()),
            });
        }
        out.push(component(c));
    }
    out
}

fn component(c: &ComponentState) -> Component {
    let r = &c.record;
    Component {
        id: r.id.to_string(),
        name: r.name.clone(),
        status: c.status,
        created_at: r.created_at,
        updated_at: r.updated_at,
        position: r.position,
        description: (!r.description.is_empty()).then(|| r.description.clone()),
        showcase: true,
        group_id: r.group.as_deref().map(group_id),
        group: false,
        only_show_if_degraded: false,
        page_id: PAGE_ID,
        start_date: Some(r.created_at.strftime("%Y-%m-%d").to_string()),
        components: None,
    }
}

fn group_id(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!("group-{}", crate::secret::hex(&digest[..6]))
}

fn incident(s: &StatusSnapshot, i: &PublicIncident) -> Incident {
    let name_of = |id: i64| s.component(id).map(|c| c.record.name.clone());
    let updates = i
        .story()
        .iter()
        .map(|step| {
            let u = step.update;
            let shown = u.corrected_at.unwrap_or(u.published_at).max(u.published_at);
            IncidentUpdate {
                id: u.id.to_string(),
                incident_id: i.id.to_string(),
                status: UpdateStatus::Incident(step.phase),
                body: u.text.clone(),
                created_at: u.published_at,
                updated_at: shown,
                display_at: u.published_at,
                affected_components: step
                    .changed
                    .iter()
                    .filter_map(|(id, old, new)| {
                        Some(AffectedComponent {
                            code: id.to_string(),
                            name: name_of(*id)?,
                            old_status: *old,
                            new_status: *new,
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    let phase = i.phase();
    let resolved_at = (phase == Phase::Resolved)
        .then(|| i.resolved_at.or_else(|| i.first_in(Phase::Resolved)))
        .flatten();
    let created_at = i
        .updates
        .iter()
        .map(|u| u.published_at)
        .min()
        .unwrap_or(i.declared_at);
    Incident {
        id: i.id.to_string(),
        name: i.title.clone(),
        status: UpdateStatus::Incident(phase),
        impact: Indicator::of_severity(i.severity).as_str(),
        created_at,
        updated_at: i.updated_at(),
        started_at: i.declared_at,
        monitoring_at: i.first_in(Phase::Monitoring),
        resolved_at,
        shortlink: format!("{}/incidents/{}", s.brand.url, i.id),
        page_id: PAGE_ID,
        components: i
            .named_components()
            .into_iter()
            .filter_map(|id| s.component(id))
            .map(component)
            .collect(),
        incident_updates: updates,
    }
}

/// A maintenance as Statuspage shows one: an incident with impact `maintenance`, whose
/// updates are the moments readers were told of (announced, begun, completed), newest first.
fn maintenance(s: &StatusSnapshot, m: &MaintenanceRecord) -> ScheduledMaintenance {
    let id = format!("maintenance-{}", m.id);
    let ids: Vec<i64> = m.component_ids().collect();
    let step = |status: MaintenanceStatus, body: &str, at: Timestamp, from, to| IncidentUpdate {
        id: format!("{id}-{}", status.as_str()),
        incident_id: id.clone(),
        status: UpdateStatus::Maintenance(status),
        body: body.to_string(),
        created_at: at,
        updated_at: at,
        display_at: at,
        affected_components: affected(s, &ids, from, to),
    };
    let mut updates = Vec::new();
    let completed = m.status == MaintenanceStatus::Completed;
    if let (true, Some(at)) = (completed, m.ended_at) {
        updates.push(step(
            MaintenanceStatus::Completed,
            "The maintenance is complete.",
            at,
            ComponentStatus::UnderMaintenance,
            ComponentStatus::Operational,
        ));
    }
    if let Some(at) = m.started_at {
        updates.push(step(
            MaintenanceStatus::InProgress,
            "The maintenance has begun.",
            at,
            ComponentStatus::Operational,
            ComponentStatus::UnderMaintenance,
        ));
    }
    let announced = if m.description.is_empty() {
        &m.title
    } else {
        &m.description
    };
    updates.push(step(
        MaintenanceStatus::Scheduled,
        announced,
        m.created_at,
        ComponentStatus::Operational,
        ComponentStatus::Operational,
    ));
    ScheduledMaintenance {
        incident: Incident {
            id: id.clone(),
            name: m.title.clone(),
            status: UpdateStatus::Maintenance(m.status),
            impact: "maintenance",
            created_at: m.created_at,
            updated_at: m.updated_at,
            started_at: m.started_at.unwrap_or(m.scheduled_for),
            monitoring_at: None,
            resolved_at: completed.then_some(m.ended_at).flatten(),
            shortlink: format!("{}#maintenance-{}", s.brand.url, m.id),
            page_id: PAGE_ID,
            components: ids
                .iter()
                .filter_map(|id| s.component(*id))
                .map(component)
                .collect(),
            incident_updates: updates,
        },
        scheduled_for: m.scheduled_for,
        scheduled_until: m.scheduled_until,
    }
}

fn affected(
    s: &StatusSnapshot,
    ids: &[i64],
    from: ComponentStatus,
    to: ComponentStatus,
) -> Vec<AffectedComponent> {
    ids.iter()
        .filter_map(|id| s.component(*id))
        .map(|c| AffectedComponent {
            code: c.record.id.to_string(),
            name: c.record.name.clone(),
            old_status: from,
            new_status: to,
        })
        .collect()
}
