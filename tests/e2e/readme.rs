//! The README's examples run as written: its TOML blocks are read from the README itself, so
//! the README and the code cannot drift apart unnoticed.

use reqwest::{Method, StatusCode};

use crate::helpers::{Db, TestApp};

crate::for_both_backends!(
    the_readme_org_document_applies_to_a_demo_server_and_to_an_empty_one,
    the_readme_drill_scenario_starts_on_a_demo_server,
);

/// The README's ```toml blocks, in order.
fn toml_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut blocks = Vec::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + "```toml\n".len()..];
        let end = body.find("```").expect("a closed block");
        blocks.push(body[..end].to_string());
        rest = &body[end + 3..];
    }
    blocks
}

/// The config file's block (incident types and required roles) versus org documents.
fn is_config_file(block: &str) -> bool {
    block.contains("[incidents]") || block.contains("[roles")
}

/// A drill's scenario: it has a script.
fn is_drill_scenario(block: &str) -> bool {
    block.contains("[[events]]")
}

#[test]
fn the_readme_config_file_block_is_read_by_the_config_parser() {
    let blocks: Vec<String> = toml_blocks()
        .into_iter()
        .filter(|b| is_config_file(b))
        .collect();
    assert!(!blocks.is_empty(), "the README shows the config file");
    for block in blocks {
        if let Err(e) = aplomb::config::Settings::parse(&block) {
            panic!("the README's config block does not parse: {e}\n{block}");
        }
    }
}

async fn the_readme_org_document_applies_to_a_demo_server_and_to_an_empty_one(db: Db) {
    let orgs: Vec<String> = toml_blocks()
        .into_iter()
        .filter(|b| !is_config_file(b) && !is_drill_scenario(b))
        .collect();
    assert!(!orgs.is_empty(), "the README shows an org document");
    // The README's examples assume a fresh `serve --demo`; the org document also stands alone.
    for demo in [true, false] {
        let Some(app) = TestApp::spawn_with(db, demo).await else {
            return;
        };
        for org in &orgs {
            let document: toml::Value = toml::from_str(org)
                .unwrap_or_else(|e| panic!("the README's org document is not TOML: {e}\n{org}"));
            let document = serde_json::to_value(document).expect("as JSON");
            let (status, body) = app
                .admin(Method::POST, "/api/v1/apply", Some(document.clone()))
                .await;
            assert_eq!(status, StatusCode::OK, "demo={demo}: {body}\n{org}");
            // As the README says: a second run reports unchanged for everything.
            let (status, again) = app
                .admin(Method::POST, "/api/v1/apply", Some(document))
                .await;
            assert_eq!(status, StatusCode::OK, "{again}");
            let changed: Vec<&serde_json::Value> = again["objects"]
                .as_array()
                .expect("objects")
                .iter()
                .filter(|o| o["outcome"] != "unchanged")
                .collect();
            assert!(changed.is_empty(), "demo={demo}: {changed:?}");
        }
        app.shutdown().await;
    }
}

async fn the_readme_drill_scenario_starts_on_a_demo_server(db: Db) {
    let scenarios: Vec<String> = toml_blocks()
        .into_iter()
        .filter(|b| is_drill_scenario(b))
        .collect();
    assert!(!scenarios.is_empty(), "the README shows a drill scenario");
    let Some(app) = TestApp::spawn_with(db, true).await else {
        return;
    };
    for scenario in scenarios {
        let (status, drill) = app
            .admin(
                Method::POST,
                "/api/v1/drills",
                Some(serde_json::json!({ "scenario": scenario })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{drill}\n{scenario}");
    }
    app.shutdown().await;
}
