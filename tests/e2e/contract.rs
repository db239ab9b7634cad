//! The OpenAPI document as a contract other tools rely on: schemathesis (PyPI) runs every
//! phase against a demo server and finds nothing, and a client generated from the document
//! by openapi-python-client (PyPI) runs an incident from declaration to resolution.

use std::path::Path;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::crash::free_port;
use crate::helpers::{ADMIN_TOKEN, Db, TestApp, required};

crate::for_both_backends!(generated_python_client_runs_an_incident);

/// Whether `program` runs here; under CI it must.
fn available(program: &str, install: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || !required(),
        "{program} is required under CI: {install}"
    );
    if !found {
        eprintln!("NOTICE: skipping, {program} is missing: {install}");
    }
    found
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

async fn generated_python_client_runs_an_incident(db: Db) {
    if !available("openapi-python-client", "pip install openapi-python-client") {
        return;
    }
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "olga", "role": "responder"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, document) = app.admin(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);

    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, document.to_string()).expect("writable");
    let generated = Command::new("openapi-python-client")
        .args(["generate", "--meta", "none", "--path"])
        .arg(&path)
        .arg("--output-path")
        .arg(dir.path().join("aplomb_client"))
        .current_dir(dir.path())
        .output()
        .expect("openapi-python-client runs");
    assert!(
        generated.status.success(),
        "generation failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );

    let story = Command::new("python3")
        .arg(root().join("tools/python_client/story.py"))
        .args([app.base.as_str(), ADMIN_TOKEN, "olga"])
        .env("PYTHONPATH", dir.path())
        .output()
        .expect("python3 runs");
    let out = String::from_utf8_lossy(&story.stdout);
    assert!(
        story.status.success(),
        "the generated client failed: {out}{}",
        String::from_utf8_lossy(&story.stderr)
    );
    let id: i64 = out
        .trim()
        .parse()
        .expect("the story prints the incident's id");

    // What the client did is what the API now holds.
    let (status, incident) = app
        .admin(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(incident["status"], "resolved", "{incident}");
    assert_eq!(incident["title"], "Checkout returns 502 for some users");
    let roles = incident["roles"].as_array().expect("roles");
    assert!(
        roles
            .iter()
            .any(|r| r["role"] == "incident_lead" && r["user"] == "olga"),
        "{incident}"
    );
    let (_, timeline) = app
        .admin(
            Method::GET,
            &format!("/api/v1/incidents/{id}/timeline"),
            None,
        )
        .await;
    assert!(
        timeline
            .to_string()
            .contains("Rolled back the 14:00 deploy"),
        "{timeline}"
    );
}

/// Every phase of schemathesis (examples, coverage, fuzzing, stateful) with every check,
/// through tools/schemathesis/run.sh against a fresh demo server: no failure.
#[test]
fn schemathesis_finds_no_failure() {
    if !available("schemathesis", "pip install schemathesis") {
        return;
    }
    let run = Command::new("bash")
        .arg(root().join("tools/schemathesis/run.sh"))
        .env("APLOMB_BIN", env!("CARGO_BIN_EXE_aplomb"))
        .env("PORT", free_port().to_string())
        .env("PHASES", "examples,coverage,fuzzing,stateful")
        .env("MAX_EXAMPLES", "10")
        .env("SEED", "1")
        .output()
        .expect("bash runs");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis found failures:\n{report}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("Test cases:"), "{report}");
}
