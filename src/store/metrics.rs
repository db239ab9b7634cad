//! What response metrics read: the incidents declared in a period that a reader may see
//! (optionally of one service, or of the services one team owns), and their action items'
//! states. Each incident's figures are then read as its review reads them.

use jiff::Timestamp;

use super::db::{Conditions, args, not_drill};
use super::{Result, Store, ms};
use crate::domain::access::Actor;
use crate::domain::action_items::ActionState;

/// Which incidents a period's metrics count.
#[derive(Debug, Clone, Default)]
pub struct PeriodFilter {
    pub service: Option<String>,
    pub team: Option<String>,
}

impl Store {
    /// The ids of incidents declared in `since..until` that `viewer` may see (`None`: only
    /// those anyone may, for the exposition without a reader), oldest first.
    pub async fn incidents_declared(
        &self,
        viewer: Option<&Actor>,
        since: Timestamp,
        until: Timestamp,
        filter: &PeriodFilter,
    ) -> Result<Vec<i64>> {
        let mut c = Conditions::default();
        let (from, to) = (c.bind(ms(since)), c.bind(ms(until)));
        c.push(format!("i.declared_at >= {from} AND i.declared_at < {to}"));
        // Drills are practice: they count in no figure.
        c.push(not_drill!());
        if let Some(service) = &filter.service {
            let p = c.bind(service);
            c.push(format!(
                "EXISTS (SELECT 1 FROM incident_services x JOIN services s ON s.id = x.service_id \
                 WHERE x.incident_id = i.id AND s.name = {p})"
            ));
        }
        if let Some(team) = &filter.team {
            let p = c.bind(team);
            c.push(format!(
                "EXISTS (SELECT 1 FROM incident_services x JOIN services s ON s.id = x.service_id \
                 JOIN teams t ON t.id = s.team_id WHERE x.incident_id = i.id AND t.name = {p})"
            ));
        }
        c.visible_to(viewer);
        let sql = format!(
            "SELECT i.id FROM incidents i{} ORDER BY i.declared_at, i.id",
            c.where_clause()
        );
        let rows = self.fetch_all(&sql, &c.values).await?;
        rows.iter().map(|r| r.get("id")).collect()
    }

    /// The states of an incident's action items.
    pub async fn action_item_states(&self, incident_id: i64) -> Result<Vec<ActionState>> {
        let rows = self
            .fetch_all(
                "SELECT state FROM action_items WHERE incident_id = $1",
                args![incident_id],
            )
            .await?;
        rows.iter().map(|r| r.parsed("state")).collect()
    }
}
