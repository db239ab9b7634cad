//! `aplomb serve --demo`: a small, realistic organisation with one ongoing incident, so a
//! newcomer sees a living system at once. Only an empty database (no incidents) is filled.

use crate::app::{Aplomb, DeclareInput, NewUser, PatchInput};
use crate::domain::access::Actor;

/// Every demo user's password; printed in the log when the demo is created.
pub const DEMO_PASSWORD: &str = "aplomb-demo";

const PEOPLE: &[(&str, &str, &str)] = &[
    ("alice", "Alice Moreau", "admin"),
    ("bob", "Bob Okafor", "responder"),
    ("carol", "Carol Lindqvist", "responder"),
    ("dan", "Dan Whitfield", "responder"),
    ("erin", "Erin Costa", "viewer"),
];

const SERVICES: &[(&str, &str, &str)] = &[
    ("checkout-api", "Takes orders and payments", "payments"),
    (
        "orders-db",
        "PostgreSQL cluster behind checkout and fulfilment",
        "database",
    ),
    (
        "edge-lb",
        "Public load balancers and TLS termination",
        "network",
    ),
    ("office-wifi", "Wireless network in the Lisbon office", "it"),
];

/// The demo's on-call setup, in the same format as `aplomb apply -f`.
const DEMO_ORG: &str = r#"
[[responders]]
username = "bob"
time_zone = "Europe/Lisbon"
skills = ["application"]

[[responders]]
username = "carol"
time_zone = "Europe/Stockholm"
skills = ["database"]

[[responders]]
username = "dan"
time_zone = "America/New_York"
skills = ["network", "security"]

[[teams]]
name = "payments"
domain = "application"
members = ["bob", "carol"]

[[teams]]
name = "network"
domain = "network"
members = ["dan"]

[[schedules]]
name = "payments-primary"
time_zone = "Europe/Lisbon"
layers = [{ name = "weekly", start = "2026-01-05T09:00", shift_count = 1, shift_unit = "weeks", participants = ["bob", "carol"] }]

[[schedules]]
name = "network"
time_zone = "America/New_York"
layers = [{ name = "daily", start = "2026-01-05T09:00", shift_count = 1, shift_unit = "days", participants = ["dan"] }]

[[escalation_policies]]
name = "payments"
levels = [
  { delay_minutes = 5, targets = [{ type = "schedule", name = "payments-primary" }] },
  { delay_minutes = 10, targets = [{ type = "team", name = "payments" }] },
]

[[escalation_policies]]
name = "network"
levels = [{ delay_minutes = 10, targets = [{ type = "schedule", name = "network" }] }]

[[services]]
name = "orders-db"
description = "PostgreSQL cluster behind checkout and fulfilment"
team = "payments"
escalation_policy = "payments"

[[services]]
name = "checkout-api"
description = "Takes orders and payments"
team = "payments"
escalation_policy = "payments"
tags = ["pci"]
depends_on = ["orders-db", "edge-lb"]

[[services]]
name = "edge-lb"
description = "Public load balancers and TLS termination"
team = "network"
escalation_policy = "network"

[[engagement_rules]]
name = "security incidents bring in the security on-call"
when = { incident_types = ["security"] }
engage = { type = "schedule", name = "network" }
engaged_as = "expert:security"
"#;

pub async fn seed(app: &Aplomb) -> anyhow::Result<()> {
    let system = Actor {
        id: 0,
        username: "demo".into(),
        display_name: "demo".into(),
        role: crate::domain::access::UserRole::Admin,
    };
    let any = app
        .list(
            &system,
            &crate::store::IncidentFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !any.items.is_empty() {
        tracing::info!("--demo: the database already has incidents; leaving it as it is");
        return Ok(());
    }
    let mut actors = Vec::new();
    for (username, name, role) in PEOPLE {
        let user = match app.store.user_by_username(username).await? {
            Some(existing) => existing,
            None => app
                .create_user(
                    &system,
                    NewUser {
                        username: username.to_string(),
                        display_name: Some(name.to_string()),
                        password: Some(DEMO_PASSWORD.into()),
                        role: role.to_string(),
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("demo user {username}: {e}"))?,
        };
        actors.push(user.actor());
    }
    for (name, description, team) in SERVICES {
        if let Err(e) = app.create_service(&system, name, description, team).await {
            tracing::debug!("demo service {name}: {e}");
        }
    }
    let org: crate::app::OrgDocument = toml::from_str(DEMO_ORG)?;
    app.apply(&system, org)
        .await
        .map_err(|e| anyhow::anyhow!("demo on-call setup: {e}"))?;
    let (bob, carol, dan) = (&actors[1], &actors[2], &actors[3]);
    let fail = |e: crate::app::AppError| anyhow::anyhow!("demo incident: {e}");
    // The story's times are minutes before now, whenever the demo starts.
    let minutes_ago = |m: i64| {
        (app.now() - jiff::SignedDuration::from_mins(m))
            .strftime("%H:%M")
            .to_string()
    };
    let (view, _) = app
        .declare(
            bob,
            DeclareInput {
                title: "Checkout errors for a share of card payments".into(),
                summary: Some(format!(
                    "About 8% of checkout requests return 502 since {} UTC. Card payments only; \
                     other payment methods look normal.",
                    minutes_ago(20)
                )),
                severity: "SEV2".into(),
                incident_type: Some("degradation".into()),
                private: false,
                services: vec!["checkout-api".into(), "edge-lb".into()],
            },
            None,
        )
        .await
        .map_err(fail)?;
    let id = view.incident.id;
    app.assign_role(bob, id, "incident_lead", "bob", None)
        .await
        .map_err(fail)?;
    app.assign_role(bob, id, "scribe", "dan", None)
        .await
        .map_err(fail)?;
    app.update(
        bob,
        id,
        PatchInput {
            status: Some("investigating".into()),
            ..Default::default()
        },
    )
    .await
    .map_err(fail)?;
    app.add_note(
        carol,
        id,
        "Error rate is flat at 8% on both regions; not a single-node problem.",
    )
    .await
    .map_err(fail)?;
    app.add_note(
        dan,
        id,
        &format!(
            "A deploy of checkout-api went out at {} UTC. Comparing its config diff now.",
            minutes_ago(24)
        ),
    )
    .await
    .map_err(fail)?;
    tracing::warn!(
        "demo data created: users {} with password {DEMO_PASSWORD:?}",
        PEOPLE.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}
