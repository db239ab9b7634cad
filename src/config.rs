//! Typed configuration: an optional TOML file for the organisation's vocabulary.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::SignedDuration;
use serde::Deserialize;

use crate::domain::communication::{CadencePolicy, UpdateCadence};
use crate::domain::incident::{IncidentTypes, RoleKind, RolePolicy, Severity};
use crate::domain::status::Brand;
use crate::domain::tone::ToneRules;

/// Rules the organisation tunes: incident types, which roles each severity requires, how
/// many monitoring events one routing key may send per second, the tone check's words and
/// how often each severity's audiences hear from the team.
#[derive(Debug, Clone)]
pub struct Settings {
    pub incident_types: IncidentTypes,
    pub role_policy: RolePolicy,
    pub events_per_second_per_key: u32,
    pub tone: ToneRules,
    pub cadence: CadencePolicy,
    pub status_page: StatusPageBrand,
    /// How long resolved alerts, delivery attempts and idempotency keys are kept.
    pub retention: SignedDuration,
    /// Where action items are sent on creation and on each change, if anywhere.
    pub tracker: Option<Tracker>,
}

/// An external issue tracker's webhook: each action item event is POSTed to `url`, signed
/// with `secret` as every aplomb webhook is (the `Aplomb-Signature` header, `t=…,v1=…`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tracker {
    pub url: String,
    pub secret: String,
}

impl Tracker {
    fn checked(self) -> anyhow::Result<Self> {
        anyhow::ensure!(
            self.url.starts_with("https://") || self.url.starts_with("http://"),
            "tracker.url must be an http:// or https:// URL"
        );
        anyhow::ensure!(
            self.secret.len() >= 16,
            "tracker.secret must be at least 16 characters"
        );
        Ok(self)
    }
}

/// Kept for 90 days unless `[retention] days` says otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 90;

/// How the public status page presents itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusPageBrand {
    /// The page's title, e.g. "Acme status".
    pub name: String,
    /// An image shown beside the title (an absolute http(s) URL).
    pub logo_url: Option<String>,
    /// The header's colour, `#rrggbb`.
    pub accent: String,
    /// Where readers reach the page: `--public-url` followed by `/status`.
    #[serde(skip)]
    pub url: String,
}

impl Default for StatusPageBrand {
    fn default() -> Self {
        Self {
            name: "Service status".into(),
            logo_url: None,
            accent: "#1f4e79".into(),
            url: "/status".into(),
        }
    }
}

impl StatusPageBrand {
    /// This brand as the domain's rules read it (trimmed, the colour in lower case).
    fn checked(self) -> anyhow::Result<Self> {
        let brand = Brand::parse(&self.name, self.logo_url.as_deref(), &self.accent)
            .map_err(|e| anyhow::anyhow!("status_page.{e}"))?;
        Ok(self.overlaid(Some(&brand)))
    }

    /// This brand as the team last set it through the API, where it did; the page's URL
    /// stays the server's.
    pub fn overlaid(&self, set: Option<&Brand>) -> Self {
        match set {
            Some(b) => Self {
                name: b.name.clone(),
                logo_url: b.logo_url.clone(),
                accent: b.accent.clone(),
                url: self.url.clone(),
            },
            None => self.clone(),
        }
    }
}

/// High enough for a real alert storm; it stops a runaway script, not monitoring.
pub const DEFAULT_EVENTS_PER_SECOND: u32 = 10_000;

impl Default for Settings {
    fn default() -> Self {
        Self {
            incident_types: IncidentTypes::default(),
            role_policy: RolePolicy::default(),
            events_per_second_per_key: DEFAULT_EVENTS_PER_SECOND,
            tone: ToneRules::default(),
            cadence: CadencePolicy::default(),
            status_page: StatusPageBrand::default(),
            retention: SignedDuration::from_hours(24 * DEFAULT_RETENTION_DAYS),
            tracker: None,
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
    #[serde(default)]
    tone: ToneSection,
    /// Per severity; a severity left out keeps its default.
    #[serde(default)]
    cadence: BTreeMap<Severity, CadenceEntry>,
    #[serde(default)]
    status_page: StatusPageBrand,
    #[serde(default)]
    retention: RetentionSection,
    tracker: Option<Tracker>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RetentionSection {
    days: Option<i64>,
}

/// `{ first_minutes = 5, every_minutes = 20 }`, or `"none"` for no expected updates.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CadenceEntry {
    Word(String),
    Minutes(CadenceMinutes),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CadenceMinutes {
    first_minutes: i64,
    every_minutes: i64,
}

impl CadenceEntry {
    fn cadence(&self, severity: Severity) -> anyhow::Result<Option<UpdateCadence>> {
        match self {
            Self::Word(w) if w == "none" => Ok(None),
            Self::Word(w) => anyhow::bail!(
                "cadence.{severity}: {w:?} is neither \"none\" nor {{ first_minutes, every_minutes }}"
            ),
            Self::Minutes(m) => {
                for (name, v) in [
                    ("first_minutes", m.first_minutes),
                    ("every_minutes", m.every_minutes),
                ] {
                    if !(1..=1440).contains(&v) {
                        anyhow::bail!(
                            "cadence.{severity}.{name} must be between 1 and 1440 minutes"
                        );
                    }
                }
                Ok(Some(UpdateCadence::minutes(
                    m.first_minutes,
                    m.every_minutes,
                )))
            }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ToneSection {
    /// Replaces the built-in list.
    panic_words: Option<Vec<String>>,
    /// Added to the built-in list.
    acronyms: Option<Vec<String>>,
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
        let mut cadence = Vec::new();
        for (severity, entry) in &file.cadence {
            cadence.push((*severity, entry.cadence(*severity)?));
        }
        settings.cadence = CadencePolicy::with(cadence);
        settings.status_page = file.status_page.checked()?;
        if let Some(days) = file.retention.days {
            anyhow::ensure!(
                (1..=36_500).contains(&days),
                "retention.days must be between 1 and 36500"
            );
            settings.retention = SignedDuration::from_hours(24 * days);
        }
        settings.tone = ToneRules::new(
            file.tone.panic_words,
            file.tone.acronyms.unwrap_or_default(),
        );
        settings.tracker = file.tracker.map(Tracker::checked).transpose()?;
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
    fn a_config_file_sets_the_update_cadence() {
        let settings = Settings::parse(
            "[cadence]\nSEV1 = { first_minutes = 10, every_minutes = 15 }\nSEV3 = \"none\"",
        )
        .unwrap();
        let cadence = &settings.cadence;
        assert_eq!(
            cadence.of(Severity::Sev1),
            Some(UpdateCadence::minutes(10, 15))
        );
        assert_eq!(
            cadence.of(Severity::Sev2),
            Some(UpdateCadence::minutes(15, 30))
        );
        assert_eq!(cadence.of(Severity::Sev3), None);
        for bad in [
            "[cadence]\nSEV1 = \"sometimes\"",
            "[cadence]\nSEV1 = { first_minutes = 0, every_minutes = 15 }",
            "[cadence]\nSEV1 = { first_minutes = 5 }",
            "[cadence]\nSEV9 = \"none\"",
        ] {
            assert!(Settings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_config_file_brands_the_status_page() {
        let settings = Settings::parse(
            "[status_page]\nname = \"Acme status\"\naccent = \"#aa3300\"\nlogo_url = \"https://acme.example/logo.png\"",
        )
        .unwrap();
        assert_eq!(settings.status_page.name, "Acme status");
        assert_eq!(settings.status_page.accent, "#aa3300");
        assert_eq!(Settings::default().status_page.name, "Service status");
        for bad in [
            "[status_page]\naccent = \"red\"",
            "[status_page]\nname = \"\"",
            "[status_page]\nlogo_url = \"javascript:alert(1)\"",
            "[status_page]\ncolour = \"#000000\"",
        ] {
            assert!(Settings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_config_file_tunes_the_tone_check() {
        let settings = Settings::parse(
            "[tone]\npanic_words = [\"Hellfire\", \"  on   fire \"]\nacronyms = [\"sap\"]",
        )
        .unwrap();
        assert_eq!(settings.tone.panic_words, ["hellfire", "on fire"]);
        assert!(settings.tone.acronyms.contains(&"SAP".to_string()));
        assert!(settings.tone.acronyms.contains(&"API".to_string()));
        assert!(Settings::parse("[tone]\nwords = []").is_err());
    }

    #[test]
    fn retention_is_days_within_reason() {
        assert_eq!(
            Settings::default().retention,
            SignedDuration::from_hours(24 * 90)
        );
        let settings = Settings::parse("[retention]\ndays = 30").expect("valid");
        assert_eq!(settings.retention, SignedDuration::from_hours(24 * 30));
        for bad in [
            "[retention]\ndays = 0",
            "[retention]\ndays = 40000",
            "[retention]\nhours = 3",
        ] {
            assert!(Settings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(Settings::parse("[incidents]\ncolour = 1").is_err());
        assert!(Settings::parse("[roles.required]\nSEV1 = [\"boss\"]").is_err());
        assert!(Settings::parse("[incidents]\ntypes = []").is_err());
    }
}
