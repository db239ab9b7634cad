//! The `aplomb` binary as a CLI client of a running server, on both storage backends.

use std::process::Output;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;

crate::on_both_backends!(
    the_cli_declares_works_and_resolves_an_incident,
    the_cli_explains_failures,
    a_responder_manages_how_they_are_reached_from_the_cli,
    a_responder_signs_in_from_the_cli_and_out_again,
    an_investigation_is_run_from_the_cli,
    tasks_are_given_and_checked_in_from_the_cli,
    a_support_tool_files_reports_and_lists_the_triage_queue_from_the_cli,
    a_forge_integration_is_made_from_the_cli_and_its_webhook_url_works,
);

pub(crate) async fn aplomb(app: &TestApp, token: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args(args)
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", token)
        .output()
        .await
        .expect("the binary runs")
}

pub(crate) fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn the_cli_declares_works_and_resolves_an_incident(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    app.user("carol", "responder").await;
    let id = stdout(
        &aplomb(
            &app,
            &bob,
            &[
                "incident",
                "declare",
                "--title",
                "Payments timing out",
                "--severity",
                "SEV2",
                "--type",
                "outage",
            ],
        )
        .await,
    );
    let id = id.trim().to_string();
    assert!(
        id.parse::<i64>().is_ok(),
        "declare prints the id, got {id:?}"
    );

    let listed = stdout(&aplomb(&app, &bob, &["incident", "list"]).await);
    assert!(listed.starts_with("ID"), "{listed}");
    assert!(
        listed.contains("Payments timing out") && listed.contains("triage"),
        "{listed}"
    );

    stdout(&aplomb(&app, &bob, &["incident", "status", &id, "investigating"]).await);
    let role = stdout(
        &aplomb(
            &app,
            &bob,
            &["incident", "role", &id, "incident_lead", "carol"],
        )
        .await,
    );
    assert!(role.contains("carol is incident_lead"), "{role}");
    stdout(
        &aplomb(
            &app,
            &bob,
            &[
                "incident",
                "note",
                &id,
                "Gateway pool exhausted; raising the limit",
            ],
        )
        .await,
    );
    let resolved = stdout(&aplomb(&app, &bob, &["incident", "resolve", &id]).await);
    assert!(resolved.contains("resolved"), "{resolved}");

    let shown = stdout(&aplomb(&app, &bob, &["incident", "show", &id]).await);
    for expected in [
        "Payments timing out",
        "SEV2",
        "resolved",
        "incident_lead=carol",
        "Gateway pool exhausted",
        "Status changed from investigating to resolved",
    ] {
        assert!(
            shown.contains(expected),
            "{expected:?} missing from:\n{shown}"
        );
    }

    let json: Value = serde_json::from_str(&stdout(
        &aplomb(&app, &bob, &["incident", "show", &id, "--json"]).await,
    ))
    .expect("--json prints JSON");
    assert_eq!(json["incident"]["status"], "resolved");
    assert!(json["timeline"].as_array().is_some_and(|t| t.len() >= 5));

    let active = stdout(&aplomb(&app, &bob, &["incident", "list", "--active"]).await);
    assert_eq!(active, "no incidents\n");
}

async fn the_cli_explains_failures(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let bad = aplomb(
        &app,
        &bob,
        &["incident", "declare", "--title", "x", "--severity", "SEV7"],
    )
    .await;
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("severity") && err.contains("422"), "{err}");

    let missing = aplomb(&app, &bob, &["incident", "show", "4242"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));

    let denied = aplomb(&app, "wrong-token", &["incident", "list"]).await;
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"));

    // Nothing listens on port 9 of loopback: a connection failure has its own exit code.
    let offline = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
        .args([
            "incident",
            "list",
            "--url",
            "http://127.0.0.1:9",
            "--token",
            "t",
        ])
        .output()
        .await
        .expect("runs");
    assert_eq!(offline.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&offline.stderr).contains("cannot reach aplomb"));
}

async fn a_responder_manages_how_they_are_reached_from_the_cli(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let carol = app.user("carol", "responder").await;
    let added = stdout(&aplomb(&app, &bob, &["contact", "add", "sms", "+351910000004"]).await);
    assert!(added.starts_with("added contact method "), "{added}");
    let json = stdout(
        &aplomb(
            &app,
            &bob,
            &["contact", "add", "email", "bob@example.org", "--json"],
        )
        .await,
    );
    let email: Value = serde_json::from_str(&json).expect("json");
    let email_id = email["id"].as_i64().expect("id").to_string();
    let rule = stdout(
        &aplomb(
            &app,
            &bob,
            &["contact", "add-rule", &email_id, "--after", "5"],
        )
        .await,
    );
    let rule_id = rule.trim().rsplit(' ').next().expect("id").to_string();
    assert!(rule_id.parse::<i64>().is_ok(), "{rule}");

    let listed = stdout(&aplomb(&app, &bob, &["contact", "list"]).await);
    assert!(
        listed.contains("+351910000004") && listed.contains("bob@example.org"),
        "{listed}"
    );
    assert!(listed.contains("5 min"), "{listed}");

    // carol can neither read bob's nor remove them; a wrong kind is explained.
    let denied = aplomb(&app, &carol, &["contact", "list", "--user", "bob"]).await;
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("only admins"),
        "{denied:?}"
    );
    let bad = aplomb(&app, &bob, &["contact", "add", "pigeon", "loft 3"]).await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("kind"),
        "{bad:?}"
    );

    stdout(&aplomb(&app, &bob, &["contact", "remove-rule", &rule_id]).await);
    stdout(&aplomb(&app, &bob, &["contact", "remove", &email_id]).await);
    let listed = stdout(&aplomb(&app, &bob, &["contact", "list"]).await);
    assert!(
        !listed.contains("bob@example.org") && listed.contains("no notification rules"),
        "{listed}"
    );
    let again = aplomb(&app, &bob, &["contact", "remove", &email_id]).await;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not found"),
        "{again:?}"
    );
}

/// The binary with only `config_dir` to find its server and token (no URL or token in the
/// environment), `stdin` as its standard input.
async fn aplomb_signed_in(config_dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"));
    command
        .args(args)
        .env_remove("APLOMB_URL")
        .env_remove("APLOMB_TOKEN")
        .env("APLOMB_CONFIG_DIR", config_dir);
    with_input(command, stdin).await
}

/// `aplomb` against `app` as `token`'s user, `stdin` as its standard input.
pub(crate) async fn aplomb_with_input(
    app: &TestApp,
    token: &str,
    args: &[&str],
    stdin: &str,
) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"));
    command
        .args(args)
        .env("APLOMB_URL", &app.base)
        .env("APLOMB_TOKEN", token);
    with_input(command, stdin).await
}

/// Runs `command` with `stdin` written to its standard input, then closed.
async fn with_input(mut command: tokio::process::Command, stdin: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).await.expect("written");
    drop(input);
    child.wait_with_output().await.expect("it finishes")
}

async fn a_responder_signs_in_from_the_cli_and_out_again(app: TestApp) {
    app.user("bob", "responder").await;
    let config = tempfile::tempdir().expect("a temp dir");
    let dir = config.path();

    let wrong = aplomb_signed_in(
        dir,
        &["login", "--url", &app.base, "--username", "bob"],
        "not my password\n",
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("wrong password"),
        "{wrong:?}"
    );
    assert!(!dir.join("cli.toml").exists());

    let password = format!("{}\n", crate::helpers::password("bob"));
    let signed_in = stdout(
        &aplomb_signed_in(
            dir,
            &["login", "--url", &app.base, "--username", "bob"],
            &password,
        )
        .await,
    );
    assert!(
        signed_in.contains(&format!("signed in to {} as bob", app.base)),
        "{signed_in}"
    );
    let file = dir.join("cli.toml");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file)
        .expect("the login file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only bob may read his token");
    let stored_token = || {
        let stored = std::fs::read_to_string(&file).expect("readable");
        stored
            .lines()
            .find_map(|l| l.strip_prefix("token = \""))
            .and_then(|t| t.strip_suffix('"'))
            .expect("a token in the file")
            .to_string()
    };
    let first = stored_token();

    // Signing in again replaces the token and revokes the one replaced.
    let again = stdout(
        &aplomb_signed_in(
            dir,
            &["login", "--url", &app.base, "--username", "bob"],
            &password,
        )
        .await,
    );
    assert!(
        again.contains("the token stored before is revoked"),
        "{again}"
    );
    let token = stored_token();
    assert_ne!(token, first);
    let (status, _) = app
        .call(&first, reqwest::Method::GET, "/api/v1/whoami", None)
        .await;
    assert_eq!(
        status,
        reqwest::StatusCode::UNAUTHORIZED,
        "the replaced token is revoked"
    );

    // Later commands need no --url or --token.
    let listed = stdout(&aplomb_signed_in(dir, &["incident", "list"], "").await);
    assert_eq!(listed, "no incidents\n");
    let tokens = stdout(&aplomb_signed_in(dir, &["token", "list"], "").await);
    assert!(tokens.contains("aplomb login"), "{tokens}");
    // Another server gets no token, and is told where the stored one belongs.
    let elsewhere = aplomb_signed_in(
        dir,
        &["incident", "list", "--url", "http://127.0.0.1:9"],
        "",
    )
    .await;
    assert_eq!(elsewhere.status.code(), Some(2), "{elsewhere:?}");
    let said = String::from_utf8_lossy(&elsewhere.stderr);
    assert!(
        said.contains(&format!("signed in to {}", app.base))
            && said.contains("aplomb login --url http://127.0.0.1:9"),
        "{said}"
    );

    let out = stdout(&aplomb_signed_in(dir, &["logout"], "").await);
    assert!(out.contains("signed out"), "{out}");
    assert!(!file.exists(), "the login file is removed");
    let (status, _) = app
        .call(&token, reqwest::Method::GET, "/api/v1/whoami", None)
        .await;
    assert_eq!(
        status,
        reqwest::StatusCode::UNAUTHORIZED,
        "the token is revoked"
    );
    let after = aplomb_signed_in(dir, &["incident", "list"], "").await;
    assert_eq!(after.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&after.stderr).contains("aplomb login"),
        "{after:?}"
    );
}

/// aplomb serves HTTPS itself with a certificate from a private CA; the CLI talks to it when
/// given that CA (`--ca-file`), and without it says why it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_talks_to_aplomb_over_https_with_a_private_ca() {
    let Some(pki) = crate::sinks::Pki::make() else {
        return;
    };
    for db in [crate::helpers::Db::Sqlite, crate::helpers::Db::Postgres] {
        let Some(test_db) = crate::helpers::TestDb::new(db).await else {
            continue;
        };
        let port = crate::crash::free_port();
        let (cert, key) = (
            pki.cert.display().to_string(),
            pki.key.display().to_string(),
        );
        let mut server = crate::crash::start_server(
            &test_db.url,
            port,
            &["--tls-cert", &cert, "--tls-key", &key],
        )
        .await;
        let url = format!("https://127.0.0.1:{port}");
        let run = |extra: &[&str]| {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"));
            command
                .args(["incident", "list", "--url", &url, "--token"])
                .arg(crate::helpers::ADMIN_TOKEN)
                .args(extra)
                .env_remove("APLOMB_CA_FILE")
                .env(
                    "APLOMB_CONFIG_DIR",
                    pki.cert.with_file_name("no-cli-config"),
                );
            command.output()
        };
        let ca = pki.ca.display().to_string();
        let listed = stdout(&run(&["--ca-file", &ca]).await.expect("runs"));
        assert_eq!(listed, "no incidents\n", "{db:?}");

        let untrusted = run(&[]).await.expect("runs");
        assert_eq!(untrusted.status.code(), Some(3), "{db:?}: {untrusted:?}");
        let err = String::from_utf8_lossy(&untrusted.stderr);
        assert!(
            err.contains("certificate") && err.contains("--ca-file"),
            "{db:?}: {err}"
        );

        // Signed in once with the CA, then again without naming it: the CA is kept, so the
        // next command still reaches the server.
        let created = tokio::process::Command::new(env!("CARGO_BIN_EXE_aplomb"))
            .args([
                "user",
                "create",
                "bob",
                "--password",
                "a long enough password",
            ])
            .args([
                "--url",
                &url,
                "--ca-file",
                &ca,
                "--token",
                crate::helpers::ADMIN_TOKEN,
            ])
            .output()
            .await
            .expect("runs");
        stdout(&created);
        let config = tempfile::tempdir().expect("a temp dir");
        for extra in [&["--ca-file", ca.as_str()][..], &[]] {
            let mut args = vec!["login", "--url", &url, "--username", "bob"];
            args.extend_from_slice(extra);
            let login = aplomb_signed_in(config.path(), &args, "a long enough password\n").await;
            stdout(&login);
        }
        let listed = aplomb_signed_in(config.path(), &["incident", "list"], "").await;
        assert_eq!(stdout(&listed), "no incidents\n", "{db:?}");

        // Served over TLS, pages ask browsers to keep to HTTPS and cookies stay on it.
        let pem = std::fs::read(&pki.ca).expect("the CA");
        let browser = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM CA"))
            .build()
            .expect("client");
        let page = browser
            .get(format!("{url}/login"))
            .send()
            .await
            .expect("answers");
        assert_eq!(
            page.headers()["strict-transport-security"],
            "max-age=31536000"
        );
        let cookie = page.headers()["set-cookie"].to_str().unwrap_or_default();
        assert!(cookie.contains("; Secure"), "{cookie}");
        server.kill().await.expect("stopped");
    }
}

async fn tasks_are_given_and_checked_in_from_the_cli(app: TestApp) {
    let lena = app.user("lena", "responder").await;
    let olga = app.user("olga", "responder").await;
    let incident = app
        .declare(
            &lena,
            serde_json::json!({"title": "Edge packet loss", "severity": "SEV2"}),
        )
        .await
        .to_string();
    let task = stdout(
        &aplomb(
            &app,
            &lena,
            &[
                "task",
                "add",
                &incident,
                "Check the edge routers' BGP sessions",
                "--skill",
                "network",
                "--assignee",
                "olga",
                "--check-in",
                "15",
            ],
        )
        .await,
    );
    let task = task.trim().to_string();
    assert!(task.parse::<i64>().is_ok(), "add prints the id: {task:?}");
    let listed = stdout(&aplomb(&app, &lena, &["task", "list", &incident]).await);
    assert!(
        listed.contains("CHECK-IN DUE")
            && listed.contains("network")
            && listed.contains("olga")
            && listed.contains("BGP sessions"),
        "{listed}"
    );
    let mine = stdout(&aplomb(&app, &olga, &["task", "mine"]).await);
    assert!(
        mine.contains("BGP sessions") && mine.contains(&incident),
        "{mine}"
    );
    let checked = stdout(
        &aplomb(
            &app,
            &olga,
            &[
                "task",
                "check-in",
                &incident,
                &task,
                "Two sessions flapping",
            ],
        )
        .await,
    );
    assert!(
        checked.contains(&format!("checked in on task {task}; next check-in by")),
        "{checked}"
    );
    let done = stdout(&aplomb(&app, &olga, &["task", "done", &incident, &task]).await);
    assert_eq!(done, format!("task {task} is done\n"));
    let mine = stdout(&aplomb(&app, &olga, &["task", "mine"]).await);
    assert!(mine.contains("Tasks\n  none"), "{mine}");
    let refused = aplomb(&app, &olga, &["task", "done", &incident, &task]).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    app.shutdown().await;
}

async fn an_investigation_is_run_from_the_cli(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let incident = app
        .declare(
            &bob,
            serde_json::json!({"title": "Uploads fail", "severity": "SEV2"}),
        )
        .await
        .to_string();
    let run = async |args: &[&str]| stdout(&aplomb(&app, &bob, args).await);
    let evidence = run(&[
        "evidence",
        "add",
        &incident,
        "--kind",
        "log",
        "--summary",
        "413 from the object store",
        "--excerpt",
        "PUT /bucket/x 413 Request Entity Too Large",
        "--source-url",
        "https://logs.example/q/413",
        "--pin",
    ])
    .await;
    let evidence = evidence.trim().to_string();
    assert!(
        evidence.parse::<i64>().is_ok(),
        "add prints the id: {evidence:?}"
    );
    let listed = run(&["evidence", "list", &incident]).await;
    assert!(
        listed.contains("413 from the object store")
            && listed.contains("pinned")
            && listed.contains("https://logs.example/q/413"),
        "{listed}"
    );
    let unpinned = run(&["evidence", "pin", &incident, &evidence, "--off"]).await;
    assert!(unpinned.contains("unpinned"), "{unpinned}");

    // The recent changes of an incident's services and what they depend on, listed with the
    // id that links one as evidence.
    let key = crate::investigation::service_depending_on(&app, "object-store", &[]).await;
    crate::investigation::service_depending_on(&app, "uploads", &["object-store"]).await;
    let change = serde_json::json!({"routing_key": key,
        "payload": {"summary": "Object store 3.2 rolled out", "source": "ci"}});
    let (status, _) = crate::alerts::enqueue(&app, "/v2/change/enqueue", &change).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let uploads = app
        .declare(
            &bob,
            serde_json::json!({"title": "Uploads slow", "severity": "SEV3", "services": ["uploads"]}),
        )
        .await
        .to_string();
    let recent = run(&["evidence", "recent-changes", &uploads, "--window", "2h"]).await;
    assert!(
        recent.contains("Object store 3.2 rolled out")
            && recent.contains("uploads -> object-store"),
        "{recent}"
    );
    let change_id = recent
        .lines()
        .nth(1)
        .and_then(|row| row.split_whitespace().next())
        .expect("a change row")
        .to_string();
    let linked = run(&[
        "evidence", "add", &uploads, "--kind", "change", "--change", &change_id,
    ])
    .await;
    assert!(linked.trim().parse::<i64>().is_ok(), "{linked}");
    let listed = run(&["evidence", "list", &uploads]).await;
    assert!(listed.contains("Object store 3.2 rolled out"), "{listed}");
    let quiet = run(&["evidence", "recent-changes", &incident]).await;
    assert_eq!(quiet, "no changes in the window\n");

    // A log file is attached (its type guessed from its name) and read back as it was.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("store-01.log");
    let lines = "PUT /bucket/x 413\nPUT /bucket/y 413\n";
    std::fs::write(&log, lines).expect("the log is written");
    let log = log.to_str().expect("a UTF-8 path");
    let attached = run(&["evidence", "attach", &incident, &evidence, log]).await;
    let attachment = attached.trim().to_string();
    assert!(
        attachment.parse::<i64>().is_ok(),
        "attach prints the id: {attachment:?}"
    );
    let listed = run(&["evidence", "list", &incident]).await;
    assert!(
        listed.contains(&format!("{attachment}:store-01.log")),
        "{listed}"
    );
    let read = run(&["evidence", "download", &incident, &evidence, &attachment]).await;
    assert_eq!(read, lines);
    let unknown = dir.path().join("core.dump");
    std::fs::write(&unknown, "x").expect("written");
    let refused = aplomb(
        &app,
        &bob,
        &[
            "evidence",
            "attach",
            &incident,
            &evidence,
            unknown.to_str().expect("UTF-8"),
        ],
    )
    .await;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("pass --type"),
        "{refused:?}"
    );

    let hypothesis = run(&[
        "hypothesis",
        "add",
        &incident,
        "The upload size limit was lowered",
        "--for",
        &evidence,
        "--owner",
        "bob",
    ])
    .await;
    let hypothesis = hypothesis.trim().to_string();
    // Supporting it untested is refused with the server's reason and exit code 1.
    let refused = aplomb(
        &app,
        &bob,
        &["hypothesis", "support", &incident, &hypothesis],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("judged on a test"),
        "{refused:?}"
    );
    let tested = run(&[
        "hypothesis",
        "test",
        &incident,
        &hypothesis,
        "--description",
        "Uploaded 6 MB to staging",
        "--result",
        "413 at 5 MB",
    ])
    .await;
    assert!(tested.contains("is testing"), "{tested}");
    let supported = run(&["hypothesis", "support", &incident, &hypothesis]).await;
    assert!(supported.contains("is supported"), "{supported}");
    let listed = run(&["hypothesis", "list", &incident]).await;
    assert!(
        listed.contains(&format!(
            "H{hypothesis} [supported] The upload size limit was lowered"
        )) && listed.contains(&format!("for: {evidence}"))
            && listed.contains("Uploaded 6 MB to staging \u{2192} 413 at 5 MB"),
        "{listed}"
    );
    let json: Value =
        serde_json::from_str(&run(&["hypothesis", "list", &incident, "--json"]).await)
            .expect("--json prints JSON");
    assert_eq!(json[0]["finding"], true);
    // With a finding, identified needs no reason.
    run(&["incident", "status", &incident, "identified"]).await;
    let change = run(&[
        "change",
        "record",
        &incident,
        "--system",
        "object-store",
        "--description",
        "Raised the upload limit to 50 MB",
        "--reference",
        "https://git.example/infra/pull/77",
        "--hypothesis",
        &hypothesis,
        "--rollback",
        "Revert pull request 77",
    ])
    .await;
    let change = change.trim().to_string();
    let rolled = run(&["change", "rollback", &incident, &change]).await;
    assert!(rolled.contains("rolled back"), "{rolled}");
    let listed = run(&["change", "list", &incident]).await;
    assert!(
        listed.contains("rolled_back")
            && listed.contains("object-store")
            && listed.contains("pull/77"),
        "{listed}"
    );
}

async fn a_support_tool_files_reports_and_lists_the_triage_queue_from_the_cli(app: TestApp) {
    let sam = app.user("sam", "responder").await;
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/services",
            Some(serde_json::json!({"name": "search"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let empty = stdout(&aplomb(&app, &sam, &["report", "list"]).await);
    assert_eq!(empty, "No report is waiting.\n");
    let filed = stdout(
        &aplomb(
            &app,
            &sam,
            &[
                "report",
                "file",
                "search",
                "Customer: search shows nothing\nsince this morning",
                "--contact",
                "ticket 4711",
            ],
        )
        .await,
    );
    assert!(
        filed.starts_with("report ") && filed.ends_with(" waits in triage\n"),
        "{filed:?}"
    );
    let listed = stdout(&aplomb(&app, &sam, &["report", "list"]).await);
    assert!(
        listed.contains("SERVICE")
            && listed.contains("search")
            && listed.contains("Customer: search shows nothing since this morning"),
        "one line per report: {listed}"
    );
    let refused = aplomb(&app, &sam, &["report", "file", "nope", "down"]).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("service"), "{stderr}");
    app.shutdown().await;
}

async fn a_forge_integration_is_made_from_the_cli_and_its_webhook_url_works(app: TestApp) {
    let admin = crate::helpers::ADMIN_TOKEN;
    stdout(&aplomb(&app, admin, &["service", "create", "edge"]).await);
    let made = stdout(
        &aplomb(
            &app,
            admin,
            &["integration", "create", "edge", "--kind", "forge"],
        )
        .await,
    );
    let lines: Vec<&str> = made.lines().collect();
    let [key, secret, url] = lines[..] else {
        panic!("the key, the secret and the webhook URL: {made:?}");
    };
    let secret = secret
        .strip_prefix("signing secret: ")
        .unwrap_or_else(|| panic!("{made:?}"));
    let url = url
        .strip_prefix("webhook URL: ")
        .unwrap_or_else(|| panic!("{made:?}"));
    assert_eq!(url, format!("{}/integrations/forge/{key}", app.base));
    let lead = app.user("lena", "responder").await;
    let id = app
        .declare(
            &lead,
            serde_json::json!({"title": "Edge timeouts", "severity": "SEV2"}),
        )
        .await;
    let own = serde_json::json!({"incident_id": id, "system": "edge-lb",
        "description": "Drained the bad node", "reference": "deploy-7"})
    .to_string();
    let signature = aplomb::secret::sign_webhook(secret, app.app.now().as_second(), &own);
    let answer = app
        .http
        .post(url)
        .header("aplomb-signature", signature)
        .body(own)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let listed = stdout(&aplomb(&app, &lead, &["change", "list", &id.to_string()]).await);
    assert!(listed.contains("Drained the bad node"), "{listed}");
    app.shutdown().await;
}
