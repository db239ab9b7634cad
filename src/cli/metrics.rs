//! `aplomb metrics`: a period's response metrics, as the metrics page shows them.

use reqwest::Method;
use serde_json::Value;

use super::{CliError, Client, query, table, text};
use crate::domain::review;

/// Which period and incidents.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// Start of the period (RFC 3339); by default 90 days before --until.
    #[arg(long)]
    since: Option<String>,
    /// End of the period (RFC 3339, not included); by default now.
    #[arg(long)]
    until: Option<String>,
    /// Only this service's incidents.
    #[arg(long)]
    service: Option<String>,
    /// Only incidents of the services this team owns.
    #[arg(long)]
    team: Option<String>,
}

impl Client {
    pub async fn metrics(&self, args: MetricsArgs) -> Result<(), CliError> {
        let query = query([
            ("since", args.since),
            ("until", args.until),
            ("service", args.service),
            ("team", args.team),
        ]);
        let path = format!("/metrics/response?{query}");
        let m = self.call(Method::GET, &path, None).await?;
        self.print(&m, figures);
        Ok(())
    }
}

fn figures(m: &Value) -> String {
    let seconds = |v: &Value| review::duration_text(v.as_i64());
    let rows: Vec<Vec<String>> = review::DURATIONS
        .iter()
        .map(|(name, _)| {
            let d = &m["durations"][name];
            vec![
                review::duration_name(name),
                text(&d["count"]),
                seconds(&d["median_seconds"]),
                seconds(&d["p90_seconds"]),
            ]
        })
        .collect();
    let mut out = format!(
        "{} incident(s) declared from {} to {}\n\n",
        text(&m["incidents"]),
        text(&m["since"]),
        text(&m["until"])
    );
    out.push_str(&table(&["DURATION", "INCIDENTS", "MEDIAN", "P90"], &rows));
    out.push('\n');
    for (label, key) in [
        ("mitigations on a finding", "mitigations_on_finding"),
        ("cadence kept", "cadence_kept"),
        ("action items done", "action_items_done"),
    ] {
        let s = &m[key];
        out.push_str(&format!(
            "{label}: {} of {}\n",
            text(&s["counted"]),
            text(&s["of"])
        ));
    }
    out
}
