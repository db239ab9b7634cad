//! The public status page: components and their status, derived from the public updates of
//! open public incidents; the page's overall indicator; and each component's uptime from its
//! stored status history. Only public updates of public incidents ever reach these rules.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use super::communication::Phase;
use super::incident::Severity;
use super::{FieldError, bounded_text, optional_text};

closed_set! {
    /// How a component is doing (Statuspage's component statuses).
    pub enum ComponentStatus for "status" {
        Operational = "operational",
        DegradedPerformance = "degraded_performance",
        PartialOutage = "partial_outage",
        MajorOutage = "major_outage",
        UnderMaintenance = "under_maintenance",
    }
}

impl ComponentStatus {
    /// How bad it is, for picking the worst: maintenance is planned, so it ranks below any
    /// trouble.
    fn rank(self) -> u8 {
        match self {
            Self::Operational => 0,
            Self::UnderMaintenance => 1,
            Self::DegradedPerformance => 2,
            Self::PartialOutage => 3,
            Self::MajorOutage => 4,
        }
    }

    pub fn worst(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
            Self::UnderMaintenance => "Under maintenance",
        }
    }

    /// Whether users count the time as down: a partial or major outage.
    pub fn is_outage(self) -> bool {
        matches!(self, Self::PartialOutage | Self::MajorOutage)
    }
}

closed_set! {
    /// The page's overall state (Statuspage's status indicator), and an incident's impact.
    pub enum Indicator for "indicator" {
        None = "none",
        Minor = "minor",
        Major = "major",
        Critical = "critical",
    }
}

impl Indicator {
    pub fn description(self) -> &'static str {
        match self {
            Self::None => "All Systems Operational",
            Self::Minor => "Minor Service Outage",
            Self::Major => "Partial System Outage",
            Self::Critical => "Major System Outage",
        }
    }

    /// The impact readers are told of an incident of `severity`.
    pub fn of_severity(severity: Severity) -> Self {
        match severity {
            Severity::Sev1 => Self::Critical,
            Severity::Sev2 => Self::Major,
            Severity::Sev3 => Self::Minor,
            Severity::Sev4 => Self::None,
        }
    }

    fn of_component(status: ComponentStatus) -> Self {
        match status {
            ComponentStatus::Operational | ComponentStatus::UnderMaintenance => Self::None,
            ComponentStatus::DegradedPerformance => Self::Minor,
            ComponentStatus::PartialOutage => Self::Major,
            ComponentStatus::MajorOutage => Self::Critical,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Minor => 1,
            Self::Major => 2,
            Self::Critical => 3,
        }
    }
}

closed_set! {
    /// How a reader of the status page subscribes to it.
    pub enum SubscriberKind for "kind" {
        Email = "email",
        Webhook = "webhook",
    }
}

/// Whether a subscriber to `chosen` components (every one when none) is told news about
/// `affected` components: news that names no component concerns everyone.
pub fn subscriber_covers(chosen: &[i64], affected: &[i64]) -> bool {
    chosen.is_empty() || affected.is_empty() || affected.iter().any(|c| chosen.contains(c))
}

/// How the status page presents itself, checked: its title, an optional logo and the
/// header's colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub name: String,
    /// An absolute http(s) URL, safe inside an HTML attribute.
    pub logo_url: Option<String>,
    /// `#rrggbb`, lower case.
    pub accent: String,
}

impl Brand {
    /// An empty `logo_url` means no logo.
    pub fn parse(name: &str, logo_url: Option<&str>, accent: &str) -> Result<Self, FieldError> {
        let name = bounded_text("name", name, 1, 100)?;
        let accent = accent.trim().to_ascii_lowercase();
        let hex = accent.strip_prefix('#').unwrap_or("");
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(FieldError::new("accent", "must be a colour like #1f4e79"));
        }
        let logo_url = match logo_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => {
                let web = url.starts_with("https://") || url.starts_with("http://");
                if !web || url.len() > 2000 || url.contains(['"', '\'', '<', '>', ' ']) {
                    return Err(FieldError::new(
                        "logo_url",
                        "must be an http(s) URL of at most 2000 characters, without quotes, spaces or angle brackets",
                    ));
                }
                Some(url.to_string())
            }
            None => None,
        };
        Ok(Self {
            name,
            logo_url,
            accent,
        })
    }
}

/// A component as its administrator describes it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInput {
    pub name: String,
    pub description: String,
    /// Components of one group are shown together under its name.
    pub group: Option<String>,
    /// The services behind it, by name (checked against the catalogue by the caller).
    pub services: Vec<String>,
}

impl ComponentInput {
    pub fn parse(
        name: &str,
        description: Option<&str>,
        group: Option<&str>,
        services: &[String],
    ) -> Result<Self, FieldError> {
        let name = bounded_text("name", name, 1, 100)?;
        let description = bounded_text("description", description.unwrap_or(""), 0, 500)?;
        let group = optional_text("group", group, 100)?;
        let mut named: Vec<String> = Vec::new();
        for s in services.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if !named.iter().any(|n| n == s) {
                named.push(s.to_string());
            }
        }
        Ok(Self {
            name,
            description,
            group,
            services: named,
        })
    }
}

/// A published public update as the status page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUpdate {
    pub id: i64,
    pub phase: Phase,
    pub text: String,
    pub published_at: Timestamp,
    pub corrected_at: Option<Timestamp>,
    /// The component statuses it set (component id, status).
    pub components: Vec<(i64, ComponentStatus)>,
}

/// A public incident with at least one public update: what the status page may tell of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIncident {
    pub id: i64,
    pub title: String,
    pub severity: Severity,
    /// Still open in aplomb.
    pub active: bool,
    pub declared_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Newest first.
    pub updates: Vec<PublicUpdate>,
}

impl PublicIncident {
    /// Its phase as readers know it: resolved once aplomb resolved it or its update said so,
    /// else the latest phase an update named (a plain update keeps the one before).
    pub fn phase(&self) -> Phase {
        if !self.active {
            return Phase::Resolved;
        }
        self.updates
            .iter()
            .map(|u| u.phase)
            .find(|p| *p != Phase::Update)
            .unwrap_or(Phase::Investigating)
    }

    pub fn is_open(&self) -> bool {
        self.phase() != Phase::Resolved
    }

    /// When readers last heard of it.
    pub fn updated_at(&self) -> Timestamp {
        self.updates
            .iter()
            .map(|u| u.corrected_at.unwrap_or(u.published_at).max(u.published_at))
            .chain(self.resolved_at)
            .max()
            .unwrap_or(self.declared_at)
    }

    /// When it was first said to be in `phase`.
    pub fn first_in(&self, phase: Phase) -> Option<Timestamp> {
        self.updates
            .iter()
            .filter(|u| u.phase == phase)
            .map(|u| u.published_at)
            .min()
    }

    /// The components it affects now, each with the status its newest update about it set;
    /// none once it is over.
    pub fn affecting(&self) -> Vec<(i64, ComponentStatus)> {
        if !self.is_open() {
            return Vec::new();
        }
        let mut seen: Vec<(i64, ComponentStatus)> = Vec::new();
        for u in &self.updates {
            for (id, status) in &u.components {
                if !seen.iter().any(|(s, _)| s == id) {
                    seen.push((*id, *status));
                }
            }
        }
        seen
    }

    /// Each update as readers follow the story, newest first: the phase it left the incident
    /// in (a plain update keeps the one before) and each component it changed, from which
    /// status to which.
    pub fn story(&self) -> Vec<StoryStep<'_>> {
        let mut phase = Phase::Investigating;
        let mut now: Vec<(i64, ComponentStatus)> = Vec::new();
        let mut steps: Vec<StoryStep<'_>> = self
            .updates
            .iter()
            .rev()
            .map(|update| {
                if update.phase != Phase::Update {
                    phase = update.phase;
                }
                let changed = update
                    .components
                    .iter()
                    .map(|(id, new)| {
                        let old = match now.iter_mut().find(|(c, _)| c == id) {
                            Some((_, status)) => std::mem::replace(status, *new),
                            None => {
                                now.push((*id, *new));
                                ComponentStatus::Operational
                            }
                        };
                        (*id, old, *new)
                    })
                    .collect();
                StoryStep {
                    update,
                    phase,
                    changed,
                }
            })
            .collect();
        steps.reverse();
        steps
    }

    /// How long the status page showed each component in each status other than operational
    /// because of this incident, in seconds: from each public update until the next one that
    /// names the component, until the incident was over for readers (an update said resolved,
    /// or aplomb resolved it), or until `now`. (component id, status, seconds), by component,
    /// then in the order the statuses were first shown.
    pub fn status_time(&self, now: Timestamp) -> Vec<(i64, ComponentStatus, i64)> {
        let oldest_first: Vec<&PublicUpdate> = self.updates.iter().rev().collect();
        let over = oldest_first
            .iter()
            .find(|u| u.phase == Phase::Resolved)
            .map(|u| u.published_at)
            .into_iter()
            .chain(self.resolved_at)
            .min()
            .unwrap_or(now)
            .min(now);
        let mut current: Vec<(i64, ComponentStatus, Timestamp)> = Vec::new();
        let mut spent: Vec<(i64, ComponentStatus, i64)> = Vec::new();
        let mut add = |id: i64, status: ComponentStatus, from: Timestamp, to: Timestamp| {
            let secs = to.duration_since(from).as_secs().max(0);
            if status == ComponentStatus::Operational || secs == 0 {
                return;
            }
            match spent
                .iter_mut()
                .find(|(c, st, _)| *c == id && *st == status)
            {
                Some((_, _, total)) => *total += secs,
                None => spent.push((id, status, secs)),
            }
        };
        for u in oldest_first.iter().filter(|u| u.published_at < over) {
            for (id, status) in &u.components {
                match current.iter_mut().find(|(c, ..)| c == id) {
                    Some((_, was, since)) => {
                        add(*id, *was, *since, u.published_at);
                        (*was, *since) = (*status, u.published_at);
                    }
                    None => current.push((*id, *status, u.published_at)),
                }
            }
        }
        for (id, status, since) in current {
            add(id, status, since, over);
        }
        // Stable: a component's statuses stay in the order their periods ended.
        spent.sort_by_key(|(id, ..)| *id);
        spent
    }

    /// Every component any of its updates named.
    pub fn named_components(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .updates
            .iter()
            .flat_map(|u| u.components.iter().map(|(id, _)| *id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// One public update in the story of its incident (`PublicIncident::story`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryStep<'a> {
    pub update: &'a PublicUpdate,
    pub phase: Phase,
    /// (component id, old status, new status).
    pub changed: Vec<(i64, ComponentStatus, ComponentStatus)>,
}

/// Each component's status now: the worst any open incident set, or under maintenance
/// while a maintenance covers it, else operational.
pub fn component_statuses(
    components: &[i64],
    incidents: &[PublicIncident],
    in_maintenance: &[i64],
) -> HashMap<i64, ComponentStatus> {
    let mut statuses: HashMap<i64, ComponentStatus> = components
        .iter()
        .map(|id| (*id, ComponentStatus::Operational))
        .collect();
    for id in in_maintenance {
        if let Some(s) = statuses.get_mut(id) {
            *s = s.worst(ComponentStatus::UnderMaintenance);
        }
    }
    for incident in incidents {
        for (id, status) in incident.affecting() {
            if let Some(s) = statuses.get_mut(&id) {
                *s = s.worst(status);
            }
        }
    }
    statuses
}

/// The page's overall indicator: the worst of its components' statuses and its open
/// incidents' impacts.
pub fn indicator(
    statuses: &HashMap<i64, ComponentStatus>,
    incidents: &[PublicIncident],
) -> Indicator {
    statuses
        .values()
        .map(|s| Indicator::of_component(*s))
        .chain(
            incidents
                .iter()
                .filter(|i| i.is_open())
                .map(|i| Indicator::of_severity(i.severity)),
        )
        .max_by_key(|i| i.rank())
        .unwrap_or(Indicator::None)
}

/// One day of a component's uptime bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    /// Midnight UTC that starts it.
    pub start: Timestamp,
    /// The worst status it was in that day; `None` before the component existed.
    pub worst: Option<ComponentStatus>,
    /// Time in a partial or major outage.
    pub outage: SignedDuration,
}

/// A component's uptime over the `days` days ending with the one holding `now`, from its
/// status history (`log`: each change, oldest first) since `since` (when it was created).
pub fn uptime(
    log: &[(Timestamp, ComponentStatus)],
    since: Timestamp,
    now: Timestamp,
    days: i32,
) -> Vec<Day> {
    let day = SignedDuration::from_hours(24);
    let today = start_of_day(now);
    (0..days)
        .rev()
        .map(|back| {
            let start = today - day * back;
            let end = (start + day).min(now);
            if end <= since || end <= start {
                return Day {
                    start,
                    worst: None,
                    outage: SignedDuration::ZERO,
                };
            }
            let from = start.max(since);
            // The status at `from`, then each change within the day.
            let mut status = log
                .iter()
                .take_while(|(at, _)| *at <= from)
                .last()
                .map_or(ComponentStatus::Operational, |(_, s)| *s);
            let mut worst = status;
            let mut outage = SignedDuration::ZERO;
            let mut at = from;
            for (changed, next) in log.iter().filter(|(t, _)| *t > from && *t < end) {
                if status.is_outage() {
                    outage += changed.duration_since(at);
                }
                status = *next;
                worst = worst.worst(status);
                at = *changed;
            }
            if status.is_outage() {
                outage += end.duration_since(at);
            }
            Day {
                start,
                worst: Some(worst),
                outage,
            }
        })
        .collect()
}

/// The share of the days' time (since the component existed) not in an outage, in percent.
pub fn uptime_percent(days: &[Day], since: Timestamp, now: Timestamp) -> f64 {
    let Some(first) = days.first() else {
        return 100.0;
    };
    let total = now.duration_since(first.start.max(since)).as_secs_f64();
    if total <= 0.0 {
        return 100.0;
    }
    let down: f64 = days.iter().map(|d| d.outage.as_secs_f64()).sum();
    (100.0 * (1.0 - down / total)).clamp(0.0, 100.0)
}

fn start_of_day(t: Timestamp) -> Timestamp {
    let secs = t.as_second().div_euclid(86_400) * 86_400;
    Timestamp::from_second(secs).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brand_names_the_field_it_refuses() {
        let ok = Brand::parse(" Acme status ", Some(""), "#1F4E79").unwrap();
        assert_eq!(
            ok,
            Brand {
                name: "Acme status".into(),
                logo_url: None,
                accent: "#1f4e79".into()
            }
        );
        let field = |r: Result<Brand, FieldError>| r.unwrap_err().field;
        assert_eq!(field(Brand::parse(" ", None, "#1f4e79")), "name");
        assert_eq!(field(Brand::parse("Acme", None, "blue")), "accent");
        assert_eq!(field(Brand::parse("Acme", None, "#12345g")), "accent");
        for url in [
            "ftp://x/logo.png",
            "https://x/a\"onload=\"",
            "javascript:alert(1)",
        ] {
            assert_eq!(
                field(Brand::parse("Acme", Some(url), "#1f4e79")),
                "logo_url"
            );
        }
        let logo = Brand::parse("Acme", Some("https://acme.example/logo.png"), "#000000");
        assert_eq!(
            logo.unwrap().logo_url.as_deref(),
            Some("https://acme.example/logo.png")
        );
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn update(
        id: i64,
        phase: Phase,
        minute: u32,
        components: &[(i64, ComponentStatus)],
    ) -> PublicUpdate {
        PublicUpdate {
            id,
            phase,
            text: format!("update {id}"),
            published_at: at(&format!("2026-03-02T14:{minute:02}:00Z")),
            corrected_at: None,
            components: components.to_vec(),
        }
    }

    fn incident(severity: Severity, updates: Vec<PublicUpdate>) -> PublicIncident {
        PublicIncident {
            id: 1,
            title: "Checkout errors".into(),
            severity,
            active: true,
            declared_at: at("2026-03-02T14:00:00Z"),
            resolved_at: None,
            updates,
        }
    }

    use ComponentStatus::*;

    #[test]
    fn the_time_each_component_showed_each_status_ends_when_readers_were_told_it_was_over() {
        // 14:10 checkout major, search degraded; 14:20 checkout partial; 14:40 resolved.
        let mut one = incident(
            Severity::Sev2,
            vec![
                update(3, Phase::Resolved, 40, &[(10, Operational)]),
                update(2, Phase::Update, 20, &[(10, PartialOutage)]),
                update(
                    1,
                    Phase::Identified,
                    10,
                    &[(10, MajorOutage), (11, DegradedPerformance)],
                ),
            ],
        );
        let later = at("2026-03-02T16:00:00Z");
        assert_eq!(
            one.status_time(later),
            vec![
                (10, MajorOutage, 600),
                (10, PartialOutage, 1200),
                (11, DegradedPerformance, 1800)
            ]
        );
        // Still open and no resolving update: the time runs to now.
        one.updates.remove(0);
        assert_eq!(
            one.status_time(at("2026-03-02T14:30:00Z")),
            vec![
                (10, MajorOutage, 600),
                (10, PartialOutage, 600),
                (11, DegradedPerformance, 1200)
            ]
        );
        // Resolved in aplomb at 14:25 without a resolving update.
        one.resolved_at = Some(at("2026-03-02T14:25:00Z"));
        assert_eq!(
            one.status_time(later),
            vec![
                (10, MajorOutage, 600),
                (10, PartialOutage, 300),
                (11, DegradedPerformance, 900)
            ]
        );
    }

    #[test]
    fn components_take_the_worst_status_open_incidents_set() {
        // Newest first: the later update eased checkout from a major to a partial outage.
        let one = incident(
            Severity::Sev2,
            vec![
                update(2, Phase::Update, 20, &[(10, PartialOutage)]),
                update(
                    1,
                    Phase::Identified,
                    10,
                    &[(10, MajorOutage), (11, DegradedPerformance)],
                ),
            ],
        );
        assert_eq!(
            one.phase(),
            Phase::Identified,
            "a plain update keeps the phase"
        );
        assert_eq!(
            one.affecting(),
            vec![(10, PartialOutage), (11, DegradedPerformance)]
        );
        let statuses = component_statuses(&[10, 11, 12], std::slice::from_ref(&one), &[12]);
        assert_eq!(statuses[&10], PartialOutage);
        assert_eq!(statuses[&11], DegradedPerformance);
        assert_eq!(statuses[&12], UnderMaintenance);
        assert_eq!(
            indicator(&statuses, std::slice::from_ref(&one)),
            Indicator::Major
        );

        let mut over = one.clone();
        over.updates.insert(0, update(3, Phase::Resolved, 30, &[]));
        assert!(!over.is_open());
        assert!(
            over.affecting().is_empty(),
            "a resolved incident affects nothing"
        );
        let calm = component_statuses(&[10, 11], &[over], &[]);
        assert!(calm.values().all(|s| *s == Operational));
        assert_eq!(indicator(&calm, &[]), Indicator::None);
        assert_eq!(Indicator::None.description(), "All Systems Operational");

        // Oldest first, the story says each update's phase and what it changed from what.
        let story = one.story();
        assert_eq!(
            story[0].phase,
            Phase::Identified,
            "the plain update keeps identified"
        );
        assert_eq!(story[0].changed, vec![(10, MajorOutage, PartialOutage)]);
        assert_eq!(
            story[1].changed,
            vec![
                (10, Operational, MajorOutage),
                (11, Operational, DegradedPerformance)
            ]
        );

        // An open incident without components still raises the indicator by its impact.
        let bare = incident(
            Severity::Sev1,
            vec![update(4, Phase::Investigating, 5, &[])],
        );
        assert_eq!(indicator(&calm, &[bare]), Indicator::Critical);
    }

    #[test]
    fn uptime_counts_outage_time_per_day() {
        let since = at("2026-02-27T00:00:00Z");
        let log = vec![
            (at("2026-03-01T10:00:00Z"), MajorOutage),
            (at("2026-03-01T10:30:00Z"), DegradedPerformance),
            (at("2026-03-01T11:00:00Z"), Operational),
        ];
        let now = at("2026-03-02T12:00:00Z");
        let days = uptime(&log, since, now, 5);
        assert_eq!(days.len(), 5);
        assert_eq!(days[0].worst, None, "before the component existed");
        assert_eq!(days[2].worst, Some(Operational));
        assert_eq!(days[3].worst, Some(MajorOutage));
        assert_eq!(days[3].outage, SignedDuration::from_mins(30));
        assert_eq!(days[4].worst, Some(Operational), "today so far");
        let percent = uptime_percent(&days, since, now);
        let total_minutes = (3 * 24 + 12) * 60;
        let want = 100.0 * (1.0 - 30.0 / f64::from(total_minutes));
        assert!((percent - want).abs() < 1e-9, "{percent} vs {want}");
        // An outage still running counts up to now.
        let open = vec![(at("2026-03-02T11:00:00Z"), PartialOutage)];
        assert_eq!(
            uptime(&open, since, now, 1)[0].outage,
            SignedDuration::from_hours(1)
        );
    }

    #[test]
    fn subscribers_hear_of_their_components_and_of_news_naming_none() {
        assert!(subscriber_covers(&[], &[3]), "every component");
        assert!(subscriber_covers(&[3, 4], &[4, 9]));
        assert!(!subscriber_covers(&[3], &[4]));
        assert!(
            subscriber_covers(&[3], &[]),
            "news about no component is for everyone"
        );
    }

    #[test]
    fn a_component_is_checked() {
        let ok = ComponentInput::parse(
            " Checkout ",
            None,
            Some(" "),
            &["checkout-api".into(), "checkout-api".into()],
        )
        .unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.group, ok.services.len()),
            ("Checkout", None, 1)
        );
        assert_eq!(
            ComponentInput::parse("", None, None, &[])
                .unwrap_err()
                .field,
            "name"
        );
        let long = "x".repeat(501);
        assert_eq!(
            ComponentInput::parse("API", Some(&long), None, &[])
                .unwrap_err()
                .field,
            "description"
        );
        assert_eq!(MajorOutage.worst(UnderMaintenance), MajorOutage);
        assert_eq!(Operational.worst(UnderMaintenance), UnderMaintenance);
    }
}
