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
    let (bob, carol, dan) = (&actors[1], &actors[2], &actors[3]);
    let fail = |e: crate::app::AppError| anyhow::anyhow!("demo incident: {e}");
    let (view, _) = app
        .declare(
            bob,
            DeclareInput {
                title: "Checkout errors for a share of card payments".into(),
                summary: Some(
                    "About 8% of checkout requests return 502 since 14:05 UTC. Card payments only; \
                     other payment methods look normal."
                        .into(),
                ),
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
    app.assign_role(bob, id, "incident_lead", "bob")
        .await
        .map_err(fail)?;
    app.assign_role(bob, id, "scribe", "dan")
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
        "A deploy of checkout-api went out at 14:01. Comparing its config diff now.",
    )
    .await
    .map_err(fail)?;
    tracing::warn!(
        "demo data created: users {} with password {DEMO_PASSWORD:?}",
        PEOPLE.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}
