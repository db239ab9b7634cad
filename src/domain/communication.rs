//! Communicating during an incident: status updates, who each is for and which phase it
//! speaks of.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::incident::Severity;
use super::{FieldError, bounded_text};

closed_set! {
    /// Who a status update is written for.
    pub enum Audience for "audience" {
        /// Customers, on the status page and its subscriptions.
        Public = "public",
        /// Management and other internal people following the incident.
        Stakeholders = "stakeholders",
        /// The people working the incident.
        Responders = "responders",
    }
}

impl Audience {
    /// Inside the organisation: heard through subscriptions to the updates, never on the
    /// status page.
    pub fn is_internal(self) -> bool {
        self != Self::Public
    }
}

closed_set! {
    /// The phase of the incident an update speaks of (Statuspage's incident statuses, plus a
    /// plain update).
    pub enum Phase for "phase" {
        Investigating = "investigating",
        Identified = "identified",
        Monitoring = "monitoring",
        Resolved = "resolved",
        Update = "update",
    }
}

impl Phase {
    /// The phase as readers read it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
            Self::Update => "Update",
        }
    }
}

closed_set! {
    /// Where a status update stands: a draft is seen by the response only; a published one
    /// has gone out to its audiences.
    pub enum UpdateState for "state" {
        Draft = "draft",
        Published = "published",
    }
}

/// The longest update: a status update, not a document.
pub const MAX_UPDATE_CHARS: usize = 10_000;

/// A status update as the communications lead writes it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateInput {
    /// Markdown.
    pub text: String,
    pub phase: Phase,
    /// In a fixed order, each once.
    pub audiences: Vec<Audience>,
    /// When readers are promised the next update.
    pub next_update_by: Option<Timestamp>,
}

/// The raw fields of an update, from the API or the composer.
#[derive(Debug, Clone, Default)]
pub struct RawUpdate<'a> {
    pub text: &'a str,
    pub phase: Option<&'a str>,
    pub audiences: &'a [String],
    pub next_update_by: Option<&'a str>,
}

impl UpdateInput {
    /// Checks an update for an incident (`private` or not) at `now`. A private incident has
    /// no public updates: nothing of it may reach the status page.
    pub fn parse(raw: RawUpdate<'_>, private: bool, now: Timestamp) -> Result<Self, FieldError> {
        let text = bounded_text("text", raw.text, 1, MAX_UPDATE_CHARS)?;
        let phase = match raw.phase.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => p.parse()?,
            None => Phase::Update,
        };
        let audiences = audiences(raw.audiences)?;
        if private && audiences.contains(&Audience::Public) {
            return Err(FieldError::new(
                "audiences",
                "a private incident's updates go to stakeholders and responders only",
            ));
        }
        let next_update_by = next_update_by(raw.next_update_by, now)?;
        Ok(Self {
            text,
            phase,
            audiences,
            next_update_by,
        })
    }
}

/// Audiences named by the API or a form: at least one, each once, in `Audience::ALL`'s order.
pub fn audiences(raw: &[String]) -> Result<Vec<Audience>, FieldError> {
    let mut named = Vec::new();
    for a in raw {
        let audience: Audience = a
            .parse()
            .map_err(|e: FieldError| FieldError::new("audiences", e.message))?;
        named.push(audience);
    }
    let ordered: Vec<Audience> = Audience::ALL
        .iter()
        .copied()
        .filter(|a| named.contains(a))
        .collect();
    if ordered.is_empty() {
        return Err(FieldError::new(
            "audiences",
            "name at least one of public, stakeholders, responders",
        ));
    }
    Ok(ordered)
}

/// When the next update is promised, an RFC 3339 time after `now`; empty counts as absent.
pub fn next_update_by(raw: Option<&str>, now: Timestamp) -> Result<Option<Timestamp>, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let at: Timestamp = raw.parse().map_err(|_| {
        FieldError::new(
            "next_update_by",
            "must be an RFC 3339 time, e.g. 2026-03-02T14:30:00Z",
        )
    })?;
    if at <= now {
        return Err(FieldError::new("next_update_by", "must be in the future"));
    }
    Ok(Some(at))
}

/// The audience whose eyes a draft's tone is checked with: the widest it goes to.
pub fn widest(audiences: &[Audience]) -> Audience {
    Audience::ALL
        .iter()
        .copied()
        .find(|a| audiences.contains(a))
        .unwrap_or(Audience::Responders)
}

/// Whether an update counts toward the cadence: the cadence keeps management and users
/// informed, so an update for the responders alone does not.
pub fn tells_outside(audiences: &[Audience]) -> bool {
    audiences
        .iter()
        .any(|a| matches!(a, Audience::Public | Audience::Stakeholders))
}

/// The audience a subscription hears: stakeholders unless it says otherwise; never the
/// public, whose readers subscribe on the status page.
pub fn subscription_audience(raw: Option<&str>) -> Result<Audience, FieldError> {
    match raw.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(Audience::Stakeholders),
        Some(a) => match a.parse()? {
            internal if Audience::is_internal(internal) => Ok(internal),
            _ => Err(FieldError::new(
                "audience",
                "public updates reach readers through the status page's subscriptions; \
                 subscribe to stakeholders or responders",
            )),
        },
    }
}

/// What a stakeholder's subscription covers: every incident, those affecting a service, or
/// those of a severity or worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionScope {
    All,
    /// A catalogue service, by id.
    Service(i64),
    Severity(Severity),
}

impl SubscriptionScope {
    pub const KINDS: [&'static str; 3] = ["all", "service", "severity"];

    /// The scope named `kind` with what it needs: `service` a service (already looked up),
    /// `severity` a severity.
    pub fn parse(
        kind: &str,
        service: Option<i64>,
        severity: Option<&str>,
    ) -> Result<Self, FieldError> {
        match kind.trim() {
            "all" => Ok(Self::All),
            "service" => service
                .map(Self::Service)
                .ok_or_else(|| FieldError::new("service", "a service scope names its service")),
            "severity" => {
                let raw = severity.ok_or_else(|| {
                    FieldError::new("severity", "a severity scope names its severity")
                })?;
                Severity::ALL
                    .into_iter()
                    .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
                    .map(Self::Severity)
                    .ok_or_else(|| {
                        FieldError::new("severity", "must be one of SEV1, SEV2, SEV3, SEV4")
                    })
            }
            _ => Err(FieldError::new(
                "scope",
                format!("must be one of {}", Self::KINDS.join(", ")),
            )),
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Service(_) => "service",
            Self::Severity(_) => "severity",
        }
    }

    /// Whether it covers an incident of `severity` affecting `services` (by id).
    pub fn covers(self, severity: Severity, services: &[i64]) -> bool {
        match self {
            Self::All => true,
            Self::Service(id) => services.contains(&id),
            Self::Severity(threshold) => severity <= threshold,
        }
    }
}

/// Whether a subscriber hears of an incident's updates to stakeholders: the subscription
/// covers the incident, and a private incident is told only to those who may see it.
pub fn subscriber_hears(
    scope: SubscriptionScope,
    incident: &super::incident::Incident,
    subscriber: i64,
    is_admin: bool,
) -> bool {
    let services: Vec<i64> = incident.services.iter().map(|s| s.id).collect();
    let may_see =
        !incident.private || is_admin || incident.participants.iter().any(|p| p.id == subscriber);
    may_see && scope.covers(incident.severity, &services)
}

/// How soon an incident's audiences first hear from the team, and how often after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateCadence {
    pub first: SignedDuration,
    pub every: SignedDuration,
}

impl UpdateCadence {
    pub fn minutes(first: i64, every: i64) -> Self {
        Self {
            first: SignedDuration::from_mins(first),
            every: SignedDuration::from_mins(every),
        }
    }
}

/// The cadence each severity asks for; `None` asks for no updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CadencePolicy(BTreeMap<Severity, Option<UpdateCadence>>);

impl Default for CadencePolicy {
    /// SEV1 5 then every 20 minutes, SEV2 15/30, SEV3 30/60, SEV4 none.
    fn default() -> Self {
        Self(BTreeMap::from([
            (Severity::Sev1, Some(UpdateCadence::minutes(5, 20))),
            (Severity::Sev2, Some(UpdateCadence::minutes(15, 30))),
            (Severity::Sev3, Some(UpdateCadence::minutes(30, 60))),
            (Severity::Sev4, None),
        ]))
    }
}

impl CadencePolicy {
    /// The defaults with `overrides` laid over them.
    pub fn with(overrides: impl IntoIterator<Item = (Severity, Option<UpdateCadence>)>) -> Self {
        let mut policy = Self::default();
        policy.0.extend(overrides);
        policy
    }

    pub fn of(&self, severity: Severity) -> Option<UpdateCadence> {
        self.0.get(&severity).copied().flatten()
    }
}

/// The last update that counted toward the cadence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told {
    pub at: Timestamp,
    /// The next update its readers were promised.
    pub next_update_by: Option<Timestamp>,
}

/// When the next update is due, and whether it is the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateDue {
    pub at: Timestamp,
    pub first: bool,
    /// How long apart reminders come while it stays overdue.
    pub every: SignedDuration,
}

/// When an active incident's next update is due under `cadence`: its first within `first` of
/// the declaration, then within `every` of the last, unless that update promised its readers
/// another time, which is then the one kept. `None` while no update is expected.
pub fn update_due(
    cadence: Option<UpdateCadence>,
    active: bool,
    declared_at: Timestamp,
    last: Option<Told>,
) -> Option<UpdateDue> {
    let cadence = cadence.filter(|_| active)?;
    let (at, first) = match last {
        None => (declared_at + cadence.first, true),
        Some(Told {
            next_update_by: Some(promised),
            ..
        }) => (promised, false),
        Some(Told { at, .. }) => (at + cadence.every, false),
    };
    Some(UpdateDue {
        at,
        first,
        every: cadence.every,
    })
}

impl UpdateDue {
    pub fn overdue(&self, now: Timestamp) -> bool {
        now >= self.at
    }

    /// Which overdue period `now` falls in (0 from the due time), `None` before it: each
    /// period reminds once.
    pub fn period(&self, now: Timestamp) -> Option<i64> {
        if !self.overdue(now) {
            return None;
        }
        let every = self.every.as_millis().max(1);
        let late = now.duration_since(self.at).as_millis();
        Some(i64::try_from(late / every).unwrap_or(i64::MAX))
    }

    /// When to remind next, seen at `now`: at the due time, then once per period while it
    /// stays overdue; while snoozed, when the snooze ends, since a period that began during
    /// the snooze is still owed its reminder (one already sent is not sent twice).
    pub fn next_reminder(&self, now: Timestamp, snoozed_until: Option<Timestamp>) -> Timestamp {
        if let Some(until) = snoozed_until.filter(|s| *s > now) {
            return until;
        }
        match self.period(now) {
            None => self.at,
            Some(k) => {
                let next = k.saturating_add(1).min(i64::from(i32::MAX));
                self.at + self.every * i32::try_from(next).unwrap_or(i32::MAX)
            }
        }
    }
}

/// The longest snooze of an overdue-update reminder.
pub const MAX_SNOOZE_MINUTES: i64 = 120;

/// A snooze of the update reminder, in minutes, 1 to 120.
pub fn snooze_minutes(minutes: i64) -> Result<SignedDuration, FieldError> {
    if !(1..=MAX_SNOOZE_MINUTES).contains(&minutes) {
        return Err(FieldError::new(
            "minutes",
            format!("must be between 1 and {MAX_SNOOZE_MINUTES}"),
        ));
    }
    Ok(SignedDuration::from_mins(minutes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_hear_stakeholders_or_responders_never_the_public() {
        assert_eq!(subscription_audience(None), Ok(Audience::Stakeholders));
        assert_eq!(subscription_audience(Some(" ")), Ok(Audience::Stakeholders));
        assert_eq!(
            subscription_audience(Some("responders")),
            Ok(Audience::Responders)
        );
        for bad in ["public", "managers"] {
            assert_eq!(
                subscription_audience(Some(bad)).unwrap_err().field,
                "audience"
            );
        }
    }

    #[test]
    fn subscriptions_cover_by_service_and_severity() {
        use Severity::*;
        let field = |r: Result<SubscriptionScope, FieldError>| r.unwrap_err().field;
        assert_eq!(
            SubscriptionScope::parse("all", None, None),
            Ok(SubscriptionScope::All)
        );
        assert_eq!(
            field(SubscriptionScope::parse("service", None, None)),
            "service"
        );
        assert_eq!(
            field(SubscriptionScope::parse("severity", None, Some("P1"))),
            "severity"
        );
        assert_eq!(field(SubscriptionScope::parse("team", None, None)), "scope");
        let sev2 = SubscriptionScope::parse("severity", None, Some("sev2")).unwrap();
        assert!(sev2.covers(Sev1, &[]) && sev2.covers(Sev2, &[]));
        assert!(!sev2.covers(Sev3, &[]), "SEV2 or worse only");
        let checkout = SubscriptionScope::Service(7);
        assert!(checkout.covers(Sev4, &[3, 7]));
        assert!(!checkout.covers(Sev1, &[3]));
    }

    fn now() -> Timestamp {
        "2026-03-02T14:00:00Z".parse().unwrap()
    }

    fn raw<'a>(audiences: &'a [String]) -> RawUpdate<'a> {
        RawUpdate {
            text: "Some customers see errors. We are on it. Next update by 14:30 UTC.",
            phase: Some("investigating"),
            audiences,
            next_update_by: Some("2026-03-02T14:30:00Z"),
        }
    }

    #[test]
    fn an_update_is_checked_field_by_field() {
        let named = vec![
            "stakeholders".to_string(),
            "public".to_string(),
            "public".to_string(),
        ];
        let ok = UpdateInput::parse(raw(&named), false, now()).unwrap();
        assert_eq!(ok.audiences, vec![Audience::Public, Audience::Stakeholders]);
        assert_eq!(ok.phase, Phase::Investigating);
        let field =
            |r: RawUpdate<'_>, private| UpdateInput::parse(r, private, now()).unwrap_err().field;
        assert_eq!(field(raw(&[]), false), "audiences");
        assert_eq!(field(raw(&["press".to_string()]), false), "audiences");
        assert_eq!(
            field(raw(&named), true),
            "audiences",
            "no public update of a private incident"
        );
        let mut past = raw(&named);
        past.next_update_by = Some("2026-03-02T13:00:00Z");
        assert_eq!(field(past, false), "next_update_by");
        let mut empty = raw(&named);
        empty.text = "  ";
        assert_eq!(field(empty, false), "text");
        let mut phase = raw(&named);
        phase.phase = Some("panicking");
        assert_eq!(field(phase, false), "phase");
        assert_eq!(
            widest(&[Audience::Responders, Audience::Stakeholders]),
            Audience::Stakeholders
        );
    }

    fn at(hhmm: &str) -> Timestamp {
        format!("2026-03-02T{hhmm}:00Z").parse().unwrap()
    }

    #[test]
    fn the_cadence_follows_severity_and_the_last_update() {
        let policy = CadencePolicy::default();
        let sev1 = policy.of(Severity::Sev1);
        assert_eq!(sev1, Some(UpdateCadence::minutes(5, 20)));
        assert_eq!(policy.of(Severity::Sev4), None);
        assert_eq!(
            update_due(policy.of(Severity::Sev4), true, at("14:00"), None),
            None
        );
        assert_eq!(
            update_due(sev1, false, at("14:00"), None),
            None,
            "resolved: none due"
        );
        let first = update_due(sev1, true, at("14:00"), None).unwrap();
        assert_eq!((first.at, first.first), (at("14:05"), true));
        let told = Told {
            at: at("14:03"),
            next_update_by: None,
        };
        let next = update_due(sev1, true, at("14:00"), Some(told)).unwrap();
        assert_eq!((next.at, next.first), (at("14:23"), false));
        let promised = Told {
            next_update_by: Some(at("14:45")),
            ..told
        };
        assert_eq!(
            update_due(sev1, true, at("14:00"), Some(promised))
                .unwrap()
                .at,
            at("14:45"),
            "a promise to readers is the time kept"
        );
        let custom = CadencePolicy::with([(Severity::Sev4, Some(UpdateCadence::minutes(60, 120)))]);
        assert_eq!(
            custom.of(Severity::Sev4),
            Some(UpdateCadence::minutes(60, 120))
        );
        assert_eq!(custom.of(Severity::Sev1), sev1);
        assert!(tells_outside(&[Audience::Stakeholders]));
        assert!(!tells_outside(&[Audience::Responders]));
    }

    #[test]
    fn an_overdue_update_reminds_once_a_period_and_a_snooze_holds_it() {
        let due = update_due(Some(UpdateCadence::minutes(5, 20)), true, at("14:00"), None).unwrap();
        assert_eq!(due.period(at("14:04")), None);
        assert_eq!(due.next_reminder(at("14:04"), None), at("14:05"));
        assert_eq!(due.period(at("14:05")), Some(0));
        assert_eq!(due.next_reminder(at("14:05"), None), at("14:25"));
        assert_eq!(due.period(at("14:30")), Some(1));
        assert_eq!(due.next_reminder(at("14:30"), None), at("14:45"));
        assert_eq!(
            due.next_reminder(at("14:06"), Some(at("14:16"))),
            at("14:16"),
            "a snooze ends with a look (the period's reminder, sent, is not sent again)"
        );
        assert_eq!(
            due.next_reminder(at("14:16"), Some(at("14:16"))),
            at("14:25")
        );
        assert_eq!(
            due.next_reminder(at("14:30"), Some(at("14:36"))),
            at("14:36"),
            "a period begun during the snooze is reminded when it ends"
        );
        assert_eq!(
            due.next_reminder(at("14:06"), Some(at("14:35"))),
            at("14:35")
        );
        assert!(snooze_minutes(0).is_err());
        assert_eq!(snooze_minutes(121).unwrap_err().field, "minutes");
        assert_eq!(snooze_minutes(15).unwrap(), SignedDuration::from_mins(15));
    }
}
