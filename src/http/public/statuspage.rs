//! Atlassian Statuspage's public API v2 shapes (CONTRACTS.md §8), so dashboards, widgets and
//! aggregators built for Statuspage read aplomb unchanged. Ids are strings there; aplomb's
//! numbers are written as such, and a group, which Statuspage shows as a component holding
//! others, gets an id from its name.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::{ComponentState, StatusSnapshot};
use crate::domain::communication::Phase;
use crate::domain::status::{ComponentStatus, Indicator, PublicIncident};

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
    pub maintenances: Value,
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
        Self {
            summary: json!({
                "page": page,
                "status": status,
                "components": components,
                "incidents": unresolved,
                "scheduled_maintenances": [],
            }),
            status: json!({ "page": page, "status": status }),
            components: json!({ "page": page, "components": components }),
            incidents: json!({ "page": page, "incidents": recent }),
            unresolved: json!({ "page": page, "incidents": unresolved }),
            maintenances: json!({ "page": page, "scheduled_maintenances": [] }),
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
