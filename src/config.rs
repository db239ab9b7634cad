//! Typed configuration: an optional TOML file for the organisation's vocabulary.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::domain::incident::{IncidentTypes, RoleKind, RolePolicy, Severity};

/// Rules the organisation tunes: incident types, which roles each severity requires, and how
/// many monitoring events one routing key may send per second.
#[derive(Debug, Clone)]
pub struct Settings {
    pub incident_types: IncidentTypes,
    pub role_policy: RolePolicy,
    pub events_per_second_per_key: u32,
}

/// High enough for a real alert storm; it stops a runaway script, not monitoring.
pub const DEFAULT_EVENTS_PER_SECOND: u32 = 10_000;

impl Default for Settings {
    fn default() -> Self {
        Self {
            incident_types: IncidentTypes::default(),
            role_policy: RolePolicy::default(),
            events_per_second_per_key: DEFAULT_EVENTS_PER_SECOND,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    incidents: IncidentsSection,
    #[serde(default)]
    roles: RolesSection,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IncidentsSection {
    types: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RolesSection {
    required: Option<BTreeMap<Severity, Vec<RoleKind>>>,
}

impl Settings {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: File = toml::from_str(text)?;
        let mut settings = Self::default();
        if let Some(types) = file.incidents.types {
            settings.incident_types = IncidentTypes::new(types)?;
        }
        if let Some(required) = file.roles.required {
            settings.role_policy = RolePolicy::new(required);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_overrides_types_and_required_roles() {
        let settings = Settings::parse(
            r#"
            [incidents]
            types = ["outage", "breach"]
            [roles.required]
            SEV1 = ["incident_lead", "scribe"]
            "#,
        )
        .unwrap();
        assert_eq!(settings.incident_types.parse("breach").unwrap(), "breach");
        assert_eq!(
            settings.role_policy.required(Severity::Sev1),
            &[RoleKind::IncidentLead, RoleKind::Scribe]
        );
        assert!(settings.role_policy.required(Severity::Sev2).is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(Settings::parse("[incidents]\ncolour = 1").is_err());
        assert!(Settings::parse("[roles.required]\nSEV1 = [\"boss\"]").is_err());
        assert!(Settings::parse("[incidents]\ntypes = []").is_err());
    }
}
