//! Investigating before reacting: evidence, hypotheses and the tests run on them, and the rule
//! that a team acts on a finding (a supported hypothesis) or says why it acts without one.

use jiff::Timestamp;

use super::timeline::EntryData;
use super::{FieldError, RuleError, bounded_text, one_line, optional_text};

closed_set! {
    /// What a piece of evidence is.
    pub enum EvidenceKind for "kind" {
        Log = "log",
        Metric = "metric",
        Alert = "alert",
        Change = "change",
        UserReport = "user_report",
        Anomaly = "anomaly",
        Other = "other",
    }
}

impl EvidenceKind {
    /// The kinds that show the impact itself (not its cause, as a change may be): the
    /// earliest of them is a sign of when the impact began.
    pub const OF_IMPACT: [EvidenceKind; 5] = [
        Self::Log,
        Self::Metric,
        Self::Alert,
        Self::UserReport,
        Self::Anomaly,
    ];
}

closed_set! {
    /// Where a hypothesis stands. A supported one is a finding.
    pub enum HypothesisState for "state" {
        Open = "open",
        Testing = "testing",
        Supported = "supported",
        Refuted = "refuted",
    }
}

closed_set! {
    /// What rests on knowing the cause, and so on a finding.
    pub enum FindingAction for "action" {
        /// Moving the incident to `identified`.
        Identified = "identified",
        /// Changing production (a response change).
        Change = "change",
    }
}

closed_set! {
    /// Whether a piece of evidence speaks for a hypothesis or against it.
    pub enum Stance for "stance" {
        For = "for",
        Against = "against",
    }
}

impl HypothesisState {
    /// Whether the hypothesis has been judged, one way or the other.
    pub fn is_concluded(self) -> bool {
        matches!(self, Self::Supported | Self::Refuted)
    }

    /// A supported hypothesis is a finding.
    pub fn is_finding(self) -> bool {
        self == Self::Supported
    }

    /// The hypothesis lifecycle: `open → testing → supported | refuted`. A hypothesis is
    /// judged on a test: `tested` says a test was recorded since it was last judged (or ever,
    /// if it never was), so a judgement is never reversed without a new test. A judged one may
    /// be reopened.
    pub fn check_move(self, to: Self, tested: bool) -> Result<(), RuleError> {
        if self == to {
            return Err(RuleError::Conflict(format!(
                "the hypothesis is already {to}"
            )));
        }
        if to.is_concluded() && !tested {
            return Err(FieldError::new(
                "state",
                format!(
                    "a hypothesis is judged on a test: record one (what was tried, what came of it) before marking it {to}"
                ),
            )
            .into());
        }
        Ok(())
    }

    /// Where recording a test leaves the hypothesis: an open one is then being tested.
    pub fn after_test(self) -> Self {
        match self {
            Self::Open => Self::Testing,
            other => other,
        }
    }

    /// The states it may move to from here.
    pub fn moves(self, tested: bool) -> Vec<Self> {
        Self::ALL
            .iter()
            .copied()
            .filter(|to| self.check_move(*to, tested).is_ok())
            .collect()
    }
}

/// A piece of evidence as a responder gives it, checked. A linked alert or change event
/// supplies the summary and time when they are not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceInput {
    pub kind: EvidenceKind,
    pub summary: Option<String>,
    pub excerpt: Option<String>,
    pub source_url: Option<String>,
    pub observed_at: Option<Timestamp>,
    pub alert_id: Option<i64>,
    pub change_id: Option<i64>,
    pub pinned: bool,
}

/// The raw fields of a piece of evidence, from the API or a form.
#[derive(Debug, Clone, Default)]
pub struct RawEvidence<'a> {
    pub kind: &'a str,
    pub summary: Option<&'a str>,
    pub excerpt: Option<&'a str>,
    pub source_url: Option<&'a str>,
    pub observed_at: Option<&'a str>,
    pub alert_id: Option<i64>,
    pub change_id: Option<i64>,
    pub pinned: bool,
}

/// Longest excerpt kept (a log extract, a query's output): enough to read, not a log store.
pub const MAX_EXCERPT: usize = 20_000;

impl EvidenceInput {
    pub fn parse(raw: RawEvidence<'_>) -> Result<Self, FieldError> {
        let kind: EvidenceKind = raw.kind.parse()?;
        if raw.alert_id.is_some() && kind != EvidenceKind::Alert {
            return Err(FieldError::new(
                "alert_id",
                "is only accepted with kind alert",
            ));
        }
        if raw.change_id.is_some() && kind != EvidenceKind::Change {
            return Err(FieldError::new(
                "change_id",
                "is only accepted with kind change",
            ));
        }
        let linked = raw.alert_id.is_some() || raw.change_id.is_some();
        // Blank is absent; anything else is checked as sent (a trailing newline is two lines).
        let summary = match raw.summary.filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(summary(s)?),
            None if linked => None,
            None => {
                return Err(FieldError::new(
                    "summary",
                    "must not be empty (it may be left out only when linking an alert or a change)",
                ));
            }
        };
        Ok(Self {
            kind,
            summary,
            excerpt: optional_text("excerpt", raw.excerpt, MAX_EXCERPT)?,
            source_url: raw.source_url.map(source_url).transpose()?.flatten(),
            observed_at: raw.observed_at.map(observed_at).transpose()?.flatten(),
            alert_id: raw.alert_id,
            change_id: raw.change_id,
            pinned: raw.pinned,
        })
    }
}

/// The longest hypothesis, or summary of a piece of evidence.
pub const MAX_STATEMENT: usize = 500;

/// A one-line description of a piece of evidence.
pub fn summary(raw: &str) -> Result<String, FieldError> {
    one_line("summary", raw, MAX_STATEMENT)
}

/// A hypothesis: one claim about the cause, which tests can support or refute.
pub fn statement(raw: &str) -> Result<String, FieldError> {
    one_line("statement", raw, MAX_STATEMENT)
}

/// What a test of a hypothesis tried and how (e.g. a reproduction on staging), and its result.
pub fn test_text(field: &'static str, raw: &str) -> Result<String, FieldError> {
    bounded_text(field, raw, 1, 4000)
}

/// An http(s) link to where the evidence can be seen; empty counts as absent.
pub fn source_url(raw: &str) -> Result<Option<String>, FieldError> {
    let url = raw.trim();
    if url.is_empty() {
        return Ok(None);
    }
    // `get`, not slicing: the first bytes may end inside a character.
    let has_scheme = ["http://", "https://"].iter().any(|scheme| {
        url.len() > scheme.len()
            && url
                .get(..scheme.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    });
    if !has_scheme || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            "source_url",
            "must be an http:// or https:// URL without spaces",
        ));
    }
    if url.len() > 2000 {
        return Err(FieldError::new(
            "source_url",
            "must be at most 2000 characters",
        ));
    }
    Ok(Some(url.to_string()))
}

/// When the evidence was observed, as an RFC 3339 time; empty counts as absent.
pub fn observed_at(raw: &str) -> Result<Option<Timestamp>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<Timestamp>().map(Some).map_err(|_| {
        FieldError::new(
            "observed_at",
            "must be an RFC 3339 time, e.g. 2026-12-03T14:05:00Z",
        )
    })
}

/// The windows `change_window` takes, as a regular expression for the API document.
pub const CHANGE_WINDOW_PATTERN: &str = "^(0*([1-9]|[12][0-9]|30)d|0*([1-9][0-9]?|[1-6][0-9]{2}|7[01][0-9]|720)h|0*([1-9][0-9]{0,3}|[1-3][0-9]{4}|4[0-2][0-9]{3}|43[01][0-9]{2}|43200)m)?$";

/// How far before an incident began its recent changes reach: `24h` (the default), `90m`,
/// `7d`; at most 30 days.
pub fn change_window(raw: Option<&str>) -> Result<jiff::SignedDuration, FieldError> {
    let raw = raw.filter(|r| !r.is_empty()).unwrap_or("24h");
    let invalid = || {
        FieldError::new(
            "window",
            "must be minutes, hours or days, e.g. 90m, 24h, 7d (at most 30d)",
        )
    };
    let (number, unit) = raw.split_at(raw.len() - raw.chars().last().map_or(0, char::len_utf8));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let n: i64 = number.parse().map_err(|_| invalid())?;
    let minutes = match unit {
        "m" => n,
        "h" => n.saturating_mul(60),
        "d" => n.saturating_mul(1440),
        _ => return Err(invalid()),
    };
    if !(1..=30 * 1440).contains(&minutes) {
        return Err(invalid());
    }
    Ok(jiff::SignedDuration::from_mins(minutes))
}

/// Investigate before reacting: an action that rests on knowing the cause (moving to
/// `identified`, changing production) needs a finding, or a stated reason for acting without
/// one, which the timeline keeps (and the review highlights).
pub fn act_on_finding(
    findings: u32,
    action: FindingAction,
    reason: Option<&str>,
) -> Result<Option<EntryData>, FieldError> {
    if findings > 0 {
        return Ok(None);
    }
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => Ok(Some(EntryData::ActedWithoutFinding {
            action,
            reason: reason.to_string(),
        })),
        None => Err(FieldError::new(
            "reason",
            "is required while no hypothesis is supported: test one first, or say why you are acting without a finding",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document's pattern for a window and `change_window` agree, at every bound.
    #[test]
    fn the_window_pattern_says_what_change_window_takes() {
        let pattern = regex::Regex::new(CHANGE_WINDOW_PATTERN).expect("a regex");
        let mut candidates = vec![String::new(), " 24h".into(), "24h ".into(), "+5m".into()];
        for n in (0..=45_000)
            .step_by(7)
            .chain([29, 30, 31, 719, 720, 721, 43_199, 43_200, 43_201])
        {
            for unit in ["m", "h", "d", "s", "", "H"] {
                candidates.push(format!("{n}{unit}"));
                candidates.push(format!("00{n}{unit}"));
            }
        }
        for raw in candidates {
            assert_eq!(
                pattern.is_match(&raw),
                change_window(Some(&raw)).is_ok(),
                "{raw:?}"
            );
        }
    }

    fn raw(kind: &str) -> RawEvidence<'_> {
        RawEvidence {
            kind,
            summary: Some("5xx on the edge since 14:02"),
            ..RawEvidence::default()
        }
    }

    #[test]
    fn a_hypothesis_is_tested_before_it_is_judged_and_may_be_reopened() {
        use HypothesisState::*;
        assert!(Open.check_move(Testing, false).is_ok());
        let refused = Open.check_move(Supported, false).unwrap_err();
        assert!(matches!(refused, RuleError::Invalid(ref e) if e.field == "state"));
        // Moving to testing by hand is not a test.
        assert!(Testing.check_move(Supported, false).is_err());
        assert!(Testing.check_move(Supported, true).is_ok());
        assert!(Testing.check_move(Refuted, true).is_ok());
        assert!(Refuted.check_move(Open, false).is_ok());
        // A judgement is reversed only on a new test.
        assert!(Supported.check_move(Refuted, false).is_err());
        assert!(Supported.check_move(Refuted, true).is_ok());
        assert!(matches!(
            Supported.check_move(Supported, true),
            Err(RuleError::Conflict(_))
        ));
        assert_eq!(Open.after_test(), Testing);
        assert_eq!(Refuted.after_test(), Refuted);
        assert_eq!(Open.moves(false), vec![Testing]);
        assert_eq!(Testing.moves(true), vec![Open, Supported, Refuted]);
    }

    #[test]
    fn states_and_kinds_parse_leniently_and_name_their_field() {
        assert_eq!(
            " Supported ".parse::<HypothesisState>().unwrap(),
            HypothesisState::Supported
        );
        assert_eq!(
            "proven".parse::<HypothesisState>().unwrap_err().field,
            "state"
        );
        assert_eq!(
            "user_report".parse::<EvidenceKind>().unwrap(),
            EvidenceKind::UserReport
        );
        let e = "rumour".parse::<EvidenceKind>().unwrap_err();
        assert_eq!(e.field, "kind");
        assert!(e.message.contains("log, metric, alert"), "{}", e.message);
    }

    #[test]
    fn evidence_is_checked_field_by_field() {
        let ok = EvidenceInput::parse(RawEvidence {
            source_url: Some(" https://grafana.example/d/edge "),
            observed_at: Some("2026-12-03T14:05:00Z"),
            excerpt: Some("  "),
            ..raw("metric")
        })
        .unwrap();
        assert_eq!(
            ok.source_url.as_deref(),
            Some("https://grafana.example/d/edge")
        );
        assert_eq!(ok.excerpt, None);
        assert!(ok.observed_at.is_some());
        let field = |r: RawEvidence<'_>| EvidenceInput::parse(r).unwrap_err().field;
        assert_eq!(field(raw("gossip")), "kind");
        assert_eq!(
            field(RawEvidence {
                summary: None,
                ..raw("log")
            }),
            "summary"
        );
        assert_eq!(
            field(RawEvidence {
                source_url: Some("ééééé"),
                ..raw("log")
            }),
            "source_url",
            "a character across the scheme's length is no panic"
        );
        assert_eq!(
            field(RawEvidence {
                summary: Some("two\nlines"),
                ..raw("log")
            }),
            "summary"
        );
        assert_eq!(
            field(RawEvidence {
                summary: Some("one line, then a newline\n"),
                ..raw("log")
            }),
            "summary",
            "checked as sent, as the document's pattern says"
        );
        assert_eq!(
            field(RawEvidence {
                source_url: Some("javascript:alert(1)"),
                ..raw("log")
            }),
            "source_url"
        );
        assert_eq!(
            field(RawEvidence {
                observed_at: Some("yesterday"),
                ..raw("log")
            }),
            "observed_at"
        );
        assert_eq!(
            field(RawEvidence {
                alert_id: Some(7),
                ..raw("log")
            }),
            "alert_id"
        );
        assert_eq!(
            field(RawEvidence {
                change_id: Some(3),
                ..raw("alert")
            }),
            "change_id"
        );
        let long = "x".repeat(MAX_EXCERPT + 1);
        assert_eq!(
            field(RawEvidence {
                excerpt: Some(&long),
                ..raw("log")
            }),
            "excerpt"
        );
        // Linking an alert needs no summary: the alert's is used.
        let linked = EvidenceInput::parse(RawEvidence {
            kind: "alert",
            alert_id: Some(7),
            ..RawEvidence::default()
        })
        .unwrap();
        assert_eq!((linked.summary, linked.alert_id), (None, Some(7)));
    }

    #[test]
    fn change_windows_are_minutes_hours_or_days_up_to_thirty_days() {
        let mins = |raw| change_window(raw).map(|d| d.as_mins());
        assert_eq!(mins(None), Ok(24 * 60));
        assert_eq!(mins(Some("90m")), Ok(90));
        assert_eq!(mins(Some("7d")), Ok(7 * 1440));
        for bad in ["0h", "31d", "h", "24", "1w", "-5m", "2é", " 7d "] {
            assert_eq!(
                change_window(Some(bad)).unwrap_err().field,
                "window",
                "{bad}"
            );
        }
    }

    #[test]
    fn acting_without_a_finding_needs_a_reason_which_is_recorded() {
        assert_eq!(act_on_finding(1, FindingAction::Identified, None), Ok(None));
        assert_eq!(
            act_on_finding(0, FindingAction::Identified, Some("  "))
                .unwrap_err()
                .field,
            "reason"
        );
        assert_eq!(
            act_on_finding(
                0,
                FindingAction::Identified,
                Some("customers are losing orders")
            ),
            Ok(Some(EntryData::ActedWithoutFinding {
                action: FindingAction::Identified,
                reason: "customers are losing orders".into(),
            }))
        );
    }
}
