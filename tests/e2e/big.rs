//! A long-running incident with a long timeline: the API and the page read it a window at a
//! time, a live update carries only what is new, and announcements are coalesced.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

crate::on_both_backends!(
    a_long_timeline_is_read_a_page_at_a_time,
    the_incident_page_shows_the_latest_entries_and_pages_back,
    announcements_of_one_incident_are_coalesced,
);

/// Declares an incident as `token`'s user and adds `notes` notes ("note 0", "note 1", …)
/// through the application (the HTTP path of a note is tested elsewhere; this is set-up).
async fn incident_with_notes(app: &TestApp, token: &str, notes: usize) -> i64 {
    let id = app
        .declare(token, json!({"title": "Long outage", "severity": "SEV3"}))
        .await;
    let actor = app
        .app
        .actor_for_token(token)
        .await
        .expect("db")
        .expect("a user");
    for n in 0..notes {
        app.app
            .add_note(&actor, id, &format!("note {n}"))
            .await
            .expect("a note");
    }
    id
}

async fn get_page(app: &TestApp, token: &str, path: &str) -> (StatusCode, Option<String>, Value) {
    let response = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let link = response
        .headers()
        .get("link")
        .map(|v| v.to_str().expect("text").to_string());
    (status, link, response.json().await.expect("json"))
}

fn texts(entries: &Value) -> Vec<String> {
    entries
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["text"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The path inside `<…>` of a `Link` header.
fn link_path(link: &str) -> String {
    link.split(['<', '>']).nth(1).expect("a link").to_string()
}

async fn a_long_timeline_is_read_a_page_at_a_time(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let id = incident_with_notes(&app, &bob, 250).await;
    let path = format!("/api/v1/incidents/{id}/timeline");

    // By default the latest 100, oldest first, with a link to the ones before.
    let (status, link, latest) = get_page(&app, &bob, &path).await;
    assert_eq!(status, StatusCode::OK);
    let shown = texts(&latest);
    assert_eq!(shown.len(), 100);
    assert_eq!(shown.last().map(String::as_str), Some("note 249"));
    assert_eq!(shown[0], "note 150");
    let link = link.expect("a Link to earlier entries");
    assert!(link.ends_with("rel=\"prev\""), "{link}");

    // Following the links back reaches the declaration, each entry once, in order.
    let mut all: Vec<Value> = latest.as_array().expect("a list").clone();
    let mut next = Some(link);
    while let Some(link) = next {
        let (status, link, earlier) = get_page(&app, &bob, &link_path(&link)).await;
        assert_eq!(status, StatusCode::OK);
        let mut page = earlier.as_array().expect("a list").clone();
        page.extend(all);
        all = page;
        next = link;
    }
    let ids: Vec<i64> = all
        .iter()
        .map(|e| e["id"].as_i64().expect("an id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, no repeats");
    assert_eq!(all[0]["kind"], "declared");
    assert_eq!(all.iter().filter(|e| e["kind"] == "note").count(), 250);

    // Reading forward from an entry: the next ones, with a link onwards.
    let from = ids[10];
    let (status, link, forward) =
        get_page(&app, &bob, &format!("{path}?after={from}&limit=5")).await;
    assert_eq!(status, StatusCode::OK);
    let got: Vec<i64> = forward
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["id"].as_i64().expect("an id"))
        .collect();
    assert_eq!(got, ids[11..16].to_vec());
    assert!(
        link.is_some_and(
            |l| l.contains(&format!("after={}", ids[15])) && l.ends_with("rel=\"next\"")
        )
    );
    // The last page going forward has no link.
    let (_, link, _) = get_page(&app, &bob, &format!("{path}?after={}", ids[ids.len() - 3])).await;
    assert_eq!(link, None);

    // The document says so too: optional query parameters, the limit's bounds.
    let (_, doc) = app
        .call(&bob, Method::GET, "/api/v1/openapi.json", None)
        .await;
    let params = doc["paths"]["/api/v1/incidents/{id}/timeline"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .clone();
    for name in ["after", "before", "limit"] {
        let p = params.iter().find(|p| p["name"] == name).expect(name);
        assert_eq!(
            (p["in"].as_str(), p["required"].as_bool()),
            (Some("query"), Some(false)),
            "{p}"
        );
    }
    let limit = params.iter().find(|p| p["name"] == "limit").expect("limit");
    assert_eq!(
        (
            limit["schema"]["minimum"].as_i64(),
            limit["schema"]["maximum"].as_i64()
        ),
        (Some(1), Some(1000)),
        "{limit}"
    );

    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=-1", "limit"),
        ("?before=latest", "before"),
        ("?after=1&before=9", "before"),
    ] {
        let (status, body) = app
            .call(&bob, Method::GET, &format!("{path}{query}"), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
}

/// The ids of the timeline entries in a page or live update, in document order.
fn entry_ids(html: &str) -> Vec<i64> {
    html.split("data-entry=\"")
        .skip(1)
        .map(|rest| {
            rest.split('"')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("an id")
        })
        .collect()
}

/// The value of `attribute` on the element with id `id`.
fn attribute(html: &str, id: &str, attribute: &str) -> Option<String> {
    let tag = html
        .split(&format!("id=\"{id}\""))
        .nth(1)?
        .split('>')
        .next()?;
    let value = tag
        .split(&format!("{attribute}=\""))
        .nth(1)?
        .split('"')
        .next()?;
    Some(value.replace("&#x3f;", "?").replace("&#x3d;", "="))
}

async fn the_incident_page_shows_the_latest_entries_and_pages_back(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let id = incident_with_notes(&app, &bob, 250).await;
    let web = app.web_session("bob").await;

    let page = web
        .get(&format!("/incidents/{id}"))
        .await
        .text()
        .await
        .expect("html");
    let shown = entry_ids(&page);
    assert_eq!(shown.len(), 100, "the latest 100 entries");
    assert!(page.contains("note 249") && !page.contains("note 149<"));
    let last = *shown.last().expect("entries");
    assert_eq!(
        attribute(&page, "timeline", "data-after"),
        Some(last.to_string())
    );
    let earlier = attribute(&page, "timeline-earlier", "href").expect("an earlier link");
    assert_eq!(earlier, format!("/incidents/{id}?before={}", shown[0]));

    // The earlier window: the 100 before, not followed live, with a way back to the latest.
    let before = web.get(&earlier).await.text().await.expect("html");
    let older = entry_ids(&before);
    assert_eq!(older.len(), 100);
    assert!(older.iter().all(|e| *e < shown[0]));
    assert!(before.contains("note 149") && !before.contains("note 150<"));
    assert_eq!(attribute(&before, "timeline", "data-after"), None);
    assert!(before.contains("id=\"timeline-latest\""));

    // A live update after the page's last entry carries nothing old; after a note, only it.
    let live = format!("/incidents/{id}/live?after={last}");
    let update = web.get(&live).await.text().await.expect("html");
    assert!(update.contains("id=\"timeline-new\""), "{update}");
    assert_eq!(entry_ids(&update), Vec::<i64>::new());
    let (status, _) = app
        .call(
            &bob,
            Method::POST,
            &format!("/api/v1/incidents/{id}/timeline"),
            Some(json!({"text": "rolled back the EU deploy"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let update = web.get(&live).await.text().await.expect("html");
    let new = entry_ids(&update);
    assert_eq!(new.len(), 1, "{update}");
    assert!(update.contains("rolled back the EU deploy"));
    assert!(
        update.len() < 10 * 1024,
        "a live update of one entry is {} bytes",
        update.len()
    );
    assert_eq!(
        attribute(&update, "timeline-new", "data-after"),
        Some(new[0].to_string())
    );
    assert_eq!(attribute(&update, "timeline-new", "data-gap"), None);

    // A page that missed more than a live update carries starts over from the latest.
    let far = web
        .get(&format!("/incidents/{id}/live?after=0"))
        .await
        .text()
        .await
        .expect("html");
    assert_eq!(
        attribute(&far, "timeline-new", "data-gap"),
        Some("1".into())
    );
    assert_eq!(entry_ids(&far).len(), 100);
    assert!(attribute(&far, "timeline-new", "data-earlier").is_some());

    // Without a cursor the update is the header alone.
    let header = web
        .get(&format!("/incidents/{id}/live"))
        .await
        .text()
        .await
        .expect("html");
    assert!(!header.contains("timeline-new") && header.contains("Long outage"));
}

async fn announcements_of_one_incident_are_coalesced(app: TestApp) {
    let bob = app.user("bob", "responder").await;
    let id = incident_with_notes(&app, &bob, 0).await;
    let actor = app
        .app
        .actor_for_token(&bob)
        .await
        .expect("db")
        .expect("bob");
    let mut changes = app.app.subscribe();
    let heard = tokio::spawn(async move {
        let mut at = Vec::new();
        while let Ok(Ok(change)) =
            tokio::time::timeout(Duration::from_secs(2), changes.recv()).await
        {
            if change.incident_id == id {
                at.push(Instant::now());
            }
        }
        at
    });
    let started = Instant::now();
    let mut last_started = started;
    for n in 0..20 {
        last_started = Instant::now();
        app.app
            .add_note(&actor, id, &format!("check {n}"))
            .await
            .expect("a note");
    }
    let took = started.elapsed();
    let heard = heard.await.expect("listener");
    // At most one announcement per 500 ms, plus the first and the one carrying the last.
    let bound = 2 + (took.as_millis() / 500) as usize;
    assert!(
        !heard.is_empty() && heard.len() <= bound.min(19),
        "{} announcements for 20 changes in {took:?}",
        heard.len()
    );
    // The last change is announced too: nothing committed is left unannounced.
    assert!(heard.last().is_some_and(|t| *t >= last_started));
}
