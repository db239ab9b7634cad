//! User reports: what people outside the team say is wrong, through the public "report a
//! problem" form or a support tool. A report attaches to its service's open incident as
//! evidence, or waits in the triage queue; a burst of waiting reports about one service opens
//! an incident, as the service's rules say.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::FieldError;
use super::bounded_text;
use super::incident::Severity;

/// The longest report text: a paragraph or two, not a log dump.
pub const MAX_REPORT_CHARS: usize = 4000;
/// The longest summary a report's evidence gets from its text's first line.
const SUMMARY_CHARS: usize = 120;

/// A report as submitted, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportInput {
    /// The service's name, as the reporter picked it.
    pub service: String,
    pub text: String,
    /// How to reach the reporter, if they left a way (free text: an address, a ticket).
    pub contact: Option<String>,
}

/// The raw fields of a report, from the API or the public form.
#[derive(Debug, Clone, Default)]
pub struct RawReport<'a> {
    pub service: &'a str,
    pub text: &'a str,
    pub contact: Option<&'a str>,
}

impl ReportInput {
    pub fn parse(raw: RawReport<'_>) -> Result<Self, FieldError> {
        let service = bounded_text("service", raw.service, 1, 100)?;
        let text = bounded_text("text", raw.text, 1, MAX_REPORT_CHARS)?;
        let contact = super::optional_text("contact", raw.contact, 200)?;
        Ok(Self {
            service,
            text,
            contact,
        })
    }
}

/// The one line a report's evidence is listed by: its text's first line, shortened.
pub fn report_summary(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().trim();
    let mut summary: String = first.chars().take(SUMMARY_CHARS).collect();
    if first.chars().count() > SUMMARY_CHARS {
        summary.push('…');
    }
    format!("User report: {summary}")
}

/// A form field people leave empty and form-filling bots fill in: a report carrying it is
/// answered like any other and kept nowhere.
pub fn is_bot(honeypot: Option<&str>) -> bool {
    honeypot.is_some_and(|h| !h.trim().is_empty())
}

closed_set! {
    /// What a burst of waiting reports about a service does.
    pub enum BurstAction for "on_burst" {
        /// Opens an incident on the service, with the reports as its evidence; declaring it
        /// pages the service's escalation policy.
        OpenIncident = "open_incident",
        /// Only the triage queue holds them, for someone to look at.
        Triage = "triage",
    }
}

/// How a service treats its user reports (part of its alert rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReportRules {
    /// This many waiting reports within the window make a burst; 0 never does.
    #[schema(maximum = 10_000)]
    pub burst_threshold: u32,
    /// At most a day.
    #[schema(minimum = 1, maximum = 1440)]
    pub burst_window_minutes: u32,
    pub on_burst: BurstAction,
    /// The severity of an incident a burst opens.
    pub severity: Severity,
}

impl Default for ReportRules {
    fn default() -> Self {
        Self {
            burst_threshold: 5,
            burst_window_minutes: 15,
            on_burst: BurstAction::OpenIncident,
            severity: Severity::Sev3,
        }
    }
}

impl ReportRules {
    /// Since when waiting reports count toward a burst at `now`.
    pub fn window_start(&self, now: Timestamp) -> Timestamp {
        now - SignedDuration::from_mins(i64::from(self.burst_window_minutes))
    }

    /// Whether `waiting` reports within the window open an incident.
    pub fn opens_incident(&self, waiting: u64) -> bool {
        self.on_burst == BurstAction::OpenIncident
            && self.burst_threshold > 0
            && waiting >= u64::from(self.burst_threshold)
    }

    /// Rules a service's owner wrote are within reason.
    pub fn check(&self) -> Result<(), FieldError> {
        if !(1..=1440).contains(&self.burst_window_minutes) {
            return Err(FieldError::new(
                "user_reports.burst_window_minutes",
                "must be between 1 and 1440 (a day)",
            ));
        }
        if self.burst_threshold > 10_000 {
            return Err(FieldError::new(
                "user_reports.burst_threshold",
                "must be at most 10000 (0 turns bursts off)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(service: &'a str, text: &'a str) -> RawReport<'a> {
        RawReport {
            service,
            text,
            contact: None,
        }
    }

    #[test]
    fn a_report_names_its_service_and_says_something() {
        let report = ReportInput::parse(RawReport {
            contact: Some("  "),
            ..raw(" checkout ", "  Payment page spins forever\nTried twice.  ")
        })
        .unwrap();
        assert_eq!(report.service, "checkout");
        assert_eq!(report.text, "Payment page spins forever\nTried twice.");
        assert_eq!(report.contact, None, "a blank contact is none");
        assert_eq!(
            report_summary(&report.text),
            "User report: Payment page spins forever"
        );
        for (bad, field) in [
            (raw("", "broken"), "service"),
            (raw("checkout", " "), "text"),
            (raw("checkout", &"x".repeat(MAX_REPORT_CHARS + 1)), "text"),
        ] {
            assert_eq!(ReportInput::parse(bad).unwrap_err().field, field);
        }
    }

    #[test]
    fn a_long_first_line_is_shortened_on_a_character_boundary() {
        let long = "é".repeat(200);
        let summary = report_summary(&long);
        assert!(summary.ends_with('…'));
        assert_eq!(summary.chars().count(), "User report: ".len() + 120 + 1);
    }

    #[test]
    fn the_honeypot_tells_bots_apart() {
        assert!(!is_bot(None));
        assert!(!is_bot(Some(" ")));
        assert!(is_bot(Some("http://spam.example")));
    }

    #[test]
    fn a_burst_opens_an_incident_only_when_the_rules_say_so() {
        let rules = ReportRules::default();
        assert!(!rules.opens_incident(4));
        assert!(rules.opens_incident(5));
        let triage = ReportRules {
            on_burst: BurstAction::Triage,
            ..rules.clone()
        };
        assert!(!triage.opens_incident(50));
        let off = ReportRules {
            burst_threshold: 0,
            ..rules.clone()
        };
        assert!(!off.opens_incident(50));
        let now: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        assert_eq!(
            rules.window_start(now),
            "2026-12-04T09:45:00Z".parse::<Timestamp>().unwrap()
        );
        let never = ReportRules {
            burst_window_minutes: 0,
            ..rules
        };
        assert_eq!(
            never.check().unwrap_err().field,
            "user_reports.burst_window_minutes"
        );
    }
}
