//! The timeline: an append-only record of everything that happened to an incident.

use serde::{Deserialize, Serialize};

use super::incident::{RoleKind, Severity, Status};

/// What a timeline entry records. Stored as its `kind` plus the remaining fields as JSON, so new
/// kinds (pages, alerts, status updates, …) are added without a schema change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryData {
    Declared {
        title: String,
        severity: Severity,
        incident_type: String,
        private: bool,
        #[serde(default)]
        services: Vec<String>,
    },
    StatusChanged {
        from: Status,
        to: Status,
        reason: Option<String>,
    },
    SeverityChanged {
        from: Severity,
        to: Severity,
    },
    TitleChanged {
        from: String,
        to: String,
    },
    SummaryChanged {
        summary: String,
    },
    RoleAssigned {
        role: RoleKind,
        user: String,
        previous: Option<String>,
    },
    ParticipantAdded {
        user: String,
    },
    Note {
        text: String,
    },
}

impl EntryData {
    /// The `kind` tag, as stored in its own column for filtering.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Declared { .. } => "declared",
            Self::StatusChanged { .. } => "status_changed",
            Self::SeverityChanged { .. } => "severity_changed",
            Self::TitleChanged { .. } => "title_changed",
            Self::SummaryChanged { .. } => "summary_changed",
            Self::RoleAssigned { .. } => "role_assigned",
            Self::ParticipantAdded { .. } => "participant_added",
            Self::Note { .. } => "note",
        }
    }

    /// One plain sentence for people, used by the web UI and the CLI alike.
    pub fn describe(&self) -> String {
        match self {
            Self::Declared {
                title,
                severity,
                incident_type,
                private,
                services,
            } => {
                let mut s =
                    format!("Declared {severity} {incident_type} incident \u{201c}{title}\u{201d}");
                if !services.is_empty() {
                    s.push_str(&format!(" affecting {}", services.join(", ")));
                }
                if *private {
                    s.push_str(" (private)");
                }
                s
            }
            Self::StatusChanged { from, to, reason } => match reason {
                Some(r) => format!("Status changed from {from} to {to}: {r}"),
                None => format!("Status changed from {from} to {to}"),
            },
            Self::SeverityChanged { from, to } => format!("Severity changed from {from} to {to}"),
            Self::TitleChanged { to, .. } => format!("Title changed to \u{201c}{to}\u{201d}"),
            Self::SummaryChanged { .. } => "Summary updated".to_string(),
            Self::RoleAssigned {
                role,
                user,
                previous,
            } => match previous {
                Some(p) => format!("{} handed from {p} to {user}", role.label()),
                None => format!("{user} is {}", role.label().to_lowercase()),
            },
            Self::ParticipantAdded { user } => format!("{user} joined"),
            Self::Note { text } => text.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_their_stored_json() {
        let entry = EntryData::StatusChanged {
            from: Status::Resolved,
            to: Status::Investigating,
            reason: Some("it came back".into()),
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert!(json.contains(r#""kind":"status_changed""#));
        assert_eq!(serde_json::from_str::<EntryData>(&json).unwrap(), entry);
        assert_eq!(
            entry.describe(),
            "Status changed from resolved to investigating: it came back"
        );
    }

    #[test]
    fn role_entries_read_naturally() {
        let first = EntryData::RoleAssigned {
            role: RoleKind::Scribe,
            user: "carol".into(),
            previous: None,
        };
        assert_eq!(first.describe(), "carol is scribe");
        assert_eq!(first.kind(), "role_assigned");
    }
}
