//! Alerts from monitoring: the PagerDuty Events API v2 shape (CONTRACTS §1–2), validated into
//! domain types with every problem listed, and the per-service rules that turn alerts into
//! incidents.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::incident::Severity;
use super::reports::ReportRules;

pub const MAX_SUMMARY: usize = 1024;
pub const MAX_DEDUP_KEY: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    Trigger,
    Acknowledge,
    Resolve,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    Critical,
    Error,
    Warning,
    Info,
}

impl AlertSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

impl fmt::Display for AlertSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertSeverity {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "critical" => Ok(Self::Critical),
            "error" => Ok(Self::Error),
            "warning" => Ok(Self::Warning),
            "info" => Ok(Self::Info),
            _ => Err(()),
        }
    }
}

closed_set! {
    pub enum AlertStatus for "status" {
        Triggered = "triggered",
        Acknowledged = "acknowledged",
        Resolved = "resolved",
    }
}

/// What a trigger says about the problem.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPayload {
    pub summary: String,
    pub source: String,
    pub severity: AlertSeverity,
    /// The whole event as sent (details, links, images, client), kept and shown as is.
    pub raw: Value,
}

/// A validated event for one integration.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub routing_key: String,
    pub action: EventAction,
    /// Absent only on a trigger, which then gets a generated key.
    pub dedup_key: Option<String>,
    /// Present exactly on triggers.
    pub payload: Option<AlertPayload>,
}

/// A validated change event (a deploy, a config change, a flag flip).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub routing_key: String,
    pub summary: String,
    pub source: String,
    pub timestamp: Option<Timestamp>,
    pub raw: Value,
}

fn text<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<&'a str> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            errors.push(format!("'{path}' must be a string"));
            None
        }
    }
}

fn required<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<&'a str> {
    let found = text(object, key, path, errors);
    match found {
        Some(s) if !s.trim().is_empty() => Some(s),
        Some(_) | None => {
            if !errors.iter().any(|e| e.starts_with(&format!("'{path}'"))) {
                errors.push(format!("'{path}' is missing or blank"));
            }
            None
        }
    }
}

fn check_list(object: &Map<String, Value>, key: &str, fields: &[&str], errors: &mut Vec<String>) {
    match object.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_object() {
                    Some(o)
                        if fields
                            .iter()
                            .all(|f| o.get(*f).is_none_or(Value::is_string)) => {}
                    _ => errors.push(format!(
                        "'{key}[{i}]' must be an object with string fields {}",
                        fields.join(", ")
                    )),
                }
            }
        }
        Some(_) => errors.push(format!("'{key}' must be an array")),
    }
}

fn parse_timestamp(raw: Option<&str>, path: &str, errors: &mut Vec<String>) -> Option<Timestamp> {
    let raw = raw?;
    // Some clients append a "Z" to an offset that is already there ("…+00:00Z").
    let raw = match raw.strip_suffix('Z') {
        Some(head) if head.ends_with("+00:00") => head,
        _ => raw,
    };
    match raw.parse::<Timestamp>() {
        Ok(t) => Some(t),
        Err(_) => {
            errors.push(format!(
                "'{path}' must be an ISO 8601 timestamp with a time zone"
            ));
            None
        }
    }
}

/// Validates a PagerDuty Events API v2 event, listing every problem found.
pub fn parse_event(value: &Value) -> Result<AlertEvent, Vec<String>> {
    let mut errors = Vec::new();
    let Some(object) = value.as_object() else {
        return Err(vec!["the event must be a JSON object".into()]);
    };
    let routing_key = required(object, "routing_key", "routing_key", &mut errors);
    let action = match required(object, "event_action", "event_action", &mut errors) {
        Some("trigger") => Some(EventAction::Trigger),
        Some("acknowledge") => Some(EventAction::Acknowledge),
        Some("resolve") => Some(EventAction::Resolve),
        Some(other) => {
            errors.push(format!(
                "'event_action' must be trigger, acknowledge or resolve, not {other:?}"
            ));
            None
        }
        None => None,
    };
    let dedup_key = text(object, "dedup_key", "dedup_key", &mut errors).map(str::to_string);
    if let Some(key) = &dedup_key {
        if key.chars().count() > MAX_DEDUP_KEY {
            errors.push(format!(
                "'dedup_key' must be at most {MAX_DEDUP_KEY} characters"
            ));
        }
        if key.is_empty() {
            errors.push("'dedup_key' must not be empty".into());
        }
    }
    if matches!(
        action,
        Some(EventAction::Acknowledge | EventAction::Resolve)
    ) && dedup_key.is_none()
    {
        errors.push("'dedup_key' is required to acknowledge or resolve".into());
    }
    check_list(object, "links", &["href", "text"], &mut errors);
    check_list(object, "images", &["src", "href", "alt"], &mut errors);
    let payload = match (action, object.get("payload")) {
        (Some(EventAction::Trigger), Some(Value::Object(p))) => {
            let summary = required(p, "summary", "payload.summary", &mut errors);
            if summary.is_some_and(|s| s.chars().count() > MAX_SUMMARY) {
                errors.push(format!(
                    "'payload.summary' must be at most {MAX_SUMMARY} characters"
                ));
            }
            let source = required(p, "source", "payload.source", &mut errors);
            let severity = match required(p, "severity", "payload.severity", &mut errors) {
                Some(s) => match s.parse::<AlertSeverity>() {
                    Ok(sev) => Some(sev),
                    Err(()) => {
                        errors.push(
                            "'payload.severity' must be critical, error, warning or info".into(),
                        );
                        None
                    }
                },
                None => None,
            };
            parse_timestamp(
                text(p, "timestamp", "payload.timestamp", &mut errors),
                "payload.timestamp",
                &mut errors,
            );
            for key in ["component", "group", "class"] {
                text(p, key, &format!("payload.{key}"), &mut errors);
            }
            match (summary, source, severity) {
                (Some(summary), Some(source), Some(severity)) => Some(AlertPayload {
                    summary: summary.to_string(),
                    source: source.to_string(),
                    severity,
                    raw: value.clone(),
                }),
                _ => None,
            }
        }
        (Some(EventAction::Trigger), Some(_)) => {
            errors.push("'payload' must be an object".into());
            None
        }
        (Some(EventAction::Trigger), None) => {
            errors.push("'payload' is required to trigger".into());
            None
        }
        _ => None,
    };
    match (routing_key, action) {
        (Some(routing_key), Some(action)) if errors.is_empty() => Ok(AlertEvent {
            routing_key: routing_key.to_string(),
            action,
            dedup_key,
            payload,
        }),
        _ => Err(errors),
    }
}

/// Validates a PagerDuty change event.
pub fn parse_change(value: &Value) -> Result<ChangeEvent, Vec<String>> {
    let mut errors = Vec::new();
    let Some(object) = value.as_object() else {
        return Err(vec!["the event must be a JSON object".into()]);
    };
    let routing_key = required(object, "routing_key", "routing_key", &mut errors);
    check_list(object, "links", &["href", "text"], &mut errors);
    let (summary, source, timestamp) = match object.get("payload") {
        Some(Value::Object(p)) => {
            let summary = required(p, "summary", "payload.summary", &mut errors);
            if summary.is_some_and(|s| s.chars().count() > MAX_SUMMARY) {
                errors.push(format!(
                    "'payload.summary' must be at most {MAX_SUMMARY} characters"
                ));
            }
            let source = text(p, "source", "payload.source", &mut errors);
            let timestamp = parse_timestamp(
                text(p, "timestamp", "payload.timestamp", &mut errors),
                "payload.timestamp",
                &mut errors,
            );
            (summary, source, timestamp)
        }
        Some(_) => {
            errors.push("'payload' must be an object".into());
            (None, None, None)
        }
        None => {
            errors.push("'payload' is missing".into());
            (None, None, None)
        }
    };
    match (routing_key, summary) {
        (Some(routing_key), Some(summary)) if errors.is_empty() => Ok(ChangeEvent {
            routing_key: routing_key.to_string(),
            summary: summary.to_string(),
            source: source.unwrap_or("").to_string(),
            timestamp,
            raw: value.clone(),
        }),
        _ => Err(errors),
    }
}

/// Reads an Alertmanager webhook (or Grafana's, which adds fields to the same shape) into one
/// event per alert: `firing` triggers, `resolved` resolves; the dedup key is the alert's
/// fingerprint, or a stable hash of its labels when it has none.
pub fn parse_alertmanager(
    routing_key: &str,
    value: &Value,
) -> Result<Vec<AlertEvent>, Vec<String>> {
    let Some(object) = value.as_object() else {
        return Err(vec!["the webhook body must be a JSON object".into()]);
    };
    let Some(alerts) = object.get("alerts").and_then(Value::as_array) else {
        return Err(vec!["'alerts' must be an array".into()]);
    };
    let mut errors = Vec::new();
    let mut events = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        let Some(a) = alert.as_object() else {
            errors.push(format!("'alerts[{i}]' must be an object"));
            continue;
        };
        let labels = a.get("labels").and_then(Value::as_object);
        let annotations = a.get("annotations").and_then(Value::as_object);
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let annotation = |k: &str| annotations.and_then(|l| l.get(k)).and_then(Value::as_str);
        let action = match a.get("status").and_then(Value::as_str) {
            Some("firing") => EventAction::Trigger,
            Some("resolved") => EventAction::Resolve,
            _ => {
                errors.push(format!("'alerts[{i}].status' must be firing or resolved"));
                continue;
            }
        };
        let dedup_key = match a
            .get("fingerprint")
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
        {
            Some(f) => f.to_string(),
            None => labels_hash(labels),
        };
        let summary = annotation("summary")
            .or_else(|| annotation("description"))
            .or_else(|| label("alertname"))
            .unwrap_or("Alertmanager alert");
        let summary: String = summary.chars().take(MAX_SUMMARY).collect();
        let severity = match label("severity").map(str::to_ascii_lowercase).as_deref() {
            Some("critical" | "page" | "emergency") => AlertSeverity::Critical,
            Some("warning" | "warn") => AlertSeverity::Warning,
            Some("info" | "informational" | "low" | "none") => AlertSeverity::Info,
            _ => AlertSeverity::Error,
        };
        let source = label("instance")
            .or_else(|| label("job"))
            .or_else(|| object.get("receiver").and_then(Value::as_str))
            .unwrap_or("alertmanager");
        let mut raw = alert.clone();
        if let (Some(raw), Some(url)) = (raw.as_object_mut(), object.get("externalURL")) {
            raw.insert("externalURL".into(), url.clone());
        }
        events.push(AlertEvent {
            routing_key: routing_key.to_string(),
            action,
            dedup_key: Some(dedup_key),
            payload: (action == EventAction::Trigger).then(|| AlertPayload {
                summary,
                source: source.to_string(),
                severity,
                raw,
            }),
        });
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(errors)
    }
}

/// A stable key from an alert's labels, for senders that give no fingerprint.
fn labels_hash(labels: Option<&Map<String, Value>>) -> String {
    use sha2::{Digest, Sha256};
    let mut pairs: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    Sha256::digest(pairs.join("\n").as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The longest a maintenance window or silence may last.
pub const MAX_SILENCE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 31);

/// What a silence matches besides its service; empty fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SilenceMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub severity: Option<AlertSeverity>,
    /// Matches when the alert's summary contains this text (case-insensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_contains: Option<String>,
}

/// A maintenance window (no matchers: the whole service, or every service) or a silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub service_id: Option<i64>,
    pub matchers: SilenceMatch,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

impl Silence {
    /// Whether a trigger for `payload` on `service_id` with `dedup_key` is silenced at `now`.
    pub fn silences(
        &self,
        service_id: i64,
        dedup_key: &str,
        payload: &AlertPayload,
        now: Timestamp,
    ) -> bool {
        let m = &self.matchers;
        self.starts_at <= now
            && now < self.ends_at
            && self.service_id.is_none_or(|s| s == service_id)
            && m.dedup_key.as_deref().is_none_or(|k| k == dedup_key)
            && m.source.as_deref().is_none_or(|s| s == payload.source)
            && m.severity.is_none_or(|s| s == payload.severity)
            && m.summary_contains
                .as_deref()
                .is_none_or(|t| payload.summary.to_lowercase().contains(&t.to_lowercase()))
    }
}

/// How a service turns alerts (and bursts of user reports) into incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRules {
    /// Alerts of these severities open an incident when none is open for the service.
    pub open_incident_for: Vec<AlertSeverity>,
    /// Alerts within this many minutes of an open incident's last alert join it (at most a
    /// week).
    #[schema(minimum = 1, maximum = 10_080)]
    pub group_window_minutes: u32,
    /// Resolve an incident alerts opened when every one of its alerts has resolved.
    pub auto_resolve: bool,
    /// Also resolve incidents people declared (which alerts later joined) that way. Off by
    /// default: a person's judgement that an incident is not over stands.
    pub auto_resolve_declared: bool,
    pub user_reports: ReportRules,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            open_incident_for: vec![AlertSeverity::Critical, AlertSeverity::Error],
            group_window_minutes: 60,
            auto_resolve: true,
            auto_resolve_declared: false,
            user_reports: ReportRules::default(),
        }
    }
}

impl AlertRules {
    pub fn opens_incident(&self, severity: AlertSeverity) -> bool {
        self.open_incident_for.contains(&severity)
    }

    /// The incident severity an alert maps to.
    pub fn incident_severity(severity: AlertSeverity) -> Severity {
        match severity {
            AlertSeverity::Critical => Severity::Sev1,
            AlertSeverity::Error => Severity::Sev2,
            AlertSeverity::Warning => Severity::Sev3,
            AlertSeverity::Info => Severity::Sev4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trigger() -> Value {
        json!({"routing_key": "R1", "event_action": "trigger", "dedup_key": "disk-web-1",
               "payload": {"summary": "Disk full on web-1", "source": "web-1", "severity": "critical",
                           "custom_details": {"free": "0%"}},
               "links": [{"href": "https://grafana/d/1", "text": "dashboard"}]})
    }

    #[test]
    fn a_full_trigger_parses_and_keeps_the_raw_event() {
        let event = parse_event(&trigger()).unwrap();
        assert_eq!(event.action, EventAction::Trigger);
        let payload = event.payload.unwrap();
        assert_eq!(payload.severity, AlertSeverity::Critical);
        assert_eq!(payload.raw["payload"]["custom_details"]["free"], "0%");
    }

    #[test]
    fn every_problem_is_listed() {
        let errors =
            parse_event(&json!({"event_action": "explode", "payload": {"severity": "bad"}}))
                .unwrap_err();
        assert!(
            errors.contains(&"'routing_key' is missing or blank".to_string()),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("'event_action' must be")),
            "{errors:?}"
        );

        let mut no_summary = trigger();
        no_summary["payload"]["summary"] = json!("");
        no_summary["payload"]["severity"] = json!("fatal");
        no_summary["payload"]["source"] = json!(5);
        let errors = parse_event(&no_summary).unwrap_err();
        assert_eq!(
            errors,
            vec![
                "'payload.summary' is missing or blank",
                "'payload.source' must be a string",
                "'payload.severity' must be critical, error, warning or info"
            ]
        );
    }

    #[test]
    fn limits_and_action_rules_hold() {
        let mut long = trigger();
        long["payload"]["summary"] = json!("x".repeat(MAX_SUMMARY + 1));
        assert!(parse_event(&long).unwrap_err()[0].contains("at most 1024"));
        let resolve = json!({"routing_key": "R1", "event_action": "resolve"});
        assert_eq!(
            parse_event(&resolve).unwrap_err(),
            vec!["'dedup_key' is required to acknowledge or resolve"]
        );
        let no_payload = json!({"routing_key": "R1", "event_action": "trigger"});
        assert_eq!(
            parse_event(&no_payload).unwrap_err(),
            vec!["'payload' is required to trigger"]
        );
        let bad_links = json!({"routing_key": "R1", "event_action": "resolve", "dedup_key": "k", "links": "nope"});
        assert_eq!(
            parse_event(&bad_links).unwrap_err(),
            vec!["'links' must be an array"]
        );
        assert!(parse_event(&json!([1])).is_err());
    }

    #[test]
    fn change_events_need_a_summary() {
        let ok = json!({"routing_key": "R1", "payload": {"summary": "Deploy 42", "timestamp": "2026-03-02T10:00:00Z"}});
        assert_eq!(parse_change(&ok).unwrap().summary, "Deploy 42");
        let doubled = json!({"routing_key": "R1", "payload": {"summary": "Deploy 43", "timestamp": "2026-03-02T10:00:00.5+00:00Z"}});
        assert!(parse_change(&doubled).unwrap().timestamp.is_some());
        let bad = json!({"routing_key": "R1", "payload": {"timestamp": "yesterday"}});
        assert_eq!(
            parse_change(&bad).unwrap_err(),
            vec![
                "'payload.summary' is missing or blank",
                "'payload.timestamp' must be an ISO 8601 timestamp with a time zone"
            ]
        );
    }

    #[test]
    fn alertmanager_webhooks_become_one_event_per_alert() {
        let body = json!({"version": "4", "status": "firing", "receiver": "aplomb", "externalURL": "http://am:9093",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "HighLatency", "severity": "critical", "instance": "api-1"},
             "annotations": {"summary": "p99 over 2 s"}, "fingerprint": "abc123"},
            {"status": "resolved", "labels": {"alertname": "DiskFull", "instance": "db-1"}, "annotations": {}}
        ]});
        let events = parse_alertmanager("R", &body).unwrap();
        assert_eq!(events.len(), 2);
        let first = events[0].payload.as_ref().unwrap();
        assert_eq!(
            (
                first.summary.as_str(),
                first.severity,
                first.source.as_str()
            ),
            ("p99 over 2 s", AlertSeverity::Critical, "api-1")
        );
        assert_eq!(events[0].dedup_key.as_deref(), Some("abc123"));
        assert_eq!(events[1].action, EventAction::Resolve);
        // Without a fingerprint the key is a hash of the labels, the same every time.
        let again = parse_alertmanager("R", &body).unwrap();
        assert_eq!(events[1].dedup_key, again[1].dedup_key);
        assert_eq!(events[1].dedup_key.as_ref().map(String::len), Some(32));
        assert!(parse_alertmanager("R", &json!({"alerts": [{"status": "pending"}]})).is_err());
        assert_eq!(
            parse_alertmanager("R", &json!({})).unwrap_err(),
            vec!["'alerts' must be an array"]
        );
    }

    #[test]
    fn silences_match_their_window_service_and_fields() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let payload = parse_event(&trigger()).unwrap().payload.unwrap();
        let window = Silence {
            service_id: Some(1),
            matchers: SilenceMatch::default(),
            starts_at: t("2026-03-02T10:00:00Z"),
            ends_at: t("2026-03-02T12:00:00Z"),
        };
        assert!(window.silences(1, "k", &payload, t("2026-03-02T11:00:00Z")));
        assert!(
            !window.silences(2, "k", &payload, t("2026-03-02T11:00:00Z")),
            "another service"
        );
        assert!(
            !window.silences(1, "k", &payload, t("2026-03-02T12:00:00Z")),
            "the window has ended"
        );
        let silence = Silence {
            service_id: None,
            matchers: SilenceMatch {
                summary_contains: Some("DISK FULL".into()),
                severity: Some(AlertSeverity::Critical),
                ..SilenceMatch::default()
            },
            ..window
        };
        assert!(silence.silences(7, "k", &payload, t("2026-03-02T11:00:00Z")));
        let other = AlertPayload {
            summary: "CPU hot".into(),
            ..payload
        };
        assert!(!silence.silences(7, "k", &other, t("2026-03-02T11:00:00Z")));
    }

    #[test]
    fn rules_default_to_opening_on_critical_and_error() {
        let rules = AlertRules::default();
        assert!(rules.opens_incident(AlertSeverity::Error));
        assert!(!rules.opens_incident(AlertSeverity::Warning));
        assert_eq!(
            AlertRules::incident_severity(AlertSeverity::Critical),
            Severity::Sev1
        );
        let custom: AlertRules =
            serde_json::from_str(r#"{"open_incident_for": ["warning"]}"#).unwrap();
        assert_eq!(custom.group_window_minutes, 60);
        assert!(serde_json::from_str::<AlertRules>(r#"{"colour": 1}"#).is_err());
    }
}
