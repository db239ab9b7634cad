//! Versioned playbooks through the running server: a playbook per incident type (and one for
//! a service) is applied when an incident of the type is declared, which records the version it
//! ran and shows its checklist; each step checked goes on the timeline; a change is a new
//! version with its reason and the action item that asked for it, from the version read; the
//! diff between versions; bad input by field; and the same through the CLI and the pages.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::paging::{ok, timeline_kinds};

crate::on_both_backends!(
    a_playbook_is_applied_at_declaration_versioned_and_diffed,
    the_playbook_pages_change_and_diff_and_the_incident_page_checks_steps,
);

async fn a_playbook_is_applied_at_declaration_versioned_and_diffed(app: TestApp) {
    let lena = app.user("lena", "responder").await;
    let vera = app.user("vera", "viewer").await;
    for name in ["search", "checkout"] {
        ok(
            &app,
            Method::POST,
            "/api/v1/services",
            json!({"name": name}),
        )
        .await;
    }
    let call = async |token: &str, method: Method, path: &str, body: Option<Value>| {
        app.call(token, method, path, body).await
    };
    let steps = json!([
        "Page the on-call engineer",
        "Check the last deploy",
        "Post the first update"
    ]);
    for (body, field) in [
        (
            json!({"incident_type": "weather", "steps": steps}),
            "incident_type",
        ),
        (json!({"incident_type": "outage", "steps": []}), "steps"),
        (
            json!({"incident_type": "outage", "steps": ["a\nb"]}),
            "steps",
        ),
        (
            json!({"incident_type": "outage", "steps": steps, "roles": ["chef"]}),
            "roles",
        ),
        (
            json!({"incident_type": "outage", "steps": steps, "service": "nowhere"}),
            "service",
        ),
    ] {
        let (status, answer) = call(&lena, Method::POST, "/api/v1/playbooks", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let body = json!({"incident_type": "outage", "steps": steps, "roles": ["scribe"],
                      "guidance": "Look at the deploy log first."});
    let (status, _) = call(&vera, Method::POST, "/api/v1/playbooks", Some(body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, outage) = call(&lena, Method::POST, "/api/v1/playbooks", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{outage}");
    assert_eq!(outage["current"]["version"], 1);
    assert_eq!(outage["current"]["roles"], json!(["scribe"]));
    let (status, _) = call(&lena, Method::POST, "/api/v1/playbooks", Some(body)).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "one playbook per type and service"
    );
    let (_, checkout) = call(
        &lena,
        Method::POST,
        "/api/v1/playbooks",
        Some(json!({"incident_type": "outage", "service": "checkout", "steps": ["Fail over the payment gateway"]})),
    )
    .await;
    let pid = outage["id"].as_i64().expect("an id");

    // Declared: the service's own playbook first, else the type's.
    let declare = async |service: &str| {
        app.declare(
            &lena,
            json!({"title": format!("{service} down"), "severity": "SEV2", "type": "outage",
                   "services": [service]}),
        )
        .await
    };
    let first = declare("search").await;
    let (_, list) = call(
        &vera,
        Method::GET,
        &format!("/api/v1/incidents/{first}/checklist"),
        None,
    )
    .await;
    assert_eq!(
        (&list["playbook_id"], &list["version"]),
        (&json!(pid), &json!(1))
    );
    assert_eq!(list["steps"].as_array().map(Vec::len), Some(3));
    assert_eq!(list["steps"][0]["checked"], false);
    assert_eq!(list["guidance"], "Look at the deploy log first.");
    assert!(
        timeline_kinds(&app, first)
            .await
            .contains(&"playbook_applied".to_string())
    );
    let on_checkout = declare("checkout").await;
    let (_, list) = call(
        &lena,
        Method::GET,
        &format!("/api/v1/incidents/{on_checkout}/checklist"),
        None,
    )
    .await;
    assert_eq!(list["playbook_id"], checkout["id"]);
    assert_eq!(list["steps"][0]["text"], "Fail over the payment gateway");
    let other = app
        .declare(
            &lena,
            json!({"title": "Odd logs", "severity": "SEV4", "type": "other"}),
        )
        .await;
    let (_, none) = call(
        &lena,
        Method::GET,
        &format!("/api/v1/incidents/{other}/checklist"),
        None,
    )
    .await;
    assert_eq!(none["playbook_id"], Value::Null, "no playbook for the type");
    // The roles a playbook names are required beside the severity's.
    let unfilled = async |id: i64| {
        let (_, incident) =
            call(&lena, Method::GET, &format!("/api/v1/incidents/{id}"), None).await;
        incident["unfilled_roles"].clone()
    };
    assert!(
        unfilled(first)
            .await
            .as_array()
            .expect("roles")
            .contains(&json!("scribe")),
        "the outage playbook asks for a scribe"
    );
    assert!(
        !unfilled(other)
            .await
            .as_array()
            .expect("roles")
            .contains(&json!("scribe")),
        "a SEV4 without a playbook does not"
    );

    // Checking steps.
    let step = format!("/api/v1/incidents/{first}/checklist/2");
    let (status, _) = call(&vera, Method::PUT, &step, Some(json!({"checked": true}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, done) = call(&lena, Method::PUT, &step, Some(json!({"checked": true}))).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (&done["checked"], &done["checked_by"]),
        (&json!(true), &json!("lena"))
    );
    let (status, _) = call(
        &lena,
        Method::PUT,
        &format!("/api/v1/incidents/{first}/checklist/9"),
        Some(json!({"checked": true})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        timeline_kinds(&app, first)
            .await
            .contains(&"checklist_step_checked".to_string())
    );

    // An action item names the playbook it would change (one that exists).
    let items = format!("/api/v1/incidents/{first}/review/action-items");
    let (status, answer) = call(
        &lena,
        Method::POST,
        &items,
        Some(json!({"title": "x", "playbook": 999_999})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "playbook");
    let (status, item) = call(
        &lena,
        Method::POST,
        &items,
        Some(json!({"title": "Check the cache in the outage playbook", "playbook": pid})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(item["playbook"], pid);
    let item_path = format!("/api/v1/action-items/{}", item["id"]);
    let (_, unlinked) = call(
        &lena,
        Method::PATCH,
        &item_path,
        Some(json!({"playbook": 0})),
    )
    .await;
    assert_eq!(unlinked["playbook"], Value::Null, "{unlinked}");
    let (_, item) = call(
        &lena,
        Method::PATCH,
        &item_path,
        Some(json!({"playbook": pid})),
    )
    .await;
    assert_eq!(item["playbook"], pid, "{item}");

    // A change is a new version, from the version read, with its reason and action item.
    let change = |version: i64, reason: Option<&str>, item: Option<i64>| {
        json!({"version": version, "reason": reason, "action_item": item, "roles": ["scribe"],
               "steps": ["Page the on-call engineer", "Check the cache's hit rate",
                         "Check the last deploy", "Post the first update"]})
    };
    let path = format!("/api/v1/playbooks/{pid}");
    for (body, status, field) in [
        (
            change(1, None, None),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("reason"),
        ),
        (
            change(1, Some("cache"), Some(999_999)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("action_item"),
        ),
        (change(0, Some("cache"), None), StatusCode::CONFLICT, None),
    ] {
        let (got, answer) = call(&lena, Method::PUT, &path, Some(body)).await;
        assert_eq!(got, status, "{answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
    }
    // An item that names another playbook is not this one's to cite.
    let (_, elsewhere) = call(
        &lena,
        Method::POST,
        &items,
        Some(json!({"title": "Fail over faster", "playbook": checkout["id"]})),
    )
    .await;
    let (status, answer) = call(
        &lena,
        Method::PUT,
        &path,
        Some(change(1, Some("cache"), elsewhere["id"].as_i64())),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "action_item", "{answer}");
    let reason = "the review of the search outage found the cache unchecked";
    let (status, changed) = call(
        &lena,
        Method::PUT,
        &path,
        Some(change(1, Some(reason), item["id"].as_i64())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["current"]["version"], 2);
    let versions = changed["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["reason"], reason);
    assert_eq!(versions[1]["action_item"], item["id"]);
    assert_eq!(versions[1]["author"], "lena");
    let (_, diff) = call(
        &vera,
        Method::GET,
        &format!("{path}/diff?from=1&to=2"),
        None,
    )
    .await;
    let changes: Vec<(&str, &str)> = diff["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["change"] != "same")
        .map(|l| {
            (
                l["change"].as_str().unwrap_or(""),
                l["text"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("added", "step: Check the cache's hit rate"),
            ("removed", "guidance: Look at the deploy log first."),
        ]
    );
    let (status, answer) = call(
        &vera,
        Method::GET,
        &format!("{path}/diff?from=1&to=7"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "to");

    // The first incident keeps the version it ran; a new one runs the new version.
    let (_, kept) = call(
        &lena,
        Method::GET,
        &format!("/api/v1/incidents/{first}/checklist"),
        None,
    )
    .await;
    assert_eq!(kept["version"], 1);
    let later = declare("search").await;
    let (_, runs) = call(
        &lena,
        Method::GET,
        &format!("/api/v1/incidents/{later}/checklist"),
        None,
    )
    .await;
    assert_eq!(runs["version"], 2);
    assert_eq!(runs["steps"][1]["text"], "Check the cache's hit rate");

    let printed = crate::cli::stdout(
        &crate::cli::aplomb(
            &app,
            &lena,
            &["playbook", "diff", &pid.to_string(), "1", "2"],
        )
        .await,
    );
    assert!(
        printed.contains("+ step: Check the cache's hit rate"),
        "{printed}"
    );
    let printed = crate::cli::stdout(
        &crate::cli::aplomb(&app, &lena, &["playbook", "check", &later.to_string(), "1"]).await,
    );
    assert!(printed.contains("step 1: done"), "{printed}");
    let printed = crate::cli::stdout(
        &crate::cli::aplomb(&app, &lena, &["playbook", "checklist", &later.to_string()]).await,
    );
    assert!(
        printed.contains("[x] 1. Page the on-call engineer"),
        "{printed}"
    );
    assert!(
        printed.contains("[ ] 2. Check the cache's hit rate"),
        "{printed}"
    );
}

async fn the_playbook_pages_change_and_diff_and_the_incident_page_checks_steps(app: TestApp) {
    let lena = app.user("lena", "responder").await;
    let web = app.web_session("lena").await;
    let csrf = web.csrf().await;
    let made = web
        .post_form(
            "/playbooks",
            &[
                ("csrf", &csrf),
                ("incident_type", "outage"),
                ("steps", "Page the on-call engineer\nCheck the last deploy"),
                ("scribe", "on"),
                ("guidance", "Deploys first."),
            ],
        )
        .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let (_, all) = app
        .call(&lena, Method::GET, "/api/v1/playbooks", None)
        .await;
    let pid = all[0]["id"].as_i64().expect("a playbook");
    assert_eq!(all[0]["current"]["roles"], json!(["scribe"]));
    let (status, html) = web.page("/playbooks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("id=\"playbook-{pid}\"")), "{html}");

    let changed = web
        .post_form(
            &format!("/playbooks/{pid}"),
            &[
                ("csrf", &csrf),
                ("version", "1"),
                (
                    "steps",
                    "Page the on-call engineer\nCheck the feature flags\nCheck the last deploy",
                ),
                ("scribe", "on"),
                ("guidance", "Deploys first."),
                ("reason", "flags caused the last two outages"),
            ],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let (_, html) = web.page(&format!("/playbooks/{pid}?done=changed")).await;
    assert!(html.contains("Saved as version 2."), "{html}");
    assert!(html.contains("flags caused the last two outages"));
    let (_, html) = web.page(&format!("/playbooks/{pid}?from=1&to=2")).await;
    assert!(
        html.contains("<span class=\"diff-added\">+ step: Check the feature flags</span>"),
        "{html}"
    );
    let stale = web
        .post_form(
            &format!("/playbooks/{pid}"),
            &[
                ("csrf", &csrf),
                ("version", "1"),
                ("steps", "x"),
                ("reason", "late"),
            ],
        )
        .await;
    let to = stale
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (_, html) = web.page(&to).await;
    assert!(
        html.contains("changed since version 1"),
        "a stale change is told: {html}"
    );

    let id = app
        .declare(
            &lena,
            json!({"title": "Site down", "severity": "SEV2", "type": "outage"}),
        )
        .await;
    let (_, html) = web.page(&format!("/incidents/{id}")).await;
    assert!(html.contains("id=\"checklist\""), "{html}");
    assert!(html.contains("Check the feature flags"));
    let toggled = web
        .post_form(
            &format!("/incidents/{id}/checklist/2"),
            &[("csrf", &csrf), ("checked", "true")],
        )
        .await;
    assert_eq!(toggled.status(), StatusCode::SEE_OTHER);
    let (_, list) = app
        .call(
            &lena,
            Method::GET,
            &format!("/api/v1/incidents/{id}/checklist"),
            None,
        )
        .await;
    assert_eq!(list["steps"][1]["checked"], true);
    assert_eq!(list["version"], 2);
    let (_, html) = web.page(&format!("/incidents/{id}")).await;
    assert!(html.contains("id=\"step-2\" class=\"done\""), "{html}");
}
