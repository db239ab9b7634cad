//! Response metrics over a period: the key durations of each incident (as its review reads
//! them) summed up as distributions — median and 90th percentile, since a mean is pulled by
//! the one incident that ran for a day —, counts by severity, service and type, the share of
//! mitigating actions that rested on a finding, cadence adherence, and action-item completion.
//! Each figure's definition is named in `DEFINITIONS`, for every surface that shows it.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::action_items::ActionState;
use super::incident::{Incident, Status};
use super::review::{DURATIONS, Draft};
use super::timeline::EntryData;

/// What each figure beside the durations measures.
pub const DEFINITIONS: [(&str, &str); 6] = [
    (
        "incidents",
        "incidents declared in the period (drills and incidents the reader may not see left out)",
    ),
    (
        "median",
        "the middle value by nearest rank: half the incidents took at most this long",
    ),
    (
        "p90",
        "the 90th percentile by nearest rank: nine in ten incidents took at most this long",
    ),
    (
        "mitigations_on_finding",
        "moves to identified and changes made to production while a hypothesis was supported, of all such actions",
    ),
    (
        "cadence_kept",
        "status updates published by the time the cadence said, of all updates the cadence expected",
    ),
    (
        "action_items_done",
        "action items of these incidents done, of those decided on (wont_do left out)",
    ),
];

/// One incident's figures, read from its review's draft and its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFigures {
    pub declared_at: Timestamp,
    pub severity: String,
    pub incident_type: String,
    pub services: Vec<String>,
    /// By the names of `review::DURATIONS`, in its order.
    pub durations: Vec<(&'static str, Option<i64>)>,
    /// Moves to `identified` and changes made to production.
    pub actions: u32,
    /// Of those, taken while no hypothesis was supported.
    pub without_finding: u32,
    pub cadence_kept: u32,
    pub cadence_missed: u32,
}

impl IncidentFigures {
    pub fn of(incident: &Incident, entries: &[(Timestamp, &EntryData)], draft: &Draft) -> Self {
        let mut figures = Self {
            declared_at: incident.declared_at,
            severity: incident.severity.to_string(),
            incident_type: incident.incident_type.clone(),
            services: incident.services.iter().map(|s| s.name.clone()).collect(),
            durations: draft
                .moments
                .durations()
                .into_iter()
                .map(|(name, seconds, _)| (name, seconds))
                .collect(),
            actions: 0,
            without_finding: 0,
            cadence_kept: 0,
            cadence_missed: 0,
        };
        for (_, entry) in entries {
            match entry {
                EntryData::StatusChanged {
                    to: Status::Identified,
                    ..
                }
                | EntryData::ResponseChangeRecorded { .. } => figures.actions += 1,
                EntryData::ActedWithoutFinding { .. } => figures.without_finding += 1,
                EntryData::CadenceKept { .. } => figures.cadence_kept += 1,
                EntryData::CadenceMissed { .. } => figures.cadence_missed += 1,
                _ => {}
            }
        }
        figures
    }
}

/// How a duration was spread over the incidents that reached both its moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Distribution {
    pub count: usize,
    pub median: Option<i64>,
    pub p90: Option<i64>,
}

impl Distribution {
    pub fn of(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        Self {
            count: values.len(),
            median: nearest_rank(&values, 50),
            p90: nearest_rank(&values, 90),
        }
    }
}

/// The `percent`th percentile of sorted `values` by nearest rank: the smallest value at least
/// `percent`% of them do not exceed.
fn nearest_rank(sorted: &[i64], percent: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A part of a whole: how many of `of` counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Share {
    pub counted: u32,
    pub of: u32,
}

impl Share {
    /// The share, 0 to 1; `None` of nothing.
    pub fn ratio(self) -> Option<f64> {
        (self.of > 0).then(|| f64::from(self.counted) / f64::from(self.of))
    }
}

/// A week of the period: incidents declared in it and their median time to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Week {
    pub starts: Timestamp,
    pub incidents: u32,
    pub median_time_to_resolve: Option<i64>,
}

/// The figures of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseMetrics {
    pub since: Timestamp,
    pub until: Timestamp,
    pub incidents: u32,
    pub durations: Vec<(&'static str, Distribution)>,
    pub by_severity: BTreeMap<String, u32>,
    pub by_service: BTreeMap<String, u32>,
    pub by_type: BTreeMap<String, u32>,
    pub mitigations_on_finding: Share,
    pub cadence_kept: Share,
    pub action_items_done: Share,
    pub weeks: Vec<Week>,
}

/// Sums up the figures of the incidents declared in `since..until` and the states of their
/// action items.
pub fn summarize(
    since: Timestamp,
    until: Timestamp,
    incidents: &[IncidentFigures],
    items: &[ActionState],
) -> ResponseMetrics {
    let durations = DURATIONS
        .iter()
        .map(|(name, _)| {
            let values = incidents
                .iter()
                .filter_map(|f| f.durations.iter().find(|(n, _)| n == name)?.1)
                .collect();
            (*name, Distribution::of(values))
        })
        .collect();
    let mut by_severity = BTreeMap::new();
    let mut by_service = BTreeMap::new();
    let mut by_type = BTreeMap::new();
    let (mut mitigations, mut cadence) = (Share::default(), Share::default());
    for f in incidents {
        *by_severity.entry(f.severity.clone()).or_insert(0) += 1;
        *by_type.entry(f.incident_type.clone()).or_insert(0) += 1;
        for s in &f.services {
            *by_service.entry(s.clone()).or_insert(0) += 1;
        }
        mitigations.of += f.actions;
        mitigations.counted += f.actions.saturating_sub(f.without_finding);
        cadence.of += f.cadence_kept + f.cadence_missed;
        cadence.counted += f.cadence_kept;
    }
    let decided = items.iter().filter(|s| **s != ActionState::WontDo);
    let action_items_done = Share {
        of: count(decided.clone().count()),
        counted: count(decided.filter(|s| **s == ActionState::Done).count()),
    };
    ResponseMetrics {
        since,
        until,
        incidents: count(incidents.len()),
        durations,
        by_severity,
        by_service,
        by_type,
        mitigations_on_finding: mitigations,
        cadence_kept: cadence,
        action_items_done,
        weeks: weeks(since, until, incidents),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

const WEEK: SignedDuration = SignedDuration::from_hours(24 * 7);

/// The period in weeks from `since` (the last one possibly shorter).
fn weeks(since: Timestamp, until: Timestamp, incidents: &[IncidentFigures]) -> Vec<Week> {
    let mut out = Vec::new();
    let mut starts = since;
    while starts < until {
        let ends = (starts + WEEK).min(until);
        let within: Vec<&IncidentFigures> = incidents
            .iter()
            .filter(|f| f.declared_at >= starts && f.declared_at < ends)
            .collect();
        let resolve = within
            .iter()
            .filter_map(|f| f.durations.iter().find(|(n, _)| *n == "time_to_resolve")?.1)
            .collect();
        out.push(Week {
            starts,
            incidents: count(within.len()),
            median_time_to_resolve: Distribution::of(resolve).median,
        });
        starts = ends;
    }
    out
}

/// The longest period one request reads.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// The period when none is given.
pub const DEFAULT_PERIOD_DAYS: i64 = 90;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_by_nearest_rank() {
        let d = Distribution::of(vec![600, 60, 300, 120, 3600]);
        assert_eq!(d.count, 5);
        assert_eq!(d.median, Some(300));
        assert_eq!(d.p90, Some(3600));
        let d = Distribution::of((1..=10).collect());
        assert_eq!((d.median, d.p90), (Some(5), Some(9)));
        let d = Distribution::of(vec![42]);
        assert_eq!((d.median, d.p90), (Some(42), Some(42)));
        assert_eq!(Distribution::of(Vec::new()), Distribution::default());
    }

    fn figures(day: i64, severity: &str, resolve: Option<i64>) -> IncidentFigures {
        let base: Timestamp = "2026-03-02T00:00:00Z".parse().expect("time");
        IncidentFigures {
            declared_at: base + SignedDuration::from_hours(24 * day),
            severity: severity.into(),
            incident_type: "outage".into(),
            services: vec!["checkout".into()],
            durations: DURATIONS
                .iter()
                .map(|(n, _)| (*n, (*n == "time_to_resolve").then_some(resolve).flatten()))
                .collect(),
            actions: 2,
            without_finding: 1,
            cadence_kept: 3,
            cadence_missed: 1,
        }
    }

    #[test]
    fn a_period_sums_up_by_severity_week_and_share() {
        let since: Timestamp = "2026-03-02T00:00:00Z".parse().expect("time");
        let until = since + SignedDuration::from_hours(24 * 10);
        let incidents = [
            figures(0, "SEV1", Some(3600)),
            figures(1, "SEV2", Some(600)),
            figures(8, "SEV2", None),
        ];
        let items = [
            ActionState::Done,
            ActionState::Open,
            ActionState::WontDo,
            ActionState::Done,
        ];
        let m = summarize(since, until, &incidents, &items);
        assert_eq!(m.incidents, 3);
        assert_eq!(m.by_severity["SEV2"], 2);
        assert_eq!(m.by_service["checkout"], 3);
        let resolve = m
            .durations
            .iter()
            .find(|(n, _)| *n == "time_to_resolve")
            .expect("a distribution")
            .1;
        assert_eq!(
            resolve,
            Distribution {
                count: 2,
                median: Some(600),
                p90: Some(3600)
            }
        );
        assert_eq!(m.mitigations_on_finding, Share { counted: 3, of: 6 });
        assert_eq!(m.cadence_kept, Share { counted: 9, of: 12 });
        assert_eq!(m.action_items_done, Share { counted: 2, of: 3 });
        assert_eq!(m.weeks.len(), 2);
        assert_eq!(
            (m.weeks[0].incidents, m.weeks[0].median_time_to_resolve),
            (2, Some(600))
        );
        assert_eq!(
            (m.weeks[1].incidents, m.weeks[1].median_time_to_resolve),
            (1, None)
        );
        assert_eq!(Share::default().ratio(), None);
    }
}
