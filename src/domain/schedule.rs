//! On-call schedules: rotation layers and overrides, and who is on call at a given instant.
//!
//! Hand-offs of day- and week-long shifts happen at the same local wall-clock time in the layer's
//! time zone, so a rotation stays at "09:00 Monday" across daylight-saving changes; hour-long
//! shifts are exact durations.

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};
use serde::{Deserialize, Serialize};

use super::FieldError;

/// A user id; schedules name responders by their user.
pub type ResponderId = i64;

/// The length of one shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftLength {
    Hours(u32),
    Days(u32),
    Weeks(u32),
}

impl ShiftLength {
    pub fn parse(field: &'static str, count: i64, unit: &str) -> Result<Self, FieldError> {
        let count = u32::try_from(count)
            .ok()
            .filter(|c| (1..=1000).contains(c))
            .ok_or_else(|| FieldError::new(field, "must be between 1 and 1000"))?;
        match unit {
            "hours" | "hour" => Ok(Self::Hours(count)),
            "days" | "day" => Ok(Self::Days(count)),
            "weeks" | "week" => Ok(Self::Weeks(count)),
            _ => Err(FieldError::new(field, "unit must be hours, days or weeks")),
        }
    }

    /// `k` shifts as a span: calendar days/weeks, exact hours.
    fn times(self, k: i64) -> Option<Span> {
        let span = match self {
            Self::Hours(h) => Span::new().try_hours(i64::from(h).checked_mul(k)?),
            Self::Days(d) => Span::new().try_days(i64::from(d).checked_mul(k)?),
            Self::Weeks(w) => Span::new().try_weeks(i64::from(w).checked_mul(k)?),
        };
        span.ok()
    }

    /// A nominal length in seconds, only to estimate which shift an instant falls in.
    fn nominal_secs(self) -> i64 {
        match self {
            Self::Hours(h) => i64::from(h) * 3600,
            Self::Days(d) => i64::from(d) * 86_400,
            Self::Weeks(w) => i64::from(w) * 7 * 86_400,
        }
    }
}

/// One rotation: participants take turns, one shift each, starting at `start`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub name: String,
    /// The first hand-off, in the layer's time zone.
    pub start: Zoned,
    pub shift: ShiftLength,
    pub participants: Vec<ResponderId>,
}

impl Layer {
    pub fn new(
        name: String,
        start: Zoned,
        shift: ShiftLength,
        participants: Vec<ResponderId>,
    ) -> Result<Self, FieldError> {
        if participants.is_empty() {
            return Err(FieldError::new(
                "participants",
                "a rotation needs at least one participant",
            ));
        }
        Ok(Self {
            name,
            start,
            shift,
            participants,
        })
    }

    /// The instant of the `k`-th hand-off (k = 0 is the start).
    fn handoff(&self, k: i64) -> Option<Timestamp> {
        let span = self.shift.times(k)?;
        self.start.checked_add(span).ok().map(|z| z.timestamp())
    }

    /// Which shift `t` falls in, counting from 0; `None` before the rotation starts.
    fn shift_index(&self, t: Timestamp) -> Option<i64> {
        let start = self.start.timestamp();
        if t < start {
            return None;
        }
        let elapsed = t.duration_since(start).as_secs();
        let mut k = elapsed / self.shift.nominal_secs();
        // The estimate is off by at most one around daylight-saving changes; correct it.
        while self.handoff(k + 1).is_some_and(|h| h <= t) {
            k += 1;
        }
        while k > 0 && self.handoff(k).is_none_or(|h| h > t) {
            k -= 1;
        }
        Some(k)
    }

    pub fn on_call_at(&self, t: Timestamp) -> Option<ResponderId> {
        let k = self.shift_index(t)?;
        let n = i64::try_from(self.participants.len()).ok()?;
        self.participants
            .get(usize::try_from(k.rem_euclid(n)).ok()?)
            .copied()
    }

    /// Hand-off instants within `[from, to)`.
    fn handoffs_between(&self, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        let mut k = self.shift_index(from).unwrap_or(0);
        let mut out = Vec::new();
        while let Some(h) = self.handoff(k) {
            if h >= to {
                break;
            }
            if h >= from {
                out.push(h);
            }
            k += 1;
        }
        out
    }
}

/// "I take Tuesday night": a responder covers a window, whatever the rotations say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub responder: ResponderId,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A stretch of time with one responder on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub responder: ResponderId,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Layers (later ones take precedence where they have someone) and overrides (beat all layers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schedule {
    pub layers: Vec<Layer>,
    pub overrides: Vec<Override>,
}

impl Schedule {
    /// Adds an override, refusing an empty window or one that overlaps another override.
    pub fn add_override(&mut self, new: Override) -> Result<(), FieldError> {
        if new.end <= new.start {
            return Err(FieldError::new("end", "must be after start"));
        }
        if let Some(clash) = self
            .overrides
            .iter()
            .find(|o| o.start < new.end && new.start < o.end)
        {
            return Err(FieldError::new(
                "start",
                format!(
                    "overlaps the override from {} to {}",
                    clash.start, clash.end
                ),
            ));
        }
        self.overrides.push(new);
        Ok(())
    }

    pub fn on_call_at(&self, t: Timestamp) -> Option<ResponderId> {
        if let Some(o) = self.overrides.iter().find(|o| o.start <= t && t < o.end) {
            return Some(o.responder);
        }
        self.layers
            .iter()
            .rev()
            .find_map(|layer| layer.on_call_at(t))
    }

    /// When the shift of whoever is on call at `at` began: the last change of hands at or
    /// before `at`, looked for up to about a year back. A schedule that has not changed hands
    /// for that long gets the start of a year-long period counted from the Unix epoch instead,
    /// so the answer still does not move with `at`: calendar feeds build event ids from it.
    pub fn shift_began(&self, at: Timestamp) -> Option<Timestamp> {
        let responder = self.on_call_at(at)?;
        const PERIOD_MS: i64 = 366 * 24 * 3600 * 1000;
        let back = at.as_millisecond() - PERIOD_MS;
        let lower = Timestamp::from_millisecond(back - back.rem_euclid(PERIOD_MS)).ok()?;
        Some(match self.shifts(lower, at).last() {
            Some(last) if last.responder == responder && last.end == at => last.start,
            _ => at,
        })
    }

    /// The final schedule over `[from, to)`: consecutive shifts, merged where the responder
    /// stays the same; stretches with nobody on call are left out.
    pub fn shifts(&self, from: Timestamp, to: Timestamp) -> Vec<Shift> {
        let mut cuts = vec![from, to];
        for layer in &self.layers {
            cuts.extend(layer.handoffs_between(from, to));
        }
        for o in &self.overrides {
            cuts.extend(
                [o.start, o.end]
                    .into_iter()
                    .filter(|t| from < *t && *t < to),
            );
        }
        cuts.sort();
        cuts.dedup();
        let mut shifts: Vec<Shift> = Vec::new();
        for pair in cuts.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let Some(responder) = self.on_call_at(start) else {
                continue;
            };
            match shifts.last_mut() {
                Some(last) if last.responder == responder && last.end == start => last.end = end,
                _ => shifts.push(Shift {
                    responder,
                    start,
                    end,
                }),
            }
        }
        shifts
    }
}

/// A layer as stored and exchanged: a local start in the schedule's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSpec {
    pub name: String,
    /// Local date-time of the first hand-off, e.g. `2026-03-02T09:00`.
    pub start: String,
    pub shift: ShiftLength,
    pub participants: Vec<ResponderId>,
}

impl Schedule {
    /// Builds a schedule from its stored parts, validating each layer.
    pub fn from_specs(
        time_zone: &str,
        specs: &[LayerSpec],
        overrides: Vec<Override>,
    ) -> Result<Self, FieldError> {
        let tz = parse_time_zone("time_zone", time_zone)?;
        let layers = specs
            .iter()
            .map(|spec| {
                let start = parse_local_start("layers.start", &spec.start, &tz)?;
                Layer::new(
                    spec.name.clone(),
                    start,
                    spec.shift,
                    spec.participants.clone(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { layers, overrides })
    }
}

/// Looks up an IANA time zone name, naming the field when it is unknown.
pub fn parse_time_zone(field: &'static str, name: &str) -> Result<TimeZone, FieldError> {
    TimeZone::get(name.trim())
        .map_err(|_| FieldError::new(field, format!("unknown time zone {:?}", name.trim())))
}

/// Parses a local date-time (`2026-03-02T09:00`) in `tz`.
pub fn parse_local_start(
    field: &'static str,
    raw: &str,
    tz: &TimeZone,
) -> Result<Zoned, FieldError> {
    let civil: jiff::civil::DateTime = raw
        .trim()
        .parse()
        .map_err(|_| FieldError::new(field, "must be a local date-time like 2026-03-02T09:00"))?;
    civil
        .to_zoned(tz.clone())
        .map_err(|e| FieldError::new(field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoned(s: &str, tz: &str) -> Zoned {
        parse_local_start("start", s, &parse_time_zone("tz", tz).unwrap()).unwrap()
    }

    fn at(s: &str, tz: &str) -> Timestamp {
        zoned(s, tz).timestamp()
    }

    fn weekly(start: &str, tz: &str, people: &[i64]) -> Layer {
        Layer::new(
            "primary".into(),
            zoned(start, tz),
            ShiftLength::Weeks(1),
            people.to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn the_shift_on_call_now_began_at_its_hand_off_whenever_it_is_asked() {
        let schedule = Schedule {
            layers: vec![weekly("2026-01-05T09:00", "UTC", &[1, 2])],
            overrides: vec![],
        };
        for now in ["2026-01-12T09:00", "2026-01-13T17:31", "2026-01-19T08:59"] {
            assert_eq!(
                schedule.shift_began(at(now, "UTC")),
                Some(at("2026-01-12T09:00", "UTC")),
                "{now}"
            );
        }
        // One responder forever: a fixed start, not one that follows the question.
        let alone = Schedule {
            layers: vec![weekly("2020-01-06T09:00", "UTC", &[1])],
            overrides: vec![],
        };
        let a = alone.shift_began(at("2026-01-13T17:31", "UTC"));
        assert_eq!(a, alone.shift_began(at("2026-01-14T02:00", "UTC")));
        assert!(a.is_some_and(|a| a <= at("2026-01-13T17:31", "UTC")));
    }

    #[test]
    fn participants_take_turns_and_wrap_around() {
        let layer = weekly("2026-01-05T09:00", "UTC", &[1, 2, 3]);
        assert_eq!(layer.on_call_at(at("2026-01-05T08:59", "UTC")), None);
        assert_eq!(layer.on_call_at(at("2026-01-05T09:00", "UTC")), Some(1));
        assert_eq!(layer.on_call_at(at("2026-01-12T08:59", "UTC")), Some(1));
        assert_eq!(layer.on_call_at(at("2026-01-12T09:00", "UTC")), Some(2));
        assert_eq!(layer.on_call_at(at("2026-01-26T09:00", "UTC")), Some(1));
    }

    #[test]
    fn daily_handoffs_keep_local_time_across_spring_forward_in_two_zones() {
        // Europe moves clocks forward on 2026-03-29, the US on 2026-03-08.
        for (tz, before, after) in [
            ("Europe/Berlin", "2026-03-28T09:00", "2026-03-30T09:00"),
            ("America/New_York", "2026-03-07T09:00", "2026-03-09T09:00"),
        ] {
            let layer = Layer::new(
                "daily".into(),
                zoned("2026-03-01T09:00", tz),
                ShiftLength::Days(1),
                vec![1, 2],
            )
            .unwrap();
            let handoffs = layer.handoffs_between(at(before, tz), at(after, tz));
            let local: Vec<String> = handoffs
                .iter()
                .map(|t| {
                    t.to_zoned(parse_time_zone("tz", tz).unwrap())
                        .strftime("%H:%M")
                        .to_string()
                })
                .collect();
            assert_eq!(local, vec!["09:00", "09:00"], "{tz}");
            // The day the clocks change is 23 hours long, and its shift with it.
            let gap = handoffs[1].duration_since(handoffs[0]).as_hours();
            assert_eq!(gap, 23, "{tz}");
            // One minute before the 09:00 hand-off is still the previous person.
            let last = *handoffs.last().unwrap();
            let before_last = last
                .checked_sub(jiff::SignedDuration::from_mins(1))
                .unwrap();
            assert_ne!(layer.on_call_at(before_last), layer.on_call_at(last));
        }
    }

    #[test]
    fn weekly_handoffs_keep_local_time_across_fall_back() {
        // Berlin leaves summer time on 2026-10-25: the week holding it is 169 hours long.
        let layer = weekly("2026-10-19T09:00", "Europe/Berlin", &[1, 2]);
        let h = layer.handoffs_between(
            at("2026-10-19T09:00", "Europe/Berlin"),
            at("2026-11-03T00:00", "Europe/Berlin"),
        );
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].duration_since(h[0]).as_hours(), 169);
        assert_eq!(
            layer.on_call_at(at("2026-10-26T08:59", "Europe/Berlin")),
            Some(1)
        );
        assert_eq!(
            layer.on_call_at(at("2026-10-26T09:00", "Europe/Berlin")),
            Some(2)
        );
    }

    #[test]
    fn hourly_shifts_are_exact_durations() {
        let layer = Layer::new(
            "follow".into(),
            zoned("2026-03-29T00:00", "Europe/Berlin"),
            ShiftLength::Hours(12),
            vec![1, 2],
        )
        .unwrap();
        // 12 exact hours after local midnight on the short day is 13:00 local.
        assert_eq!(
            layer.on_call_at(at("2026-03-29T12:59", "Europe/Berlin")),
            Some(1)
        );
        assert_eq!(
            layer.on_call_at(at("2026-03-29T13:00", "Europe/Berlin")),
            Some(2)
        );
    }

    #[test]
    fn an_override_beats_every_layer_and_overlaps_are_refused() {
        let mut schedule = Schedule {
            layers: vec![weekly("2026-01-05T09:00", "UTC", &[1, 2])],
            overrides: vec![],
        };
        let tuesday_night = Override {
            responder: 7,
            start: at("2026-01-06T18:00", "UTC"),
            end: at("2026-01-07T08:00", "UTC"),
        };
        schedule.add_override(tuesday_night.clone()).unwrap();
        assert_eq!(schedule.on_call_at(at("2026-01-06T17:59", "UTC")), Some(1));
        assert_eq!(schedule.on_call_at(at("2026-01-06T18:00", "UTC")), Some(7));
        assert_eq!(schedule.on_call_at(at("2026-01-07T08:00", "UTC")), Some(1));
        let overlapping = Override {
            start: at("2026-01-07T07:00", "UTC"),
            end: at("2026-01-07T09:00", "UTC"),
            ..tuesday_night.clone()
        };
        assert_eq!(
            schedule.add_override(overlapping).unwrap_err().field,
            "start"
        );
        let backwards = Override {
            start: tuesday_night.end,
            end: tuesday_night.start,
            ..tuesday_night
        };
        assert_eq!(schedule.add_override(backwards).unwrap_err().field, "end");
    }

    #[test]
    fn a_higher_layer_takes_precedence_where_it_has_someone() {
        let base = weekly("2026-01-05T09:00", "UTC", &[1]);
        let weekend = Layer::new(
            "weekend".into(),
            zoned("2026-01-10T00:00", "UTC"),
            ShiftLength::Days(2),
            vec![9],
        )
        .unwrap();
        let schedule = Schedule {
            layers: vec![base, weekend],
            overrides: vec![],
        };
        assert_eq!(schedule.on_call_at(at("2026-01-09T12:00", "UTC")), Some(1));
        assert_eq!(schedule.on_call_at(at("2026-01-10T12:00", "UTC")), Some(9));
    }

    #[test]
    fn final_shifts_merge_and_include_overrides() {
        let mut schedule = Schedule {
            layers: vec![
                Layer::new(
                    "daily".into(),
                    zoned("2026-01-05T09:00", "UTC"),
                    ShiftLength::Days(1),
                    vec![1, 1, 2],
                )
                .unwrap(),
            ],
            overrides: vec![],
        };
        schedule
            .add_override(Override {
                responder: 5,
                start: at("2026-01-05T12:00", "UTC"),
                end: at("2026-01-05T13:00", "UTC"),
            })
            .unwrap();
        let shifts = schedule.shifts(at("2026-01-05T00:00", "UTC"), at("2026-01-08T09:00", "UTC"));
        let summary: Vec<(i64, String, String)> = shifts
            .iter()
            .map(|s| {
                (
                    s.responder,
                    s.start.strftime("%dT%H").to_string(),
                    s.end.strftime("%dT%H").to_string(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, "05T09".into(), "05T12".into()),
                (5, "05T12".into(), "05T13".into()),
                (1, "05T13".into(), "07T09".into()),
                (2, "07T09".into(), "08T09".into()),
            ]
        );
    }

    #[test]
    fn bad_definitions_are_refused_with_the_field() {
        assert_eq!(
            parse_time_zone("time_zone", "Mars/Olympus")
                .unwrap_err()
                .field,
            "time_zone"
        );
        assert_eq!(
            ShiftLength::parse("shift", 0, "days").unwrap_err().field,
            "shift"
        );
        assert!(ShiftLength::parse("shift", 2, "fortnights").is_err());
        assert!(
            Layer::new(
                "empty".into(),
                zoned("2026-01-05T09:00", "UTC"),
                ShiftLength::Days(1),
                vec![]
            )
            .is_err()
        );
        let utc = parse_time_zone("tz", "UTC").unwrap();
        assert_eq!(
            parse_local_start("start", "next tuesday", &utc)
                .unwrap_err()
                .field,
            "start"
        );
    }
}
