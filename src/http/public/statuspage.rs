//! Atlassian Statuspage's public API v2 shapes (CONTRACTS.md §8), so dashboards, widgets and
//! aggregators built for Statuspage read aplomb unchanged. Ids are strings there; aplomb's
//! numbers are written as such, and a group, which Statuspage shows as a component holding
//! others, gets an id from its name.

use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::{ComponentState, StatusSnapshot};
use crate::domain::communication::Phase;
use crate::domain::maintenance::MaintenanceStatus;
use crate::domain::status::{ComponentStatus, Indicator, PublicIncident};
use crate::store::MaintenanceRecord;

/// The page's one id: aplomb serves one status page.
const PAGE_ID: &str = "aplomb";
/// The 50 most recent, as Statuspage's `incidents.json`.
const RECENT_INCIDENTS: usize = 50;

/// Every JSON document, rendered together from one snapshot.
pub struct Documents {
    pub summary: Value,
    pub status: Value,
    pub components: Value,
    pub incidents: Value,
    pub unresolved: Value,
    /// Every maintenance of the page's window; those announced and not begun; those under way.
    pub maintenances: Value,
    pub upcoming: Value,
    pub active: Value,
}

impl Documents {
    pub fn new(s: &StatusSnapshot) -> Self {
        let page = json!({
            "id": PAGE_ID,
            "name": s.brand.name,
            "url": s.brand.url,
            "time_zone": "Etc/UTC",
            "updated_at": s.updated_at.to_string(),
        });
        let status = json!({
            "indicator": s.indicator.as_str(),
            "description": s.indicator.description(),
        });
        let components = components(s);
        let unresolved: Vec<Value> = s.open_incidents().map(|i| incident(s, i)).collect();
        let recent: Vec<Value> = s
            .incidents
            .iter()
            .take(RECENT_INCIDENTS)
            .map(|i| incident(s, i))
            .collect();
        let upcoming: Vec<Value> = s
            .upcoming_maintenances()
            .map(|m| maintenance(s, m))
            .collect();
        let active: Vec<Value> = s.active_maintenances().map(|m| maintenance(s, m)).collect();
        let announced: Vec<Value> = active.iter().chain(&upcoming).cloned().collect();
        let all: Vec<Value> = s
            .maintenances
            .iter()
            .take(RECENT_INCIDENTS)
            .map(|m| maintenance(s, m))
            .collect();
        Self {
            summary: json!({
            "page": page,
            "status": status,
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": announced,
            }),
            status: json!({ "page": page, "status": status }),
            components: json!({ "page": page, "components": components }),
            incidents: json!({ "page": page, "incidents": recent }),
            unresolved: json!({ "page": page, "incidents": unresolved }),
            maintenances: json!({ "page": page, "scheduled_maintenances": all }),
            upcoming: json!({ "page": page, "scheduled_maintenances": upcoming }),
            active: json!({ "page": page, "scheduled_maintenances": active }),
        }
    }
}

/// Components in page order, each group once, before its first member.
fn components(s: &StatusSnapshot) -> Vec<Value> {
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
            out.push(json!({
                "id": group_id(group),
                "name": group,
                "status": status.as_str(),
                "created_at": members.iter().map(|m| m.record.created_at).min().map(|t| t.to_string()),
                "updated_at": members.iter().map(|m| m.record.updated_at).max().map(|t| t.to_string()),
                "position": c.record.position,
                "description": null,
                "showcase": false,
                "group_id": null,
                "group": true,
                "only_show_if_degraded": false,
                "page_id": PAGE_ID,
                "start_date": null,
                "components": members.iter().map(|m| m.record.id.to_string()).collect::<Vec<_>>(),
            }));
        }
        out.push(component(c));
    }
    out
}

fn component(c: &ComponentState) -> Value {
    let r = &c.record;
    json!({
        "id": r.id.to_string(),
        "name": r.name,
        "status": c.status.as_str(),
        "created_at": r.created_at.to_string(),
        "updated_at": r.updated_at.to_string(),
        "position": r.position,
        "description": (!r.description.is_empty()).then_some(&r.description),
        "showcase": true,
        "group_id": r.group.as_deref().map(group_id),
        "group": false,
        "only_show_if_degraded": false,
        "page_id": PAGE_ID,
        "start_date": r.created_at.strftime("%Y-%m-%d").to_string(),
    })
}

fn group_id(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!("group-{}", crate::secret::hex(&digest[..6]))
}

fn incident(s: &StatusSnapshot, i: &PublicIncident) -> Value {
    let name_of = |id: i64| s.component(id).map(|c| c.record.name.as_str());
    let updates: Vec<Value> = i
        .story()
        .iter()
        .map(|step| {
            let u = step.update;
            let shown = u.corrected_at.unwrap_or(u.published_at).max(u.published_at);
            json!({
                "id": u.id.to_string(),
                "incident_id": i.id.to_string(),
                "status": step.phase.as_str(),
                "body": u.text,
                "created_at": u.published_at.to_string(),
                "updated_at": shown.to_string(),
                "display_at": u.published_at.to_string(),
                "affected_components": step.changed.iter().filter_map(|(id, old, new)| {
                    Some(json!({
                        "code": id.to_string(),
                        "name": name_of(*id)?,
                        "old_status": old.as_str(),
                        "new_status": new.as_str(),
                    }))
                }).collect::<Vec<_>>(),
            })
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
    json!({
        "id": i.id.to_string(),
        "name": i.title,
        "status": phase.as_str(),
        "impact": Indicator::of_severity(i.severity).as_str(),
        "created_at": created_at.to_string(),
        "updated_at": i.updated_at().to_string(),
        "started_at": i.declared_at.to_string(),
        "monitoring_at": i.first_in(Phase::Monitoring).map(|t| t.to_string()),
        "resolved_at": resolved_at.map(|t| t.to_string()),
        "shortlink": format!("{}/incidents/{}", s.brand.url, i.id),
        "page_id": PAGE_ID,
        "components": i.named_components().into_iter().filter_map(|id| s.component(id)).map(component).collect::<Vec<_>>(),
        "incident_updates": updates,
    })
}

/// A maintenance as Statuspage shows one: an incident with impact `maintenance`, whose
/// updates are the moments readers were told of (announced, begun, completed), newest first.
fn maintenance(s: &StatusSnapshot, m: &MaintenanceRecord) -> Value {
    let id = format!("maintenance-{}", m.id);
    let ids: Vec<i64> = m.component_ids().collect();
    let step = |suffix: &str, status: &str, body: &str, at: Timestamp, from, to| {
        json!({
            "id": format!("{id}-{suffix}"),
            "incident_id": id,
            "status": status,
            "body": body,
            "created_at": at.to_string(),
            "updated_at": at.to_string(),
            "display_at": at.to_string(),
            "affected_components": affected(s, &ids, from, to),
        })
    };
    let mut updates = Vec::new();
    let completed = m.status == MaintenanceStatus::Completed;
    if let (true, Some(at)) = (completed, m.ended_at) {
        updates.push(step(
            "completed",
            "completed",
            "The maintenance is complete.",
            at,
            ComponentStatus::UnderMaintenance,
            ComponentStatus::Operational,
        ));
    }
    if let Some(at) = m.started_at {
        updates.push(step(
            "in_progress",
            "in_progress",
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
        "scheduled",
        "scheduled",
        announced,
        m.created_at,
        ComponentStatus::Operational,
        ComponentStatus::Operational,
    ));
    json!({
        "id": id,
        "name": m.title,
        "status": m.status.as_str(),
        "impact": "maintenance",
        "created_at": m.created_at.to_string(),
        "updated_at": m.updated_at.to_string(),
        "started_at": m.started_at.unwrap_or(m.scheduled_for).to_string(),
        "monitoring_at": null,
        "resolved_at": completed.then_some(m.ended_at).flatten().map(|t| t.to_string()),
        "scheduled_for": m.scheduled_for.to_string(),
        "scheduled_until": m.scheduled_until.to_string(),
        "shortlink": format!("{}#maintenance-{}", s.brand.url, m.id),
        "page_id": PAGE_ID,
        "components": ids.iter().filter_map(|id| s.component(*id)).map(component).collect::<Vec<_>>(),
        "incident_updates": updates,
    })
}

fn affected(
    s: &StatusSnapshot,
    ids: &[i64],
    from: ComponentStatus,
    to: ComponentStatus,
) -> Vec<Value> {
    ids.iter()
        .filter_map(|id| s.component(*id))
        .map(|c| {
            json!({
                "code": c.record.id.to_string(),
                "name": c.record.name,
                "old_status": from.as_str(),
                "new_status": to.as_str(),
            })
        })
        .collect()
}
