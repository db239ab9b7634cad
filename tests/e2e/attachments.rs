//! Files attached to evidence, through the running server: a screenshot and a log uploaded
//! through the API and the board's plain form, read back byte for byte with headers that keep
//! a browser from running them; bad uploads refused naming what is wrong; and none of it shown
//! to someone outside a private incident.

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, WebSession};

crate::on_both_backends!(
    files_attach_to_evidence_and_read_back_as_sent,
    bad_attachments_are_refused_naming_what_is_wrong,
    the_board_attaches_through_a_plain_form_and_shows_it,
    an_outsider_sees_no_attachment_of_a_private_incident,
);

/// A 1×1 red PNG.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde\0\0\0\x0cIDATx\x9cc\xf8\xcf\xc0\0\0\x03\x01\x01\0\xc9\xfe\x92\xef\0\0\0\0IEND\xaeB`\x82";

/// An incident with one piece of evidence, declared by a new responder; returns the
/// responder's token and the evidence's path.
async fn evidence(app: &TestApp, username: &str, private: bool) -> (String, String) {
    let token = app.user(username, "responder").await;
    let incident = app
        .declare(
            &token,
            json!({"title": "Edge 5xx", "severity": "SEV2", "private": private}),
        )
        .await;
    let (status, e) = app
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/incidents/{incident}/evidence"),
            Some(json!({"kind": "log", "summary": "Edge logs around 14:02"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    (
        token,
        format!("/api/v1/incidents/{incident}/evidence/{}", e["id"]),
    )
}

/// Uploads `content` as `content_type` (none when empty) to `path`, with `query`.
async fn upload(
    app: &TestApp,
    token: &str,
    path: &str,
    query: &str,
    content_type: &str,
    content: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .post(format!("{}{path}/attachments{query}", app.base))
        .bearer_auth(token)
        .body(content);
    if !content_type.is_empty() {
        request = request.header(CONTENT_TYPE, content_type);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn download(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{url}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
}

async fn files_attach_to_evidence_and_read_back_as_sent(app: TestApp) {
    let (bob, path) = evidence(&app, "bob", false).await;
    let (status, png) = upload(
        &app,
        &bob,
        &path,
        "?name=5xx graph.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{png}");
    assert_eq!(
        (
            &png["name"],
            &png["content_type"],
            &png["size"],
            &png["author"]
        ),
        (
            &json!("5xx graph.png"),
            &json!("image/png"),
            &json!(PNG.len()),
            &json!("bob")
        )
    );
    // A log far beyond a JSON body's limit, sent with an Idempotency-Key: the key's check
    // reads the whole file, and a retry answers the same attachment without a second one.
    let log: String = (0..6000)
        .map(|i| {
            format!(
                "14:02:{:02} edge-01 upstream timeout after 3000ms (request {i})\n",
                i % 60
            )
        })
        .collect();
    assert!(log.len() > 300_000);
    let send_log = async || {
        let response = app
            .http
            .post(format!("{}{path}/attachments?name=edge-01.log", app.base))
            .bearer_auth(&bob)
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .header("idempotency-key", "log-upload-1")
            .body(log.clone())
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        (status, response.json::<Value>().await.expect("JSON"))
    };
    let (status, first) = send_log().await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = send_log().await;
    assert_eq!((status, &again["id"]), (StatusCode::CREATED, &first["id"]));

    let (_, listed) = app
        .call(
            &bob,
            Method::GET,
            path.rsplit_once('/').expect("a path").0,
            None,
        )
        .await;
    let files = &listed[0]["attachments"];
    assert_eq!(files.as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(files[0]["id"], png["id"]);
    assert_eq!(files[1]["name"], "edge-01.log");
    assert_eq!(files[1]["size"], json!(log.len()));

    let image = download(&app, &bob, png["url"].as_str().expect("a url")).await;
    assert_eq!(image.status(), StatusCode::OK);
    let headers = image.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("sandbox")
    );
    assert_eq!(
        headers[CONTENT_DISPOSITION],
        "inline; filename*=UTF-8''5xx%20graph.png"
    );
    assert_eq!(image.bytes().await.expect("bytes").as_ref(), PNG);
    let text = download(&app, &bob, first["url"].as_str().expect("a url")).await;
    assert_eq!(text.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(text.text().await.expect("text"), log);

    // Removed: gone from the list and the URL, kept on the timeline.
    let url = first["url"].as_str().expect("a url");
    let (status, _) = app.call(&bob, Method::DELETE, url, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        download(&app, &bob, url).await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = app.call(&bob, Method::DELETE, url, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let incident: i64 = path
        .split('/')
        .nth(4)
        .and_then(|id| id.parse().ok())
        .expect("an incident id");
    let kinds = crate::paging::timeline_kinds(&app, incident).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "attachment_added").count(),
        2,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"attachment_removed".to_string()),
        "{kinds:?}"
    );

    // Removing the evidence removes its files.
    let (status, _) = app.call(&bob, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let url = png["url"].as_str().expect("a url");
    assert_eq!(
        download(&app, &bob, url).await.status(),
        StatusCode::NOT_FOUND
    );
    app.shutdown().await;
}

async fn bad_attachments_are_refused_naming_what_is_wrong(app: TestApp) {
    let (bob, path) = evidence(&app, "bob", false).await;
    let refused = async |query: &str, content_type: &str, content: Vec<u8>| {
        upload(&app, &bob, &path, query, content_type, content).await
    };
    let field = |v: &Value| v["error"]["field"].as_str().unwrap_or_default().to_string();

    for content_type in ["", "text/html", "image/svg+xml", "application/octet-stream"] {
        let (status, body) = refused(
            "?name=a.txt",
            content_type,
            b"<svg onload=alert(1)>".to_vec(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("image/png"),
            "{body}"
        );
    }
    let (status, body_too_large) = refused(
        "?name=big.log",
        "text/plain",
        vec![b'a'; 2 * 1024 * 1024 + 1],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body_too_large}");
    assert_eq!(
        body_too_large["error"]["message"],
        "the body is larger than 2097152 bytes"
    );
    let (status, body) = refused(
        "?name=fake.png",
        "image/png",
        b"<script>alert(1)</script>".to_vec(),
    )
    .await;
    assert_eq!(
        (status, field(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "body".into()),
        "{body}"
    );
    let (status, body) =
        refused("?name=core.log", "text/plain", vec![0xff, 0xfe, 0x00, 0x01]).await;
    assert_eq!(
        (status, field(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "body".into()),
        "{body}"
    );
    let (status, body) = refused("", "text/plain", b"x".to_vec()).await;
    assert_eq!(
        (status, field(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "name".into()),
        "{body}"
    );
    let (status, body) = refused("?name=..%2Fetc%2Fpasswd", "text/plain", b"x".to_vec()).await;
    assert_eq!(
        (status, field(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "name".into()),
        "{body}"
    );
    let (status, body) = refused("?name=empty.log", "text/plain", Vec::new()).await;
    assert_eq!(
        (status, field(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "body".into()),
        "{body}"
    );

    // Evidence of another incident, or none, is not found; nor is an attachment of another
    // piece of evidence under this one's path.
    let (_, other) = evidence(&app, "carol", false).await;
    let incident = path.split("/evidence").next().expect("a path");
    let elsewhere = format!(
        "{incident}/evidence/{}",
        other.rsplit('/').next().expect("an id")
    );
    let (status, _) = upload(
        &app,
        &bob,
        &elsewhere,
        "?name=a.log",
        "text/plain",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, carols) = upload(
        &app,
        &bob,
        &other,
        "?name=c.log",
        "text/plain",
        b"c".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{carols}");
    let misplaced = format!("{path}/attachments/{}", carols["id"]);
    assert_eq!(
        download(&app, &bob, &misplaced).await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = app.call(&bob, Method::DELETE, &misplaced, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Exactly the limit is taken; one byte more is refused alike with an Idempotency-Key,
    // whose check reads the body first.
    let full = vec![b'a'; 2 * 1024 * 1024];
    let (status, body) = upload(&app, &bob, &other, "?name=full.log", "text/plain", full).await;
    assert_eq!(
        (status, &body["size"]),
        (StatusCode::CREATED, &json!(2 * 1024 * 1024)),
        "{body}"
    );
    let over = app
        .http
        .post(format!("{}{other}/attachments?name=over.log", app.base))
        .bearer_auth(&bob)
        .header(CONTENT_TYPE, "text/plain")
        .header("idempotency-key", "over-1")
        .body(vec![b'a'; 2 * 1024 * 1024 + 1])
        .send()
        .await
        .expect("the server answers");
    assert_eq!(over.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let over: Value = over.json().await.expect("JSON");
    assert_eq!(over["error"]["message"], body_too_large["error"]["message"]);
    // A name whose extension says another type is given its type's.
    let (_, html) = upload(
        &app,
        &bob,
        &other,
        "?name=notes.html",
        "text/plain",
        b"<b>hi</b>".to_vec(),
    )
    .await;
    assert_eq!(html["name"], "notes.html.txt", "{html}");

    // At most ten files on one piece of evidence.
    for i in 0..10 {
        let (status, body) = refused(&format!("?name={i}.log"), "text/plain", b"x".to_vec()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = refused("?name=11.log", "text/plain", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A viewer reads but does not attach; no token is no answer.
    let viewer = app.user("vic", "viewer").await;
    let (status, _) = upload(
        &app,
        &viewer,
        &path,
        "?name=a.log",
        "text/plain",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, listed) = app
        .call(
            &viewer,
            Method::GET,
            path.rsplit_once('/').expect("a path").0,
            None,
        )
        .await;
    let url = listed[0]["attachments"][0]["url"]
        .as_str()
        .expect("a url")
        .to_string();
    assert_eq!(download(&app, &viewer, &url).await.status(), StatusCode::OK);
    let anonymous = app
        .http
        .get(format!("{}{url}", app.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = upload(&app, "", &path, "?name=a.log", "text/plain", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.shutdown().await;
}

/// Posts a multipart form holding `csrf` and one file, as a browser does.
async fn post_file(
    web: &WebSession,
    path: &str,
    csrf: &str,
    file_name: &str,
    content_type: &str,
    content: &[u8],
) -> reqwest::Response {
    let boundary = "----aplomb-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    web.client
        .post(format!("{}{path}", web.base))
        .header("cookie", &web.cookie)
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("the server answers")
}

async fn the_board_attaches_through_a_plain_form_and_shows_it(app: TestApp) {
    let (bob, api_path) = evidence(&app, "bob", false).await;
    let path = api_path.trim_start_matches("/api/v1");
    let page = path.split("/evidence").next().expect("a page").to_string();
    let web = app.web_session("bob").await;
    let csrf = web.csrf().await;
    let (_, html) = web.page(&page).await;
    assert!(
        html.contains(&format!(
            "action=\"{path}/attachments\" enctype=\"multipart/form-data\""
        )),
        "the board offers the form"
    );

    // A browser sends a .log as application/octet-stream: its name tells the type.
    let posted = post_file(
        &web,
        &format!("{path}/attachments"),
        &csrf,
        "edge-01.log",
        "application/octet-stream",
        b"upstream timeout\n",
    )
    .await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        posted.headers()["location"],
        format!("{page}?done=attached")
    );
    let posted = post_file(
        &web,
        &format!("{path}/attachments"),
        &csrf,
        "graph.png",
        "image/png",
        PNG,
    )
    .await;
    assert_eq!(
        posted.headers()["location"],
        format!("{page}?done=attached")
    );

    let (_, html) = web.page(&format!("{page}?done=attached")).await;
    assert!(html.contains("File attached."), "the page says what it did");
    assert!(html.contains(">edge-01.log</a>"), "the log is listed");
    let img = format!("<img src=\"{path}/attachments/");
    let at = html.find(&img).expect("the image is shown") + img.len();
    let image_url = format!(
        "{path}/attachments/{}",
        &html[at..].split('"').next().expect("an id")
    );
    let shown = web.get(&image_url).await;
    assert_eq!(shown.status(), StatusCode::OK);
    assert_eq!(shown.bytes().await.expect("bytes").as_ref(), PNG);

    // A file of no known type, one too big, or a form without its token is refused.
    let refused = post_file(
        &web,
        &format!("{path}/attachments"),
        &csrf,
        "page.html",
        "text/html",
        b"<script>x</script>",
    )
    .await;
    let back = refused.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(back.starts_with(&format!("{page}?error=")), "{back}");
    let (_, html) = web.page(&back).await;
    assert!(html.contains("must be an image"), "the page says why");
    let big = vec![b'a'; 2 * 1024 * 1024 + 1];
    let refused = post_file(
        &web,
        &format!("{path}/attachments"),
        &csrf,
        "big.log",
        "text/plain",
        &big,
    )
    .await;
    let back = refused.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    let (_, html) = web.page(&back).await;
    assert!(html.contains("must be at most 2.0 MiB"), "{back}");
    let forged = post_file(
        &web,
        &format!("{path}/attachments"),
        "forged",
        "a.log",
        "text/plain",
        b"x",
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (_, listed) = app
        .call(
            &bob,
            Method::GET,
            api_path.rsplit_once('/').expect("a path").0,
            None,
        )
        .await;
    assert_eq!(
        listed[0]["attachments"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    app.shutdown().await;
}

async fn an_outsider_sees_no_attachment_of_a_private_incident(app: TestApp) {
    let (bob, path) = evidence(&app, "bob", true).await;
    let (status, file) = upload(
        &app,
        &bob,
        &path,
        "?name=leak.log",
        "text/plain",
        b"token=hunter2".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let url = file["url"].as_str().expect("a url");
    let mallory = app.user("mallory", "responder").await;
    assert_eq!(
        download(&app, &mallory, url).await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = upload(
        &app,
        &mallory,
        &path,
        "?name=x.log",
        "text/plain",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(&mallory, Method::DELETE, url, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let web = app.web_session("mallory").await;
    let (status, body) = web.page(url.trim_start_matches("/api/v1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("hunter2"));
    // The participant still reads it.
    assert_eq!(
        download(&app, &bob, url).await.text().await.expect("text"),
        "token=hunter2"
    );
    app.shutdown().await;
}
