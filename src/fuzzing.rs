//! Entry points for fuzzing the parsers of outside input (`fuzz/`, run with `cargo fuzz`):
//! each takes arbitrary bytes, must never panic, and asserts what its parser promises of what
//! it accepts. The test below replays every input kept under `fuzz/corpus/` (the seeds) and
//! `fuzz/regressions/` (inputs a fuzzer found), so a fixed bug stays fixed in `cargo test`.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::app::OrgDocument;
use crate::domain::communication::{Audience, Phase};
use crate::domain::forge::{self, ForgeEvent};
use crate::domain::reports::{MAX_REPORT_CHARS, RawReport, ReportInput};
use crate::domain::schedule::{LayerSpec, Schedule, ShiftLength};
use crate::domain::templates::{self, TemplateValues};
use crate::domain::{alert, bounded_text, instant, investigation, line_text, tone};

/// A fuzz target: arbitrary bytes in, a panic when a promise is broken.
pub type Target = fn(&[u8]);

/// Every target by the name its `fuzz/fuzz_targets/*.rs` file has.
pub const TARGETS: &[(&str, Target)] = &[
    ("events_v2", events_v2),
    ("change_events", change_events),
    ("alertmanager", alertmanager),
    ("forge", forge_webhooks),
    ("user_reports", user_reports),
    ("org_document", org_document),
    ("tone", tone_check),
    ("templates", update_templates),
    ("free_text", free_text),
    ("schedules", schedules),
];

fn json(data: &[u8]) -> Option<Value> {
    serde_json::from_slice(data).ok()
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `data` cut at its first `n - 1` zero bytes into `n` parts (missing ones empty).
fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut parts: Vec<String> = data.splitn(n, |&b| b == 0).map(text).collect();
    parts.resize(n, String::new());
    parts
}

/// A PagerDuty Events v2 body.
pub fn events_v2(data: &[u8]) {
    let Some(value) = json(data) else { return };
    if let Ok(event) = alert::parse_event(&value) {
        assert!(
            !event.routing_key.trim().is_empty(),
            "an event has a routing key"
        );
    }
}

/// A PagerDuty change event.
pub fn change_events(data: &[u8]) {
    if let Some(value) = json(data) {
        let _ = alert::parse_change(&value);
    }
}

/// An Alertmanager webhook, or Grafana's (the same shape with more fields).
pub fn alertmanager(data: &[u8]) {
    let Some(value) = json(data) else { return };
    if let Ok(events) = alert::parse_alertmanager("key", &value) {
        let alerts = value["alerts"].as_array().map_or(0, Vec::len);
        assert_eq!(events.len(), alerts, "one event per alert");
    }
}

/// A forge's webhook: the first byte picks the event, the rest is its body; the body's text
/// is also searched for incident references and read as a signature header.
pub fn forge_webhooks(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let event = match pick % 5 {
        0 => ForgeEvent::github("push"),
        1 => ForgeEvent::github("pull_request"),
        2 => ForgeEvent::gitlab("Push Hook"),
        3 => ForgeEvent::gitlab("Merge Request Hook"),
        _ => ForgeEvent::github("ping"),
    };
    if let Some(value) = json(body) {
        let _ = forge::changes(event, &value);
    }
    let raw = text(body);
    for id in forge::incident_refs(&raw) {
        assert!(id > 0, "an incident reference is a positive id");
    }
    let _ = forge::signature_id(&raw);
}

/// A user report: service, text and contact, separated by zero bytes.
pub fn user_reports(data: &[u8]) {
    let parts = fields(data, 3);
    let raw = RawReport {
        service: &parts[0],
        text: &parts[1],
        contact: (!parts[2].is_empty()).then_some(parts[2].as_str()),
    };
    if let Ok(report) = ReportInput::parse(raw) {
        assert!(!report.text.is_empty());
        assert!(report.text.chars().count() <= MAX_REPORT_CHARS);
        let _ = crate::domain::reports::report_summary(&report.text);
    }
}

/// The org document of `apply`, as JSON and as TOML: what parses writes itself back out and
/// reads back the same.
pub fn org_document(data: &[u8]) {
    let documents = [
        serde_json::from_slice::<OrgDocument>(data).ok(),
        toml::from_str::<OrgDocument>(&text(data)).ok(),
    ];
    for document in documents.into_iter().flatten() {
        let written = serde_json::to_value(&document).expect("a document serializes");
        let again: OrgDocument =
            serde_json::from_value(written.clone()).expect("a written document reads back");
        assert_eq!(
            serde_json::to_value(&again).expect("serializes"),
            written,
            "a document round-trips"
        );
    }
}

/// The tone check of an update: the first byte picks audience and phase. Every finding's
/// span lies within the text.
pub fn tone_check(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let update = text(rest);
    let audience = Audience::ALL[usize::from(pick) % Audience::ALL.len()];
    let phase = Phase::ALL.get(usize::from(pick / 4) % (Phase::ALL.len() + 1));
    let length = update.chars().count();
    for finding in tone::check(
        &update,
        audience,
        phase.copied(),
        &tone::ToneRules::default(),
    ) {
        assert!(
            finding.start <= finding.end && finding.end <= length,
            "{finding:?} within {length} characters"
        );
    }
}

/// An update template: checked, then filled.
pub fn update_templates(data: &[u8]) {
    let parts = fields(data, 2);
    if let Ok(template) = templates::check_template(&parts[0]) {
        let values = TemplateValues {
            title: parts[1].clone(),
            severity: "SEV2".into(),
            services: "checkout".into(),
            next_update: "14:30 UTC".into(),
        };
        let _ = templates::fill(&template, &values);
    }
}

/// Free text, instants and windows as every form and body field takes them, and text
/// escaped into HTML.
pub fn free_text(data: &[u8]) {
    let raw = text(data);
    for (min, max) in [(0, 10), (1, 10), (1, 200)] {
        if let Ok(kept) = bounded_text("text", &raw, min, max) {
            assert_eq!(kept, kept.trim(), "kept text is trimmed");
            assert!(kept.chars().count() >= min && kept.chars().count() <= max);
            assert!(
                !kept
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            );
        }
        if let Ok(line) = line_text("text", &raw, min, max) {
            assert!(!line.contains(['\n', '\r']), "one line");
        }
    }
    let escaped = crate::markup::escape(&raw);
    assert!(
        !escaped.contains(['<', '>', '"', '\'']),
        "escaped text holds no markup"
    );
    let _ = instant("at", &raw);
    if let Ok(window) = investigation::change_window(Some(&raw)) {
        assert!(window > SignedDuration::ZERO && window <= SignedDuration::from_hours(720));
    }
}

/// A schedule's layer (time zone, local start, shift length, participants) and the
/// instants it is asked about.
pub fn schedules(data: &[u8]) {
    let parts = fields(data, 3);
    let bytes = parts[2].as_bytes();
    let byte = |i: usize| bytes.get(i).copied().unwrap_or(1);
    let count = i64::from(u16::from_le_bytes([byte(0), byte(1)]));
    let unit = ["hours", "days", "weeks", "fortnights"][usize::from(byte(2)) % 4];
    let Ok(shift) = ShiftLength::parse("shift", count, unit) else {
        return;
    };
    let spec = LayerSpec {
        name: "week".into(),
        start: parts[1].clone(),
        shift,
        participants: (1..=i64::from(byte(3) % 6)).collect(),
    };
    let Ok(schedule) = Schedule::from_specs(&parts[0], &[spec], Vec::new()) else {
        return;
    };
    let seconds = i64::from_le_bytes(std::array::from_fn(|i| byte(4 + i)));
    let Ok(at) = Timestamp::from_second(seconds % 253_402_300_799) else {
        return;
    };
    let _ = schedule.on_call_at(at);
    let _ = schedule.shift_began(at);
    if let Ok(until) = at.checked_add(SignedDuration::from_hours(24 * 90)) {
        let shifts = schedule.shifts(at, until);
        for pair in shifts.windows(2) {
            assert!(pair[0].end <= pair[1].start, "shifts in order, apart");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every kept input of every target runs again without a panic; every target has a seed
    /// and a `fuzz/fuzz_targets/` file, and every such file a target here.
    #[test]
    fn kept_inputs_pass_their_targets() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        for (name, target) in super::TARGETS {
            let mut seeds = 0;
            for kept in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(fuzz.join(kept).join(name)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.expect("a directory entry").path();
                    target(&std::fs::read(&path).expect("readable"));
                    seeds += usize::from(kept == "corpus");
                }
            }
            assert!(seeds > 0, "{name} has no seed in fuzz/corpus/{name}/");
        }
        let mut files: Vec<String> = std::fs::read_dir(fuzz.join("fuzz_targets"))
            .expect("fuzz/fuzz_targets")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .replace(".rs", "")
            })
            .collect();
        files.sort();
        let mut names: Vec<String> = super::TARGETS.iter().map(|(n, _)| n.to_string()).collect();
        names.sort();
        assert_eq!(
            files, names,
            "fuzz/fuzz_targets/ and TARGETS name the same targets"
        );
    }
}
