//! The status page and its incident history pages (askama templates), the 90-day uptime bars
//! and the status badges (SVG drawn here, from the stored status history only).

use std::fmt::Write;

use askama::Template;

use crate::app::{ComponentState, StatusSnapshot};
use crate::config::StatusPageBrand;
use crate::domain::status::{ComponentStatus, Day, Indicator, PublicIncident};
use crate::markup::{escape, human_time};
use crate::store::MaintenanceRecord;

pub(super) const CSS: &str = include_str!("../../../static/status.css");

pub fn status_colour(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Operational => "#2e9e57",
        ComponentStatus::UnderMaintenance => "#3a7bd5",
        ComponentStatus::DegradedPerformance => "#c99300",
        ComponentStatus::PartialOutage => "#e06c0c",
        ComponentStatus::MajorOutage => "#d13a2f",
    }
}

pub fn indicator_colour(indicator: Indicator) -> &'static str {
    match indicator {
        Indicator::None => "#2e9e57",
        Indicator::Minor => "#c99300",
        Indicator::Major => "#e06c0c",
        Indicator::Critical => "#d13a2f",
    }
}

struct UpdateView {
    phase: &'static str,
    text: String,
    at: String,
    iso: String,
    corrected: bool,
    /// (component name, status label, status).
    components: Vec<(String, &'static str, &'static str)>,
}

struct IncidentView {
    id: i64,
    title: String,
    impact: &'static str,
    phase: &'static str,
    declared: String,
    updates: Vec<UpdateView>,
}

impl IncidentView {
    fn new(s: &StatusSnapshot, i: &PublicIncident) -> Self {
        Self {
            id: i.id,
            title: i.title.clone(),
            impact: Indicator::of_severity(i.severity).as_str(),
            phase: i.phase().label(),
            declared: human_time(i.declared_at),
            updates: i
                .story()
                .iter()
                .map(|step| UpdateView {
                    phase: step.phase.label(),
                    text: step.update.text.clone(),
                    at: human_time(step.update.published_at),
                    iso: step.update.published_at.to_string(),
                    corrected: step.update.corrected_at.is_some(),
                    components: step
                        .changed
                        .iter()
                        .filter_map(|(id, _, new)| {
                            let c = s.component(*id)?;
                            Some((c.record.name.clone(), new.label(), new.as_str()))
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

struct MaintenanceView {
    id: i64,
    title: String,
    status: &'static str,
    label: &'static str,
    from: String,
    from_iso: String,
    until: String,
    until_iso: String,
    description: String,
    components: Vec<String>,
}

impl MaintenanceView {
    fn new(m: &MaintenanceRecord) -> Self {
        Self {
            id: m.id,
            title: m.title.clone(),
            status: m.status.as_str(),
            label: m.status.label(),
            from: human_time(m.scheduled_for),
            from_iso: m.scheduled_for.to_string(),
            until: human_time(m.scheduled_until),
            until_iso: m.scheduled_until.to_string(),
            description: m.description.clone(),
            components: m.components.iter().map(|(_, name)| name.clone()).collect(),
        }
    }
}

struct ComponentView {
    id: i64,
    name: String,
    description: String,
    status: &'static str,
    label: &'static str,
    bars: String,
    uptime: String,
}

struct GroupView {
    name: Option<String>,
    components: Vec<ComponentView>,
}

#[derive(Template)]
#[template(path = "status_page.html")]
struct StatusPageView<'a> {
    brand: &'a StatusPageBrand,
    css: &'static str,
    indicator: &'static str,
    description: &'static str,
    updated_iso: String,
    updated: String,
    open: Vec<IncidentView>,
    /// Under way first, then upcoming, soonest first.
    maintenances: Vec<MaintenanceView>,
    groups: Vec<GroupView>,
    past: Vec<IncidentView>,
}

#[derive(Template)]
#[template(path = "status_incident.html")]
struct IncidentPageView<'a> {
    brand: &'a StatusPageBrand,
    css: &'static str,
    incident: IncidentView,
}

#[derive(Template)]
#[template(path = "status_missing.html")]
struct MissingView<'a> {
    brand: &'a StatusPageBrand,
    css: &'static str,
}

fn render(t: &impl Template) -> String {
    t.render().unwrap_or_else(|e| {
        format!(
            "<!doctype html><p>The page could not be drawn: {}</p>",
            escape(&e.to_string())
        )
    })
}

pub fn status_page(s: &StatusSnapshot) -> String {
    let mut groups: Vec<GroupView> = Vec::new();
    for c in &s.components {
        let view = component_view(c);
        match groups
            .iter_mut()
            .find(|g| g.name.is_some() && g.name == c.record.group)
        {
            Some(group) => group.components.push(view),
            None => groups.push(GroupView {
                name: c.record.group.clone(),
                components: vec![view],
            }),
        }
    }
    render(&StatusPageView {
        brand: &s.brand,
        css: CSS,
        indicator: s.indicator.as_str(),
        description: s.indicator.description(),
        updated_iso: s.updated_at.to_string(),
        updated: human_time(s.updated_at),
        open: s
            .open_incidents()
            .map(|i| IncidentView::new(s, i))
            .collect(),
        maintenances: s
            .active_maintenances()
            .chain(s.upcoming_maintenances())
            .map(MaintenanceView::new)
            .collect(),
        groups,
        past: s
            .incidents
            .iter()
            .filter(|i| !i.is_open())
            .map(|i| IncidentView::new(s, i))
            .collect(),
    })
}

pub fn incident_page(s: &StatusSnapshot, incident: &PublicIncident) -> String {
    render(&IncidentPageView {
        brand: &s.brand,
        css: CSS,
        incident: IncidentView::new(s, incident),
    })
}

pub fn not_found(s: &StatusSnapshot) -> String {
    render(&MissingView {
        brand: &s.brand,
        css: CSS,
    })
}

fn component_view(c: &ComponentState) -> ComponentView {
    ComponentView {
        id: c.record.id,
        name: c.record.name.clone(),
        description: c.record.description.clone(),
        status: c.status.as_str(),
        label: c.status.label(),
        bars: uptime_bars(c.record.id, &c.record.name, &c.days, c.uptime_percent),
        uptime: format!("{:.2}", c.uptime_percent),
    }
}

/// One bar a day, coloured by the worst status of the day. Days that read the same (status
/// and minutes of outage) are drawn as one run with one title, filled with a pattern of
/// one-day bars, so a quiet quarter costs a few elements rather than ninety: the page is
/// read in spikes, and its size is most of its cost.
fn uptime_bars(id: i64, name: &str, days: &[Day], percent: f64) -> String {
    const STEP: usize = 5;
    let width = (days.len() * STEP).saturating_sub(1);
    let mut svg = format!(
        "<svg class=\"bars\" viewBox=\"0 0 {width} 30\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"{}: {percent:.2}% uptime over {} days\" xmlns=\"http://www.w3.org/2000/svg\"><defs>",
        escape(name),
        days.len()
    );
    let looks: Vec<(&str, String)> = days.iter().map(day_looks).collect();
    let mut fills: Vec<&str> = looks.iter().map(|(fill, _)| *fill).collect();
    fills.sort_unstable();
    fills.dedup();
    for (k, fill) in fills.iter().enumerate() {
        let _ = write!(
            svg,
            "<pattern id=\"bars-{id}-{k}\" width=\"{STEP}\" height=\"30\" patternUnits=\"userSpaceOnUse\">\
             <rect width=\"4\" height=\"30\" rx=\"1\" fill=\"{fill}\"/></pattern>"
        );
    }
    svg.push_str("</defs>");
    let mut first = 0;
    while first < days.len() {
        let mut last = first;
        while last + 1 < days.len() && looks[last + 1] == looks[first] {
            last += 1;
        }
        let (fill, says) = &looks[first];
        let pattern = fills.iter().position(|f| f == fill).unwrap_or(0);
        let date = |d: &Day| d.start.strftime("%Y-%m-%d").to_string();
        let when = if first == last {
            date(&days[first])
        } else {
            format!("{} to {}", date(&days[first]), date(&days[last]))
        };
        let _ = write!(
            svg,
            "<rect x=\"{}\" width=\"{}\" height=\"30\" fill=\"url(#bars-{id}-{pattern})\"><title>{when}: {says}</title></rect>",
            first * STEP,
            (last - first + 1) * STEP - 1
        );
        first = last + 1;
    }
    svg.push_str("</svg>");
    svg
}

/// A day's bar colour and what its title says of it.
fn day_looks(day: &Day) -> (&'static str, String) {
    match day.worst {
        None => ("#d5d9de", "no data".to_string()),
        Some(worst) => {
            let minutes = day.outage.as_secs() / 60;
            let outage = if minutes > 0 {
                format!(", {minutes} min of outage")
            } else {
                String::new()
            };
            (status_colour(worst), format!("{}{outage}", worst.label()))
        }
    }
}

/// A flat two-part badge: what (`label`) and how it is (`message`).
pub fn badge(label: &str, message: &str, colour: &str) -> String {
    // Verdana 11px averages about 6.5px a character: near enough for a badge.
    let width = |text: &str| text.chars().count() * 13 / 2 + 12;
    let (lw, mw) = (width(label), width(message));
    let (label, message) = (escape(label), escape(message));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{label}: {message}\">\
         <title>{label}: {message}</title>\
         <rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{colour}\"/>\
         <g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\" text-anchor=\"middle\">\
         <text x=\"{lx}\" y=\"14\">{label}</text><text x=\"{mx}\" y=\"14\">{message}</text></g></svg>",
        total = lw + mw,
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};

    use super::*;

    #[test]
    fn days_that_read_the_same_are_one_run_with_one_title() {
        let start: Timestamp = "2026-09-07T00:00:00Z".parse().unwrap();
        let day = |n: i64, worst, outage_mins| Day {
            start: start + SignedDuration::from_hours(24 * n),
            worst,
            outage: SignedDuration::from_mins(outage_mins),
        };
        let mut days: Vec<Day> = (0..60).map(|n| day(n, None, 0)).collect();
        days.extend((60..88).map(|n| day(n, Some(ComponentStatus::Operational), 0)));
        days.push(day(88, Some(ComponentStatus::PartialOutage), 42));
        days.push(day(89, Some(ComponentStatus::Operational), 0));
        let svg = uptime_bars(7, "Checkout", &days, 99.97);
        assert_eq!(svg.matches("<title>").count(), 4, "{svg}");
        assert_eq!(svg.matches("<pattern ").count(), 3, "one per colour used");
        assert!(
            svg.contains("<title>2026-09-07 to 2026-11-05: no data</title>"),
            "{svg}"
        );
        assert!(svg.contains("<rect x=\"440\" width=\"4\" height=\"30\" fill=\"url(#bars-7-"));
        assert!(svg.contains("<title>2026-12-04: Partial outage, 42 min of outage</title>"));
        assert!(
            svg.contains("<rect x=\"445\" width=\"4\""),
            "the last day ends the bars"
        );
        assert!(svg.contains("aria-label=\"Checkout: 99.97% uptime over 90 days\""));
    }
}
