//! The response metrics page: a period's key durations (median and 90th percentile) and its
//! weeks drawn server-side as SVG, the counts and shares beside them, each figure's definition
//! named on the page.

use std::fmt::Write;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::{Times, fail, render};
use crate::app::{AppError, MetricsQuery};
use crate::domain::access::Actor;
use crate::domain::metrics::{self, ResponseMetrics, Share};
use crate::domain::review::{self, DURATIONS};
use crate::domain::timeline::human_duration;
use crate::http::AppState;
use crate::markup::escape;

pub fn router() -> Router<AppState> {
    Router::new().route("/response-metrics", get(page))
}

#[derive(Template)]
#[template(path = "metrics.html")]
struct MetricsPage {
    me: Actor,
    csrf: String,
    error: Option<String>,
    zone: String,
    since: String,
    until: String,
    service: String,
    team: String,
    /// "2026-09-08 to 2026-12-07".
    period: String,
    incidents: u32,
    /// (key, name, count, median, p90, definition).
    durations: Vec<(&'static str, String, usize, String, String, &'static str)>,
    durations_chart: String,
    weeks_chart: String,
    /// (figure, counted of whole, definition).
    shares: Vec<(&'static str, String, &'static str)>,
    /// (heading, [(name, count)]).
    counts: Vec<(&'static str, Vec<(String, u32)>)>,
    /// The definitions of the median, the p90 and what counts as an incident.
    terms: Vec<(&'static str, &'static str)>,
}

#[derive(Deserialize)]
struct PageQuery {
    error: Option<String>,
    since: Option<String>,
    until: Option<String>,
    service: Option<String>,
    team: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    session: super::Session,
) -> Response {
    let loaded = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        // Dates from the form's date fields, as days in the reader's zone.
        let day = |field: &'static str, raw: &Option<String>| -> Result<Option<String>, AppError> {
            match raw.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(raw) => Ok(Some(times.instant_typed(field, &format!("{raw}T00:00"))?)),
            }
        };
        let asked = MetricsQuery {
            since: day("since", &query.since)?,
            until: day("until", &query.until)?,
            service: query.service.clone(),
            team: query.team.clone(),
        };
        let m = state.response_metrics(&session.actor, &asked).await?;
        Ok::<_, AppError>((times, m))
    }
    .await;
    let (times, m) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return fail(e, "/response-metrics"),
    };
    let date = |t: jiff::Timestamp| {
        t.to_zoned(times.zone.clone())
            .strftime("%Y-%m-%d")
            .to_string()
    };
    let definition = |key: &str| {
        DURATIONS
            .iter()
            .chain(metrics::DEFINITIONS.iter())
            .find(|(k, _)| *k == key)
            .map_or("", |(_, d)| *d)
    };
    let shares = [
        (
            "Mitigations resting on a finding",
            "mitigations_on_finding",
            m.mitigations_on_finding,
        ),
        ("Cadence kept", "cadence_kept", m.cadence_kept),
        (
            "Action items done",
            "action_items_done",
            m.action_items_done,
        ),
    ]
    .into_iter()
    .map(|(label, key, share)| (label, share_text(share), definition(key)))
    .collect();
    render(&MetricsPage {
        error: query.error,
        zone: times.zone_note(),
        since: query.since.unwrap_or_default(),
        until: query.until.unwrap_or_default(),
        service: query.service.unwrap_or_default(),
        team: query.team.unwrap_or_default(),
        period: format!("{} to {}", date(m.since), date(m.until)),
        incidents: m.incidents,
        durations: m
            .durations
            .iter()
            .map(|(key, d)| {
                let text = |s: Option<i64>| review::duration_text(s);
                (
                    *key,
                    review::duration_name(key),
                    d.count,
                    text(d.median),
                    text(d.p90),
                    definition(key),
                )
            })
            .collect(),
        durations_chart: durations_chart(&m),
        weeks_chart: weeks_chart(&m, &date),
        shares,
        counts: vec![
            ("By severity", m.by_severity.clone().into_iter().collect()),
            ("By service", m.by_service.clone().into_iter().collect()),
            ("By type", m.by_type.clone().into_iter().collect()),
        ],
        terms: ["incidents", "median", "p90"]
            .into_iter()
            .map(|k| (k, definition(k)))
            .collect(),
        me: session.actor,
        csrf: session.csrf,
    })
}

/// "3 of 4 (75%)", or "none" of nothing.
fn share_text(share: Share) -> String {
    match share.ratio() {
        Some(r) => format!("{} of {} ({:.0}%)", share.counted, share.of, r * 100.0),
        None => "none in the period".into(),
    }
}

const BAR_HEIGHT: usize = 14;
const LABEL_WIDTH: usize = 170;
const PLOT_WIDTH: usize = 420;

/// Each duration as two bars, its median and its 90th percentile, on one scale.
fn durations_chart(m: &ResponseMetrics) -> String {
    let longest = m
        .durations
        .iter()
        .filter_map(|(_, d)| d.p90)
        .max()
        .unwrap_or(0)
        .max(1);
    let row = 2 * BAR_HEIGHT + 10;
    let height = m.durations.len() * row + 24;
    let width = LABEL_WIDTH + PLOT_WIDTH + 90;
    let mut svg = format!(
        "<svg id=\"durations-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"Median and 90th percentile of each key duration\">"
    );
    for (i, (key, d)) in m.durations.iter().enumerate() {
        let y = i * row;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + BAR_HEIGHT + 4,
            escape(&review::duration_name(key))
        );
        for (k, (value, fill, what)) in [(d.median, "#1f4e79", "median"), (d.p90, "#8fb3d9", "p90")]
            .into_iter()
            .enumerate()
        {
            let Some(seconds) = value else { continue };
            let length = bar(seconds, longest, PLOT_WIDTH);
            let top = y + k * BAR_HEIGHT;
            let text = human_duration(seconds);
            let _ = write!(
                svg,
                "<rect class=\"bar-{what}\" x=\"{LABEL_WIDTH}\" y=\"{top}\" width=\"{length}\" height=\"{}\" fill=\"{fill}\">\
                 <title>{} {what}: {text}</title></rect>\
                 <text x=\"{}\" y=\"{}\" font-size=\"11\">{text}</text>",
                BAR_HEIGHT - 2,
                escape(&review::duration_name(key)),
                LABEL_WIDTH + length + 4,
                top + BAR_HEIGHT - 3,
            );
        }
    }
    let _ = write!(
        svg,
        "<rect x=\"{LABEL_WIDTH}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#1f4e79\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\">median</text>\
         <rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#8fb3d9\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\">90th percentile</text></svg>",
        height - 14,
        LABEL_WIDTH + 14,
        height - 5,
        LABEL_WIDTH + 80,
        height - 14,
        LABEL_WIDTH + 94,
        height - 5,
    );
    svg
}

/// A bar's length for `value` on a scale where `longest` fills `width` (at least 1).
fn bar(value: i64, longest: i64, width: usize) -> usize {
    let share = value.max(0) as f64 / longest.max(1) as f64;
    ((share * width as f64).round() as usize).max(1)
}

/// Incidents declared each week, as columns, each titled with its median time to resolve.
fn weeks_chart(m: &ResponseMetrics, date: &dyn Fn(jiff::Timestamp) -> String) -> String {
    const COLUMN: usize = 22;
    const PLOT: usize = 120;
    let most = m
        .weeks
        .iter()
        .map(|w| w.incidents)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = m.weeks.len() * COLUMN + 40;
    let height = PLOT + 40;
    let mut svg = format!(
        "<svg id=\"weeks-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"Incidents declared each week\">\
         <text x=\"0\" y=\"12\" font-size=\"11\">{most}</text>\
         <line x1=\"30\" y1=\"{PLOT}\" x2=\"{width}\" y2=\"{PLOT}\" stroke=\"#999\"/>"
    );
    for (i, w) in m.weeks.iter().enumerate() {
        let x = 30 + i * COLUMN;
        let tall = bar(i64::from(w.incidents), i64::from(most), PLOT - 10);
        let tall = if w.incidents == 0 { 0 } else { tall };
        let resolve = w.median_time_to_resolve.map_or_else(
            || "none resolved".to_string(),
            |s| format!("median time to resolve {}", human_duration(s)),
        );
        let _ = write!(
            svg,
            "<rect class=\"week\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{tall}\" fill=\"#1f4e79\">\
             <title>week of {}: {} incident(s), {resolve}</title></rect>",
            PLOT - tall,
            COLUMN - 4,
            date(w.starts),
            w.incidents,
        );
        if i % 4 == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x}\" y=\"{}\" font-size=\"10\">{}</text>",
                PLOT + 14,
                &date(w.starts)[5..]
            );
        }
    }
    svg.push_str("</svg>");
    svg
}
