//! Status update templates: a starting text for each phase and audience, optionally for one
//! incident type, so the communications lead begins from calm, complete words instead of a
//! blank box. Responders get the Conditions/Actions/Needs form, stakeholders an executive
//! summary, the public plain sentences that pass the tone check as they stand.

use super::communication::{Audience, Phase};
use super::{FieldError, bounded_text};

/// The longest template: a starting text, not a document.
pub const MAX_TEMPLATE_CHARS: usize = 4_000;

/// The placeholders a template may use, filled from the incident when it is started from.
pub const PLACEHOLDERS: &[&str] = &["title", "severity", "services", "next_update"];

/// What fills a template's placeholders, for one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateValues {
    pub title: String,
    /// `SEV1`…
    pub severity: String,
    /// The affected services' names, "the service" when none is named.
    pub services: String,
    /// When the next update is due, as readers read a time ("14:30 UTC").
    pub next_update: String,
}

impl TemplateValues {
    /// The values for an incident titled `title` on `services`, whose next update is promised
    /// one cadence interval (`every`) from `now`, rounded up to five minutes, as a UTC time,
    /// with its date when that is not today.
    pub fn new(
        title: &str,
        severity: &str,
        services: &[&str],
        every: jiff::SignedDuration,
        now: jiff::Timestamp,
    ) -> Self {
        let five = 5 * 60_000;
        let at = ((now + every).as_millisecond() + five - 1).div_euclid(five) * five;
        let next = jiff::Timestamp::from_millisecond(at).unwrap_or(now);
        let (next, today) = (
            next.to_zoned(jiff::tz::TimeZone::UTC),
            now.to_zoned(jiff::tz::TimeZone::UTC),
        );
        let format = if next.date() == today.date() {
            "%H:%M UTC"
        } else {
            "%H:%M UTC on %-d %B"
        };
        Self {
            title: title.to_string(),
            severity: severity.to_string(),
            services: if services.is_empty() {
                "the service".to_string()
            } else {
                services.join(", ")
            },
            next_update: next.strftime(format).to_string(),
        }
    }
}

/// Checks a template's text: within bounds, and every `{placeholder}` one of `PLACEHOLDERS`
/// (a misspelt one would reach readers as it is).
pub fn check_template(raw: &str) -> Result<String, FieldError> {
    let text = bounded_text("text", raw, 1, MAX_TEMPLATE_CHARS)?;
    for name in placeholders(&text) {
        if !PLACEHOLDERS.contains(&name) {
            return Err(FieldError::new(
                "text",
                format!(
                    "{{{name}}} is not a placeholder; use {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(text)
}

/// The names between braces, in order.
fn placeholders(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        found.push(after[..close].trim());
        rest = &after[close + 1..];
    }
    found
}

/// The template with its placeholders filled.
pub fn fill(template: &str, values: &TemplateValues) -> String {
    let mut text = template.to_string();
    for (name, value) in [
        ("title", &values.title),
        ("severity", &values.severity),
        ("services", &values.services),
        ("next_update", &values.next_update),
    ] {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// aplomb's own template for a phase and audience, used until the team writes theirs.
pub fn default_template(phase: Phase, audience: Audience) -> &'static str {
    match (audience, phase) {
        (Audience::Responders, _) => {
            "Conditions: {title} ({severity}), affecting {services}.\n\
             Actions: \n\
             Needs: \n\
             Next update by {next_update}."
        }
        (Audience::Stakeholders, Phase::Investigating) => {
            "Summary: {title} ({severity}).\n\
             Impact: some users of {services} may see errors or slow responses.\n\
             What we are doing: we are investigating the cause.\n\
             Next update by {next_update}."
        }
        (Audience::Stakeholders, Phase::Identified) => {
            "Summary: {title} ({severity}).\n\
             Impact: some users of {services} may see errors or slow responses.\n\
             What we are doing: we have found the cause and are working on a fix.\n\
             Next update by {next_update}."
        }
        (Audience::Stakeholders, Phase::Monitoring) => {
            "Summary: {title} ({severity}).\n\
             Impact: users of {services} should see normal service again.\n\
             What we are doing: a fix is in place and we are watching the results.\n\
             Next update by {next_update}."
        }
        (Audience::Stakeholders, Phase::Resolved) => {
            "Summary: {title} ({severity}) is resolved.\n\
             Impact: users of {services} have normal service again.\n\
             What we are doing: we will review the response and share what we learn."
        }
        (Audience::Stakeholders, Phase::Update) => {
            "Summary: {title} ({severity}).\n\
             Impact: some users of {services} may still see errors or slow responses.\n\
             What we are doing: we are continuing to work on it.\n\
             Next update by {next_update}."
        }
        (Audience::Public, Phase::Investigating) => {
            "Some users of {services} may see errors or slow responses. We are investigating \
             and will post the next update by {next_update}."
        }
        (Audience::Public, Phase::Identified) => {
            "We have found the cause of the problem affecting {services} and are working on a \
             fix. Some users may still see errors until then. Next update by {next_update}."
        }
        (Audience::Public, Phase::Monitoring) => {
            "A fix is in place for {services} and we are watching the results. Users should see \
             normal service again. Next update by {next_update}."
        }
        (Audience::Public, Phase::Resolved) => {
            "The problem affecting {services} is resolved and users have normal service again. \
             We are sorry for the trouble and thank you for your patience."
        }
        (Audience::Public, Phase::Update) => {
            "Some users of {services} may still see errors or slow responses. We are continuing \
             to work on it. Next update by {next_update}."
        }
    }
}

/// A template the team wrote, for a phase and audience, and one incident type or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub phase: Phase,
    pub audience: Audience,
    pub incident_type: Option<String>,
    pub text: String,
}

/// The template an incident of `incident_type` starts from: the team's for its type, else
/// the team's for any type, else aplomb's own (`None` as the chosen one).
pub fn pick<'a>(
    written: &'a [Template],
    phase: Phase,
    audience: Audience,
    incident_type: &str,
) -> (&'a str, Option<&'a Template>) {
    let of = |ty: Option<&str>| {
        written.iter().find(|t| {
            t.phase == phase && t.audience == audience && t.incident_type.as_deref() == ty
        })
    };
    match of(Some(incident_type)).or_else(|| of(None)) {
        Some(t) => (t.text.as_str(), Some(t)),
        None => (default_template(phase, audience), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_update_is_promised_a_cadence_ahead_rounded_up_with_its_date_past_midnight() {
        let now: jiff::Timestamp = "2026-12-06T14:02:10Z".parse().unwrap();
        let minutes = jiff::SignedDuration::from_mins;
        let v = TemplateValues::new("Slow", "SEV2", &[], minutes(30), now);
        assert_eq!(v.next_update, "14:35 UTC");
        assert_eq!(v.services, "the service");
        let v = TemplateValues::new("Slow", "SEV2", &["api", "web"], minutes(28), now);
        assert_eq!(
            (v.next_update.as_str(), v.services.as_str()),
            ("14:35 UTC", "api, web")
        );
        let late: jiff::Timestamp = "2026-12-06T23:50:00Z".parse().unwrap();
        let v = TemplateValues::new("Slow", "SEV3", &[], minutes(60), late);
        assert_eq!(v.next_update, "00:50 UTC on 7 December");
    }
    use crate::domain::tone::{ToneRules, check};

    fn values() -> TemplateValues {
        TemplateValues {
            title: "Checkout errors".into(),
            severity: "SEV2".into(),
            services: "Checkout, Payments".into(),
            next_update: "14:30 UTC".into(),
        }
    }

    #[test]
    fn every_default_template_filled_passes_the_tone_check() {
        let rules = ToneRules::default();
        for audience in Audience::ALL {
            for phase in Phase::ALL {
                let text = fill(default_template(*phase, *audience), &values());
                assert!(placeholders(&text).is_empty(), "{text}");
                let found = check(&text, *audience, Some(*phase), &rules);
                assert!(found.is_empty(), "{audience} {phase}: {text}\n{found:?}");
            }
        }
    }

    #[test]
    fn responders_get_conditions_actions_needs_and_stakeholders_a_summary() {
        let responders = default_template(Phase::Identified, Audience::Responders);
        for heading in ["Conditions:", "Actions:", "Needs:"] {
            assert!(responders.contains(heading));
        }
        let stakeholders = default_template(Phase::Identified, Audience::Stakeholders);
        assert!(stakeholders.starts_with("Summary:") && stakeholders.contains("Impact:"));
    }

    #[test]
    fn a_template_names_only_known_placeholders() {
        assert_eq!(
            check_template("  Next update by {next_update}. ").unwrap(),
            "Next update by {next_update}."
        );
        let err = check_template("Hello {customer}").unwrap_err();
        assert_eq!(err.field, "text");
        assert!(err.message.contains("{customer}") && err.message.contains("{title}"));
        assert!(check_template("").is_err());
        assert!(check_template(&"x".repeat(MAX_TEMPLATE_CHARS + 1)).is_err());
        // An unclosed brace is plain text.
        assert!(check_template("Smile :-{").is_ok());
    }

    #[test]
    fn the_team_s_template_for_the_type_wins_then_for_any_type_then_aplomb_s() {
        let ours = |ty: Option<&str>, text: &str| Template {
            phase: Phase::Investigating,
            audience: Audience::Public,
            incident_type: ty.map(String::from),
            text: text.into(),
        };
        let written = vec![ours(None, "any"), ours(Some("security"), "security")];
        let at = |ty| pick(&written, Phase::Investigating, Audience::Public, ty).0;
        assert_eq!(at("security"), "security");
        assert_eq!(at("outage"), "any");
        let (text, chosen) = pick(&written, Phase::Resolved, Audience::Public, "outage");
        assert_eq!(text, default_template(Phase::Resolved, Audience::Public));
        assert!(chosen.is_none());
    }
}
