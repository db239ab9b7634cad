//! `aplomb apply -f org.toml`: an on-call setup kept in version control, applied idempotently.

use std::process::Output;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp};

crate::on_both_backends!(
    applying_an_org_file_twice_changes_nothing_the_second_time,
    admins_edit_the_configuration_in_the_browser,
    a_document_with_a_mistake_half_way_changes_nothing,
    a_dry_run_shows_the_plan_field_by_field_and_writes_nothing
);

/// A document whose responders and teams are fine but whose escalation policy names a schedule
/// that does not exist: rejected as a whole, and nothing before the mistake is written.
async fn a_document_with_a_mistake_half_way_changes_nothing(app: TestApp) {
    let broken = json!({
        "responders": [{"username": "zoe", "time_zone": "Europe/Lisbon"}],
        "teams": [{"name": "storage", "members": ["zoe"]}],
        "escalation_policies": [{"name": "storage", "levels": [
            {"delay_minutes": 5, "targets": [{"type": "schedule", "name": "no-such-schedule"}]}
        ]}],
    });
    let (status, body) = app
        .admin(Method::POST, "/api/v1/apply", Some(broken.clone()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("storage") && m.contains("no-such-schedule")),
        "{body}"
    );
    let (_, teams) = app.admin(Method::GET, "/api/v1/teams", None).await;
    assert_eq!(teams, json!([]), "no team was created: {teams}");
    let (_, users) = app.admin(Method::GET, "/api/v1/users", None).await;
    assert!(
        !users.to_string().contains("\"zoe\""),
        "no user was created: {users}"
    );
    // A dry run of the same document is refused the same way.
    let (status, _) = app
        .admin(Method::POST, "/api/v1/apply?dry_run=true", Some(broken))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Later objects may refer to objects the same document creates: a new responder in a new
    // team, paged by a new policy through a new schedule, for a service that depends on one
    // defined after it.
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/apply",
            Some(json!({
                "responders": [{"username": "zoe"}],
                "teams": [{"name": "storage", "members": ["zoe"]}],
                "schedules": [{"name": "storage", "time_zone": "UTC", "layers": [
                    {"name": "daily", "start": "2026-01-05T09:00", "shift_count": 1, "shift_unit": "days", "participants": ["zoe"]}
                ]}],
                "escalation_policies": [{"name": "storage", "levels": [
                    {"delay_minutes": 5, "targets": [{"type": "schedule", "name": "storage"}, {"type": "responder", "name": "zoe"}]},
                    {"delay_minutes": 5, "targets": [{"type": "team", "name": "storage"}]}
                ]}],
                "services": [
                    {"name": "blob-api", "team": "storage", "escalation_policy": "storage", "depends_on": ["blob-db"]},
                    {"name": "blob-db", "team": "storage"}
                ],
                "engagement_rules": [{"name": "storage lead", "engage": {"type": "team", "name": "storage"}}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, oncall) = app
        .admin(Method::GET, "/api/v1/services/blob-api/oncall", None)
        .await;
    assert!(oncall.to_string().contains("zoe"), "{oncall}");
    // A dependency cycle through the document is a mistake too, and changes nothing.
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/apply",
            Some(json!({
                "teams": [{"name": "archive"}],
                "services": [{"name": "blob-db", "team": "storage", "depends_on": ["blob-api"]}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cycle")),
        "{body}"
    );
    let (_, teams) = app.admin(Method::GET, "/api/v1/teams", None).await;
    assert!(!teams.to_string().contains("archive"), "{teams}");
}

async fn a_dry_run_shows_the_plan_field_by_field_and_writes_nothing(app: TestApp) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("org.toml");
    std::fs::write(&file, ORG).expect("write");
    // On an empty organisation, everything would be created, and nothing is yet.
    let out = dry_run(&app, &file).await;
    let plan = lines(&out);
    assert!(
        plan.contains(&"created team payments".to_string()),
        "{plan:?}"
    );
    let (_, teams) = app.admin(Method::GET, "/api/v1/teams", None).await;
    assert_eq!(teams, json!([]), "{teams}");
    lines(&apply(&app, &file).await);
    let (_, before) = app.admin(Method::GET, "/api/v1/export", None).await;

    // A member added, a level's delay changed, a service's tags left out (left out = reset),
    // a new team: the plan says so, field by field, and the database stays as it was.
    let changed = ORG
        .replace(
            "members = [\"bob\", \"carol\"]",
            "members = [\"bob\", \"carol\", \"dave\"]",
        )
        .replace("delay_minutes = 10", "delay_minutes = 15")
        .replace("tags = [\"pci\"]\n", "")
        + "\n[[responders]]\nusername = \"dave\"\n\n[[teams]]\nname = \"network\"\n";
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/apply?dry_run=true",
            Some(
                serde_json::to_value(toml::from_str::<toml::Value>(&changed).expect("toml"))
                    .expect("json"),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dry_run"], true);
    let object = |kind: &str, name: &str| {
        body["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .find(|o| o["kind"] == kind && o["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{kind} {name} in {body}"))
    };
    assert_eq!(object("team", "network")["outcome"], "created");
    assert_eq!(object("responder", "dave")["outcome"], "created");
    assert_eq!(
        object("schedule", "payments-primary")["outcome"],
        "unchanged"
    );
    let team = object("team", "payments");
    assert_eq!(team["outcome"], "changed");
    assert_eq!(
        team["changes"],
        json!([{"field": "members", "old": "[bob, carol]", "new": "[bob, carol, dave]"}])
    );
    let policy = object("escalation_policy", "payments");
    assert_eq!(policy["changes"][0]["field"], "levels", "{policy}");
    assert!(
        policy["changes"][0]["old"]
            .as_str()
            .is_some_and(|o| o.contains("after 10 min: team payments"))
            && policy["changes"][0]["new"]
                .as_str()
                .is_some_and(|n| n.contains("after 15 min: team payments")),
        "{policy}"
    );
    let service = object("service", "checkout-api");
    assert_eq!(
        service["changes"],
        json!([{"field": "tags", "old": "[pci]", "new": "[]"}])
    );
    let (_, after) = app.admin(Method::GET, "/api/v1/export", None).await;
    assert_eq!(before, after, "a dry run writes nothing");

    // The CLI prints the same plan, each changed field below its object.
    std::fs::write(&file, &changed).expect("write");
    let plan = lines(&dry_run(&app, &file).await);
    let at = plan
        .iter()
        .position(|l| l == "changed team payments")
        .unwrap_or_else(|| panic!("{plan:?}"));
    assert_eq!(
        plan[at + 1],
        "  members: [bob, carol] → [bob, carol, dave]",
        "{plan:?}"
    );
    let (_, after) = app.admin(Method::GET, "/api/v1/export", None).await;
    assert_eq!(before, after, "a dry run writes nothing");
}

async fn dry_run(app: &TestApp, path: &std::path::Path) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(["apply", "--dry-run", "-f"])
        .arg(path)
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .expect("the CLI runs")
}

async fn admins_edit_the_configuration_in_the_browser(app: TestApp) {
    app.user("root", "admin").await;
    app.user("bob", "responder").await;
    let web = app.web_session("root").await;
    let (status, page) = web.page("/oncall/config").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("[[responders]]") && page.contains("username = &#34;bob&#34;"),
        "{page}"
    );
    let csrf = web.csrf().await;
    let document = "[[teams]]\nname = \"network\"\ndomain = \"network\"\nmembers = [\"bob\"]\n";
    let r = web
        .post_form("/oncall/config", &[("csrf", &csrf), ("document", document)])
        .await;
    let html = r.text().await.expect("html");
    // First the plan, and nothing written until it is confirmed.
    assert!(
        html.contains("id=\"apply-plan\"") && html.contains("<li>created team network"),
        "{html}"
    );
    let (_, teams) = app.admin(Method::GET, "/api/v1/teams", None).await;
    assert_eq!(teams, json!([]), "{teams}");
    let r = web
        .post_form(
            "/oncall/config",
            &[("csrf", &csrf), ("document", document), ("confirm", "yes")],
        )
        .await;
    let html = r.text().await.expect("html");
    assert!(html.contains("<li>created team network</li>"), "{html}");
    let (_, teams) = app.admin(Method::GET, "/api/v1/teams", None).await;
    assert!(teams.to_string().contains("network"), "{teams}");
    // The same document again: nothing to confirm.
    let r = web
        .post_form("/oncall/config", &[("csrf", &csrf), ("document", document)])
        .await;
    let html = r.text().await.expect("html");
    assert!(
        html.contains("<li>unchanged team network") && html.contains("Nothing to change"),
        "{html}"
    );
    let r = web
        .post_form(
            "/oncall/config",
            &[
                ("csrf", &csrf),
                (
                    "document",
                    "[[teams]]\nname = \"x\"\nmembers = [\"nobody\"]\n",
                ),
            ],
        )
        .await;
    let html = r.text().await.expect("html");
    assert!(
        html.contains("role=\"alert\"") && html.contains("nobody"),
        "{html}"
    );
    // Responders may look but not edit.
    let bob = app.web_session("bob").await;
    let (status, _) = bob.page("/oncall/config").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

const ORG: &str = r#"
[[responders]]
username = "bob"
display_name = "Bob Okafor"
time_zone = "Europe/Lisbon"
skills = ["network"]
contact_methods = [{ kind = "email", address = "bob@example.org" }, { kind = "sms", address = "+351910000002" }]
notification_rules = [{ address = "bob@example.org", delay_minutes = 0 }, { address = "+351910000002", delay_minutes = 5 }]

[[responders]]
username = "carol"
time_zone = "America/New_York"
skills = ["database"]

[[teams]]
name = "payments"
domain = "application"
members = ["bob", "carol"]

[[schedules]]
name = "payments-primary"
time_zone = "Europe/Lisbon"
layers = [{ name = "weekly", start = "2026-01-05T09:00", shift_count = 1, shift_unit = "weeks", participants = ["bob", "carol"] }]

[[escalation_policies]]
name = "payments"
repeat = 1
levels = [
  { delay_minutes = 5, targets = [{ type = "schedule", name = "payments-primary" }] },
  { delay_minutes = 10, targets = [{ type = "team", name = "payments" }] },
]

[[services]]
name = "orders-db"
description = "Orders database"
team = "payments"

[[services]]
name = "checkout-api"
description = "Takes orders"
team = "payments"
escalation_policy = "payments"
tags = ["pci"]
depends_on = ["orders-db"]

[[engagement_rules]]
name = "database experts"
when = { services = ["orders-db"] }
engage = { type = "responder", name = "carol" }
engaged_as = "expert:database"
"#;

async fn apply(app: &TestApp, path: &std::path::Path) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(["apply", "-f"])
        .arg(path)
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .expect("the CLI runs")
}

fn lines(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

async fn applying_an_org_file_twice_changes_nothing_the_second_time(app: TestApp) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("org.toml");
    std::fs::write(&file, ORG).expect("write");

    let first = lines(&apply(&app, &file).await);
    for expected in [
        "created responder bob",
        "created responder carol",
        "created team payments",
        "created schedule payments-primary",
        "created escalation policy payments",
        "created service orders-db",
        "created service checkout-api",
        "created engagement rule database experts",
    ] {
        assert!(
            first.contains(&expected.to_string()),
            "{expected:?} in {first:?}"
        );
    }
    let second = lines(&apply(&app, &file).await);
    assert_eq!(second.len(), 8, "{second:?}");
    assert!(
        second.iter().all(|l| l.starts_with("unchanged ")),
        "{second:?}"
    );

    // A change in the file is applied, and only that change.
    std::fs::write(
        &file,
        ORG.replace("delay_minutes = 10", "delay_minutes = 15"),
    )
    .expect("write");
    let third = lines(&apply(&app, &file).await);
    let changed: Vec<&String> = third
        .iter()
        .filter(|l| !l.starts_with("unchanged "))
        .collect();
    assert_eq!(
        changed[0], "changed escalation policy payments",
        "{third:?}"
    );
    assert_eq!(changed.len(), 2, "{third:?}");
    assert!(
        changed[1].starts_with("  levels: ") && changed[1].contains("after 15 min"),
        "{third:?}"
    );

    // The applied setup is live: the schedule answers who is on call.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(["oncall", "--schedule", "payments-primary"])
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .expect("runs");
    let table = lines(&out).join("\n");
    assert!(
        table.contains("payments-primary") && (table.contains("bob") || table.contains("carol")),
        "{table}"
    );

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(["oncall", "--service", "checkout-api"])
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .expect("runs");
    let line = lines(&out).join("\n");
    assert!(
        line.starts_with("checkout-api: ") && line.ends_with("(policy payments)"),
        "{line}"
    );
    assert!(line.contains("bob") || line.contains("carol"), "{line}");

    // Each responder has a calendar of their own shifts.
    let ics = app
        .http
        .get(format!("{}/api/v1/users/bob/calendar.ics", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert!(
        ics.contains("SUMMARY:On call: bob (payments-primary)"),
        "{ics}"
    );
    assert!(!ics.contains("On call: carol"), "{ics}");

    // Calendar apps cannot send a bearer token: each feed has a link with its own key, which
    // reads that feed and no other.
    let get = |url: String| {
        let http = app.http.clone();
        async move {
            let r = http.get(url).send().await.expect("answer");
            let status = r.status();
            (status, r.text().await.expect("text"))
        }
    };
    let (status, body) = get(format!("{}/api/v1/users/bob/calendar.ics", app.base)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, link) = app
        .admin(Method::GET, "/api/v1/users/bob/calendar-link", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let bob_feed = link["path"].as_str().expect("path").to_string();
    assert!(
        bob_feed.starts_with("/api/v1/users/bob/calendar.ics?key="),
        "{bob_feed}"
    );
    let (status, body) = get(format!("{}{bob_feed}", app.base)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("SUMMARY:On call: bob (payments-primary)"),
        "{body}"
    );
    let bob_key = bob_feed.split("key=").nth(1).expect("key");
    for wrong in [
        format!("/api/v1/users/carol/calendar.ics?key={bob_key}"),
        "/api/v1/users/bob/calendar.ics?key=0123".to_string(),
    ] {
        let (status, body) = get(format!("{}{wrong}", app.base)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}: {body}");
        assert!(body.contains("\"field\":\"key\""), "{body}");
    }
    let (status, _) = app
        .admin(Method::GET, "/api/v1/users/nobody/calendar-link", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .admin(Method::GET, "/api/v1/schedules/999999/calendar-link", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The CLI prints a schedule's feed URL; it reads that schedule's shifts.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(["oncall", "--schedule", "payments-primary", "--calendar"])
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .expect("runs");
    let url = lines(&out).join("");
    assert!(
        url.starts_with(&format!("{}/api/v1/schedules/", app.base)),
        "{url}"
    );
    let (status, body) = get(url.clone()).await;
    assert_eq!(status, StatusCode::OK, "{url}: {body}");
    assert!(
        body.contains("BEGIN:VCALENDAR") && body.contains("(payments-primary)"),
        "{body}"
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(["oncall", "--calendar"])
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--schedule NAME or --user NAME"),
        "{out:?}"
    );

    // An export applies back as it is: everything unchanged.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .arg("export")
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .expect("runs");
    let exported = lines(&out).join("\n");
    assert!(
        exported.contains("[[schedules]]") && exported.contains("payments-primary"),
        "{exported}"
    );
    let round_trip = dir.path().join("exported.toml");
    std::fs::write(&round_trip, &exported).expect("write");
    let again = lines(&apply(&app, &round_trip).await);
    let changed: Vec<&String> = again
        .iter()
        .filter(|l| !l.starts_with("unchanged "))
        .collect();
    assert!(changed.is_empty(), "{changed:?}\n{exported}");

    // Mistakes are named: object and field.
    std::fs::write(
        &file,
        ORG.replace("America/New_York", "America/Springfield"),
    )
    .expect("write");
    let bad = apply(&app, &file).await;
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("carol") && err.contains("time_zone"), "{err}");
    std::fs::write(&file, "[[teams]]\nname = \"x\"\ncolour = \"red\"\n").expect("write");
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/apply",
            Some(json!({"teams": [{"name": "x", "colour": "red"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "teams[0].colour");
}

/// Stories that move the server's clock, on a server of their own.
mod calendar {
    use reqwest::Method;
    use serde_json::json;

    use crate::helpers::{ADMIN_TOKEN, Db, TestApp};

    crate::for_both_backends!(a_calendar_feed_names_each_shift_the_same_way_at_every_fetch);

    fn uids(ics: &str) -> Vec<String> {
        ics.lines()
            .filter_map(|l| l.strip_prefix("UID:"))
            .map(String::from)
            .collect()
    }

    async fn a_calendar_feed_names_each_shift_the_same_way_at_every_fetch(db: Db) {
        let clock = std::sync::Arc::new(aplomb::clock::ManualClock::new(
            "2026-03-03T10:00:00Z".parse().expect("time"),
        ));
        let outbound = aplomb::engine::channels::OutboundConfig::default();
        let Some(app) = TestApp::spawn_paging(db, clock.clone(), outbound).await else {
            return;
        };
        let (status, body) = app
            .admin(
                Method::POST,
                "/api/v1/apply",
                Some(json!({
                    "responders": [{"username": "bob"}, {"username": "carol"}],
                    "schedules": [{"name": "primary", "time_zone": "UTC", "layers": [
                        {"name": "daily", "start": "2026-03-02T09:00", "shift_count": 1,
                         "shift_unit": "days", "participants": ["bob", "carol"]}
                    ]}],
                })),
            )
            .await;
        assert!(status.is_success(), "{body}");
        let (_, schedules) = app.admin(Method::GET, "/api/v1/schedules", None).await;
        let id = schedules[0]["id"].as_i64().expect("id");
        let fetch = || async {
            app.http
                .get(format!("{}/api/v1/schedules/{id}/calendar.ics", app.base))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("answer")
                .text()
                .await
                .expect("text")
        };
        let first = fetch().await;
        // The shift on call now began at its hand-off, 09:00, not at the time of the fetch.
        assert!(first.contains("DTSTART:20260303T090000Z"), "{first}");
        clock.advance(jiff::SignedDuration::from_mins(137));
        let second = fetch().await;
        let (a, b) = (uids(&first), uids(&second));
        assert!(!a.is_empty(), "{first}");
        assert_eq!(a[0], b[0], "the shift on call now keeps its UID");
        assert_eq!(
            a[..a.len() - 1],
            b[..a.len() - 1],
            "and so does every shift after it"
        );
        // A responder's own feed names the same shifts the same way.
        let (_, link) = app
            .admin(Method::GET, "/api/v1/users/carol/calendar-link", None)
            .await;
        let path = link["path"].as_str().expect("path");
        let mine = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("answer")
            .text()
            .await
            .expect("text");
        let carol = uids(&mine);
        assert!(
            !carol.is_empty() && carol.iter().all(|u| b.contains(u)),
            "{mine}\n{second}"
        );
    }
}
