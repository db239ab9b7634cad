//! The web UI in headless Chromium, driven over the W3C WebDriver protocol by chromedriver.
//! Skipped with a notice where Chromium is absent; required under CI.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, password, required};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_responders_run_an_incident_in_the_browser_on_sqlite() {
    story(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_responders_run_an_incident_in_the_browser_on_postgres() {
    story(Db::Postgres).await;
}

/// Bob declares and runs the incident; Carol watches in her own browser and sees his work
/// arrive without reloading.
async fn story(db: Db) {
    let Some(driver) = ChromeDriver::start().await else {
        return;
    };
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    app.user("bob", "responder").await;
    app.user("carol", "responder").await;

    let bob = driver.session().await;
    let carol = driver.session().await;
    bob.login(&app.base, "bob").await;
    carol.login(&app.base, "carol").await;

    bob.go(&format!("{}/incidents/new", app.base)).await;
    bob.type_into("#title", "Search results are empty for EU users")
        .await;
    bob.click("#severity option[value=SEV1]").await;
    bob.click("#incident_type option[value=outage]").await;
    bob.submit("#declare").await;
    let url = bob.url().await;
    let id: i64 = url
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("declaring lands on the incident page, got {url}"));
    assert_eq!(bob.text("#incident-status").await, "triage");
    assert!(bob.text("#unfilled").await.contains("Incident lead"));

    carol.go(&format!("{}/incidents/{id}", app.base)).await;
    assert!(
        carol
            .text("#incident-title")
            .await
            .contains("Search results are empty")
    );

    // Bob fills the three roles SEV1 requires.
    for (role, user) in [
        ("incident_lead", "bob"),
        ("communications_lead", "carol"),
        ("scribe", "bob"),
    ] {
        bob.click(&format!("#role-select option[value={role}]"))
            .await;
        bob.click(&format!("#role-user option[value={user}]")).await;
        bob.submit("#assign-role").await;
    }
    assert!(bob.absent("#unfilled").await, "no unfilled roles remain");
    assert!(bob.text("#roles").await.contains("carol"));

    bob.type_into(
        "#note-text",
        "Index rebuild stalled at 40%; restarting the EU indexer",
    )
    .await;
    bob.submit("#post-note").await;
    bob.wait_for_text("#timeline", "restarting the EU indexer")
        .await;

    // Carol never reloads: the note and the roles reach her page live.
    carol
        .wait_for_text("#timeline", "restarting the EU indexer")
        .await;
    carol.wait_for_text("#roles", "carol").await;

    bob.click("#status-select option[value=resolved]").await;
    bob.submit("#set-status").await;
    // Resolving stops everyone's paging: it is confirmed on a second page first.
    assert!(bob.text("#question").await.contains("Resolve incident"));
    bob.submit("#confirm").await;
    assert_eq!(bob.text("#incident-status").await, "resolved");
    carol.wait_for_text("#incident-status", "resolved").await;

    // The list page shows it resolved, with Bob as lead.
    bob.go(&format!("{}/incidents", app.base)).await;
    let list = bob.text("table.incidents").await;
    assert!(
        list.contains("Search results are empty")
            && list.contains("resolved")
            && list.contains("bob"),
        "{list}"
    );

    bob.close().await;
    carol.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composer_checks_the_tone_while_typing_and_the_status_page_shows_the_update_on_sqlite()
{
    composer_story(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composer_checks_the_tone_while_typing_and_the_status_page_shows_the_update_on_postgres()
 {
    composer_story(Db::Postgres).await;
}

/// Cora, communications lead, types an alarmed draft and sees the tone check's findings
/// appear as she types; she starts again from the template, which reads calm, publishes it,
/// and a customer's browser, signed in nowhere, reads it on the status page.
async fn composer_story(db: Db) {
    let Some(driver) = ChromeDriver::start().await else {
        return;
    };
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let token = app.user("cora", "responder").await;
    let (status, _) = app
        .admin(
            reqwest::Method::POST,
            "/api/v1/status/components",
            Some(json!({"name": "Checkout"})),
        )
        .await;
    assert!(status.is_success());
    let id = app
        .declare(
            &token,
            json!({"title": "Card payments fail", "severity": "SEV2"}),
        )
        .await;
    let cora = driver.session().await;
    cora.login(&app.base, "cora").await;
    cora.go(&format!("{}/incidents/{id}", app.base)).await;
    cora.wait_for_text("#draft-tone", "runs as you write").await;
    cora.type_into("#update-text", "EVERYTHING IS DOWN!! Total meltdown.")
        .await;
    cora.wait_for_text("#draft-tone", "shouting").await;
    let found = cora.text("#draft-tone").await;
    assert!(
        found.contains("stacked_punctuation") && found.contains("panic_word"),
        "{found}"
    );
    assert!(
        cora.absent("#update-list li").await,
        "checking saved nothing"
    );

    cora.click("#template-audience option[value=public]").await;
    cora.click("#template-phase option[value=investigating]")
        .await;
    cora.submit("#use-template").await;
    let draft = cora
        .script("return document.getElementById('update-text').value")
        .await;
    assert!(
        draft
            .as_str()
            .is_some_and(|t| t.starts_with("Some users of the service may see errors")),
        "{draft}"
    );
    cora.wait_for_text("#draft-tone", "nothing to note").await;
    cora.click("select[name='component:Checkout'] option[value=degraded_performance]")
        .await;
    cora.submit("#publish-update").await;
    cora.wait_for_text("#update-list", "published").await;

    let reader = driver.session().await;
    reader.go(&format!("{}/status", app.base)).await;
    reader
        .wait_for_text(
            &format!("#incident-{id}"),
            "Some users of the service may see errors",
        )
        .await;
    assert!(
        reader
            .text(&format!("#incident-{id}"))
            .await
            .contains("Card payments fail")
    );
    assert!(
        reader
            .text("#components")
            .await
            .contains("Degraded performance"),
        "{}",
        reader.text("#components").await
    );

    cora.close().await;
    reader.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_investigation_board_is_worked_in_one_browser_and_seen_in_another_on_sqlite() {
    board_story(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_investigation_board_is_worked_in_one_browser_and_seen_in_another_on_postgres() {
    board_story(Db::Postgres).await;
}

/// Bob adds evidence and a hypothesis, tests it and marks it supported; Carol, on the same
/// incident in her own browser, sees each step arrive without reloading.
async fn board_story(db: Db) {
    let Some(driver) = ChromeDriver::start().await else {
        return;
    };
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let token = app.user("bob", "responder").await;
    app.user("carol", "responder").await;
    let id = app
        .declare(
            &token,
            json!({"title": "Logins time out", "severity": "SEV2"}),
        )
        .await;
    let page = format!("{}/incidents/{id}", app.base);
    let bob = driver.session().await;
    let carol = driver.session().await;
    bob.login(&app.base, "bob").await;
    carol.login(&app.base, "carol").await;
    bob.go(&page).await;
    carol.go(&page).await;
    assert!(carol.text("#findings").await.contains("No finding yet"));
    assert!(carol.text("#users-told").await.contains("no update yet"));

    bob.click("#evidence-kind option[value=metric]").await;
    bob.type_into("#evidence-summary", "Auth service p99 at 9 s since 08:40")
        .await;
    bob.click("#evidence-pinned").await;
    bob.submit("#add-evidence").await;
    carol
        .wait_for_text("#evidence", "Auth service p99 at 9 s since 08:40")
        .await;
    assert!(carol.text("#evidence").await.contains("pinned"));

    // A screenshot picked in the file chooser shows, as an image, on Carol's page.
    let (_, evidence) = app
        .call(
            &token,
            reqwest::Method::GET,
            &format!("/api/v1/incidents/{id}/evidence"),
            None,
        )
        .await;
    let eid = evidence[0]["id"].as_i64().expect("evidence");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let screenshot = dir.path().join("auth-p99.png");
    std::fs::write(&screenshot, crate::attachments::PNG).expect("the file is written");
    bob.type_into(
        &format!("#attach-{eid}"),
        screenshot.to_str().expect("a UTF-8 path"),
    )
    .await;
    bob.submit(&format!("#attach-{eid}-submit")).await;
    carol.wait_for_text("#evidence", "auth-p99.png").await;
    carol
        .wait_for_script(
            "var i = document.querySelector('#evidence img.thumb'); \
             return i && i.complete ? String(i.naturalWidth) : 'loading';",
            "1",
        )
        .await;

    bob.type_into(
        "#hypothesis-statement",
        "The session store is out of connections",
    )
    .await;
    bob.submit("#add-hypothesis").await;
    carol
        .wait_for_text("#hypotheses", "The session store is out of connections")
        .await;
    let (_, hypotheses) = app
        .call(
            &token,
            reqwest::Method::GET,
            &format!("/api/v1/incidents/{id}/hypotheses"),
            None,
        )
        .await;
    let hid = hypotheses[0]["id"].as_i64().expect("a hypothesis");

    bob.click(&format!("#hypothesis-{hid} details summary"))
        .await;
    bob.type_into(
        &format!("#hypothesis-{hid}-test"),
        "Counted the store's open connections",
    )
    .await;
    bob.type_into(&format!("#hypothesis-{hid}-result"), "512 of 512 in use")
        .await;
    bob.submit(&format!("#hypothesis-{hid}-record")).await;
    carol
        .wait_for_text(&format!("#hypothesis-{hid}-state"), "testing")
        .await;
    bob.submit(&format!("#hypothesis-{hid}-supported")).await;
    carol
        .wait_for_text(&format!("#hypothesis-{hid}-state"), "supported")
        .await;
    carol.wait_for_text("#findings", "1 finding").await;
    assert!(
        carol
            .text(&format!("#hypothesis-{hid}"))
            .await
            .contains("512 of 512 in use")
    );

    // With a finding, identified needs no reason.
    bob.click("#status-select option[value=identified]").await;
    bob.submit("#set-status").await;
    assert_eq!(bob.text("#incident-status").await, "identified");
    carol.wait_for_text("#incident-status", "identified").await;

    bob.close().await;
    carol.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_refresh_brings_the_controls_up_to_date_on_sqlite() {
    live_refresh_keeps_controls_current(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_refresh_brings_the_controls_up_to_date_on_postgres() {
    live_refresh_keeps_controls_current(Db::Postgres).await;
}

/// Bob is typing a note when Alice raises the incident to SEV1. His header, and his severity
/// and status controls, follow without a reload; he keeps his focus and his half-typed note;
/// and a severity he then sets is made from the version he now sees.
async fn live_refresh_keeps_controls_current(db: Db) {
    let Some(driver) = ChromeDriver::start().await else {
        return;
    };
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let alice = app.user("alice", "responder").await;
    app.user("bob", "responder").await;
    let id = app
        .declare(
            &alice,
            json!({"title": "Card payments fail", "severity": "SEV2"}),
        )
        .await;
    let bob = driver.session().await;
    bob.login(&app.base, "bob").await;
    bob.go(&format!("{}/incidents/{id}", app.base)).await;
    bob.click("#note-text").await;
    bob.type_into("#note-text", "Half a thought about the")
        .await;

    let (status, _) = app
        .call(
            &alice,
            reqwest::Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"severity": "SEV1", "status": "investigating"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    bob.wait_for_text("#incident-severity", "SEV1").await;
    bob.wait_for_script(
        "return document.getElementById('severity-select').value",
        "SEV1",
    )
    .await;
    assert_eq!(
        bob.script("return document.getElementById('status-select').value")
            .await,
        "investigating"
    );
    assert_eq!(
        bob.script("return document.activeElement.id").await,
        "note-text",
        "focus stays where Bob was typing"
    );
    assert_eq!(
        bob.script("return document.getElementById('note-text').value")
            .await,
        "Half a thought about the"
    );

    // What he now sees is current: his change is made from it and goes through.
    bob.click("#severity-select option[value=SEV2]").await;
    bob.submit("#set-severity").await;
    bob.submit("#confirm").await;
    assert_eq!(bob.text("#incident-severity").await, "SEV2");
    assert!(bob.absent(".error").await, "no stale-form error");

    bob.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_focus_is_visible_kept_and_announced_on_sqlite() {
    keyboard_story(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_focus_is_visible_kept_and_announced_on_postgres() {
    keyboard_story(Db::Postgres).await;
}

/// The contrast of a focused element's outline against the page, as WCAG computes it.
const OUTLINE_CONTRAST: &str = "
    function lum(c) {
        var v = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(function (x) {
            x = Number(x) / 255;
            return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
    }
    var outline = getComputedStyle(document.activeElement).outlineColor;
    var page = getComputedStyle(document.body).backgroundColor;
    var a = lum(outline), b = lum(page);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);";

/// Dan works the keyboard: the first Tab reaches "Skip to content", focus rings are visible,
/// and after "Set severity" the page says what happened and puts him back on the control.
async fn keyboard_story(db: Db) {
    let Some(driver) = ChromeDriver::start().await else {
        return;
    };
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let dan = app.user("dan", "responder").await;
    let id = app
        .declare(
            &dan,
            json!({"title": "Webhooks are delayed", "severity": "SEV3"}),
        )
        .await;
    let browser = driver.session().await;
    browser.login(&app.base, "dan").await;
    browser.go(&format!("{}/incidents/{id}", app.base)).await;
    browser.press("\u{E004}").await;
    assert_eq!(
        browser
            .script("return document.activeElement.textContent")
            .await,
        "Skip to content"
    );
    let contrast = browser.script(OUTLINE_CONTRAST).await;
    assert!(
        contrast.as_f64().is_some_and(|c| c >= 3.0),
        "the skip link's focus ring contrast is {contrast}"
    );
    browser
        .script("document.getElementById('set-severity').focus()")
        .await;
    let contrast = browser.script(OUTLINE_CONTRAST).await;
    assert!(
        contrast.as_f64().is_some_and(|c| c >= 3.0),
        "a button's focus ring contrast is {contrast}"
    );

    browser.click("#severity-select option[value=SEV2]").await;
    browser.submit("#set-severity").await;
    if browser.find("#confirm").await.is_some() {
        browser.submit("#confirm").await;
    }
    browser
        .wait_for_script("return document.activeElement.id", "severity-select")
        .await;
    browser
        .wait_for_text("#announce", "Severity set to SEV2")
        .await;
    assert_eq!(
        browser
            .script("return document.getElementById('announce').getAttribute('aria-live')")
            .await,
        "polite"
    );

    browser.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_nothing_scrolls_sideways_and_acknowledging_comes_first_on_sqlite() {
    phone_story(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_nothing_scrolls_sideways_and_acknowledging_comes_first_on_postgres() {
    phone_story(Db::Postgres).await;
}

/// How far the page scrolls sideways (0 when it fits its window).
const SIDEWAYS: &str =
    "return document.documentElement.scrollWidth - document.documentElement.clientWidth";

/// Bob, paged at 3 a.m., on a 390-pixel phone: the incident and alert lists fit
/// the screen with their Declared, Summary and Last columns, and on the incident page the
/// Acknowledge button and the note box come before the timeline.
async fn phone_story(db: Db) {
    let Some(driver) = ChromeDriver::start().await else {
        return;
    };
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let bob = app.user("bob", "responder").await;
    let (status, _) = app
        .admin(
            reqwest::Method::POST,
            "/api/v1/services",
            Some(json!({"name": "search-frontend-eu-west"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let (status, integration) = app
        .admin(
            reqwest::Method::POST,
            "/api/v1/services/search-frontend-eu-west/integrations",
            Some(json!({"kind": "events_v2"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{integration}");
    let key = integration["routing_key"].as_str().expect("a routing key");
    let alert = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "p99",
        "payload": {"summary": "Search p99 latency above 2 s in eu-west-1 for 15 minutes on every shard",
                    "source": "search-frontend-eu-west-1.internal.example.org", "severity": "critical"}});
    let sent = app
        .http
        .post(format!("{}/v2/enqueue", app.base))
        .json(&alert)
        .send()
        .await
        .expect("answer");
    assert_eq!(sent.status(), reqwest::StatusCode::ACCEPTED);
    let id = app
        .declare(
            &bob,
            json!({"title": "Checkout returns 502 for a share of EU card payments after the 02:40 deploy",
                   "severity": "SEV1", "summary": "Rollback under way"}),
        )
        .await;
    for n in 0..30 {
        let (status, _) = app
            .call(
                &bob,
                reqwest::Method::POST,
                &format!("/api/v1/incidents/{id}/timeline"),
                Some(json!({"text": format!("Finding {n}: the EU card processor answers 502 to one request in five")})),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::CREATED);
    }

    let phone = driver.session().await;
    let r = phone
        .command(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": 390, "height": 844})),
        )
        .await;
    assert!(r["width"].is_number(), "resizing the window: {r}");
    assert!(
        phone
            .script("return window.innerWidth")
            .await
            .as_i64()
            .is_some_and(|w| w <= 400),
        "a phone-sized window"
    );
    phone.login(&app.base, "bob").await;
    for page in ["/incidents", "/alerts"] {
        phone.go(&format!("{}{page}", app.base)).await;
        assert_eq!(phone.script(SIDEWAYS).await, 0, "{page} scrolls sideways");
    }
    phone.go(&format!("{}/incidents", app.base)).await;
    let declared = phone
        .script("var c = document.querySelector('table.incidents td[data-label=Declared]'); return c.getBoundingClientRect().width > 0 && c.getBoundingClientRect().right <= window.innerWidth")
        .await;
    assert_eq!(declared, true, "Declared is shown on the phone");
    phone.go(&format!("{}/alerts", app.base)).await;
    for column in ["Summary", "Last"] {
        let shown = phone
            .script(&format!("var c = document.querySelector('table.alerts td[data-label={column}]'); return !!c && c.getBoundingClientRect().width > 0 && c.getBoundingClientRect().right <= window.innerWidth"))
            .await;
        assert_eq!(shown, true, "{column} is shown on the phone");
    }

    phone.go(&format!("{}/incidents/{id}", app.base)).await;
    assert_eq!(
        phone.script(SIDEWAYS).await,
        0,
        "the incident page scrolls sideways"
    );
    let top =
        |css: &str| format!("return document.querySelector('{css}').getBoundingClientRect().top");
    let (acknowledge, note, timeline) = (
        phone.script(&top("#acknowledge")).await,
        phone.script(&top("#note-text")).await,
        phone.script(&top("#timeline")).await,
    );
    let (acknowledge, note, timeline) = (
        acknowledge.as_f64().expect("a position"),
        note.as_f64().expect("a position"),
        timeline.as_f64().expect("a position"),
    );
    assert!(
        acknowledge < timeline && note < timeline,
        "acknowledge at {acknowledge}, note at {note}, timeline at {timeline}"
    );

    phone.close().await;
    app.shutdown().await;
}

/// A chromedriver process on a free loopback port, killed on drop.
struct ChromeDriver {
    base: String,
    http: reqwest::Client,
    _child: tokio::process::Child,
    profiles: tempfile::TempDir,
}

impl ChromeDriver {
    async fn start() -> Option<Self> {
        let (driver, chromium) = ("/usr/bin/chromedriver", "/usr/bin/chromium");
        if !Path::new(driver).exists() || !Path::new(chromium).exists() {
            assert!(
                !required(),
                "the browser suite is required under CI: install chromium and chromium-driver"
            );
            eprintln!(
                "NOTICE: skipping the browser suite: {driver} or {chromium} is missing (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return Some(Self {
                    base,
                    http,
                    _child: child,
                    profiles: tempfile::tempdir().expect("a temp dir"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready on port {port}");
    }

    async fn session(&self) -> Browser {
        let profile = tempfile::tempdir_in(self.profiles.path())
            .expect("a profile dir")
            .keep();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let created: Value = self
            .http
            .post(format!("{}/session", self.base))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("json");
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a browser session: {created}"));
        Browser {
            base: format!("{}/session/{id}", self.base),
            http: self.http.clone(),
        }
    }
}

struct Browser {
    base: String,
    http: reqwest::Client,
}

impl Browser {
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        request = request.json(&body.unwrap_or(json!({})));
        let answer: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("json");
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn find(&self, css: &str) -> Option<String> {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT_KEY].as_str().map(String::from)
    }

    async fn element(&self, css: &str) -> String {
        self.find(css)
            .await
            .unwrap_or_else(|| panic!("no element matches {css}"))
    }

    async fn absent(&self, css: &str) -> bool {
        self.find(css).await.is_none()
    }

    async fn click(&self, css: &str) {
        let el = self.element(css).await;
        let r = self
            .command(reqwest::Method::POST, &format!("/element/{el}/click"), None)
            .await;
        assert!(r.is_null(), "clicking {css}: {r}");
    }

    /// Clicks a submit button and waits until the browser has loaded the page it leads to.
    async fn submit(&self, css: &str) {
        let old_page = self.element("html").await;
        self.click(css).await;
        // Generous: CI runs the browser beside the rest of the suite on two cores.
        for _ in 0..300 {
            let probe = self
                .command(
                    reqwest::Method::GET,
                    &format!("/element/{old_page}/name"),
                    None,
                )
                .await;
            let navigated = probe["error"] == "stale element reference";
            let ready = self
                .command(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({"script": "return document.readyState", "args": []})),
                )
                .await;
            if navigated && ready == "complete" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("submitting {css} did not load a new page within 15 s");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.element(css).await;
        let r = self
            .command(
                reqwest::Method::POST,
                &format!("/element/{el}/value"),
                Some(json!({"text": text})),
            )
            .await;
        assert!(r.is_null(), "typing into {css}: {r}");
    }

    async fn text(&self, css: &str) -> String {
        let el = self.element(css).await;
        self.command(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Polls (the page updates itself; we only look) until `css` contains `wanted`.
    async fn wait_for_text(&self, css: &str, wanted: &str) {
        let mut last = String::new();
        for _ in 0..100 {
            if let Some(el) = self.find(css).await {
                last = self
                    .command(reqwest::Method::GET, &format!("/element/{el}/text"), None)
                    .await
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                if last.contains(wanted) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{wanted:?} never appeared in {css} within 10 s; last saw {last:?}");
    }

    /// Presses and releases one key (a WebDriver key code such as Tab, `\u{E004}`).
    async fn press(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]});
        let r = self
            .command(reqwest::Method::POST, "/actions", Some(actions))
            .await;
        assert!(r.is_null(), "pressing {key:?}: {r}");
    }

    /// Runs `script` in the page and returns what it returns.
    async fn script(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Polls until `script` returns `wanted`.
    async fn wait_for_script(&self, script: &str, wanted: &str) {
        let mut last = Value::Null;
        for _ in 0..100 {
            last = self.script(script).await;
            if last == wanted {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{script} never returned {wanted:?} within 10 s; last {last}");
    }

    async fn login(&self, base: &str, username: &str) {
        self.go(&format!("{base}/login")).await;
        self.type_into("#username", username).await;
        self.type_into("#password", &password(username)).await;
        self.submit("#sign-in").await;
        let url = self.url().await;
        assert!(
            url.ends_with("/incidents"),
            "{username} lands on the incident list, got {url}"
        );
    }

    async fn close(&self) {
        self.command(reqwest::Method::DELETE, "", None).await;
    }
}
