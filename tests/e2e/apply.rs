//! `aplomb apply -f org.toml`: an on-call setup kept in version control, applied idempotently.

use std::process::Output;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp};

crate::on_both_backends!(
    applying_an_org_file_twice_changes_nothing_the_second_time,
    admins_edit_the_configuration_in_the_browser
);

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
    assert!(html.contains("<li>created team network</li>"), "{html}");
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
    assert_eq!(status, StatusCode::SEE_OTHER);
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
        changed,
        vec!["updated escalation policy payments"],
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
