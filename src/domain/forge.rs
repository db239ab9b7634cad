//! Response changes from code forges: a push or a merged pull (merge) request that names an
//! incident in a commit message, its title, its description or a label (`incident: 42`,
//! `Incident-42`) is a change made during that incident's response. The formats are in
//! shared/design/CONTRACTS.md §10; this module reads them, and `ForgeProof::verify` checks that
//! their sender holds the integration's secret (pure functions of `crate::secret`).

use jiff::Timestamp;
use serde_json::Value;

use super::FieldError;
use crate::secret::{constant_time_eq, hmac_hex, sign_webhook};

/// The integration kind whose routing key takes forge webhooks (and no monitoring events).
pub const FORGE_KIND: &str = "forge";

/// How long a delivery id is remembered against redelivery. Forges redeliver on their own
/// within hours, and on a person's request for a few days at most.
pub const DELIVERY_MEMORY_DAYS: i64 = 30;

/// Which forge a webhook comes from, and which of its events it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeEvent {
    GitHubPush,
    GitHubPullRequest,
    GitLabPush,
    GitLabMergeRequest,
    /// aplomb's own shape: `{"incident_id", "system", "description", "reference", "rollback"}`.
    Generic,
    /// An event that records nothing (GitHub's `ping`, an issue comment, …).
    Other,
}

impl ForgeEvent {
    /// From GitHub's `X-GitHub-Event` header.
    pub fn github(event: &str) -> Self {
        match event {
            "push" => Self::GitHubPush,
            "pull_request" => Self::GitHubPullRequest,
            _ => Self::Other,
        }
    }

    /// From GitLab's `X-Gitlab-Event` header.
    pub fn gitlab(event: &str) -> Self {
        match event {
            "Push Hook" => Self::GitLabPush,
            "Merge Request Hook" => Self::GitLabMergeRequest,
            _ => Self::Other,
        }
    }

    /// What the timeline calls its source: "a GitHub push".
    pub fn label(self) -> &'static str {
        match self {
            Self::GitHubPush => "a GitHub push",
            Self::GitHubPullRequest => "a merged GitHub pull request",
            Self::GitLabPush => "a GitLab push",
            Self::GitLabMergeRequest => "a merged GitLab merge request",
            Self::Generic => "a signed webhook",
            Self::Other => "a forge event",
        }
    }
}

/// What a webhook carries to show it comes from whoever holds the integration's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeProof<'a> {
    /// GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
    GitHub(Option<&'a str>),
    /// GitLab's `X-Gitlab-Token: <secret>` (a shared token, not a signature).
    GitLab(Option<&'a str>),
    /// aplomb's own `Aplomb-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
    Signed(Option<&'a str>),
}

/// How far a signed webhook's time may be from ours; an older signature is a replay.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

impl ForgeProof<'_> {
    /// Whether the webhook is the secret holder's; the error says what is wrong with the
    /// proof, never what the secret is. Secrets and signatures are compared in constant time.
    pub fn verify(self, secret: &str, body: &[u8], now: Timestamp) -> Result<(), &'static str> {
        let same = |given: &str, expected: &str, wrong| {
            if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                Ok(())
            } else {
                Err(wrong)
            }
        };
        match self {
            Self::GitHub(header) => {
                let given = header
                    .ok_or("X-Hub-Signature-256 is missing")?
                    .strip_prefix("sha256=")
                    .ok_or("X-Hub-Signature-256 is not sha256=<hex>")?;
                same(
                    given,
                    &hmac_hex(secret, body),
                    "X-Hub-Signature-256 does not match the body and this integration's secret",
                )
            }
            Self::GitLab(header) => same(
                header.ok_or("X-Gitlab-Token is missing")?,
                secret,
                "X-Gitlab-Token is not this integration's secret",
            ),
            Self::Signed(header) => {
                let (t, v1) = header
                    .and_then(signature_parts)
                    .ok_or("Aplomb-Signature is missing or not t=<unix seconds>,v1=<hex>")?;
                if now.as_second().abs_diff(t) > SIGNATURE_TOLERANCE_SECONDS.unsigned_abs() {
                    return Err("Aplomb-Signature's time is more than five minutes from ours");
                }
                same(
                    &format!("t={t},v1={v1}"),
                    &sign_webhook(secret, t, body),
                    "Aplomb-Signature does not match the body and this integration's secret",
                )
            }
        }
    }
}

/// The one way to write a signature header, `t=<t>,v1=<lower-case hex>`: the delivery id of
/// aplomb's own shape, so a replay is recognised however its header is respelled.
pub fn signature_id(header: &str) -> Option<String> {
    signature_parts(header).map(|(t, v1)| format!("t={t},v1={}", v1.to_ascii_lowercase()))
}

/// `t=<unix seconds>,v1=<hex>` → its time and its first `v1`.
fn signature_parts(header: &str) -> Option<(i64, &str)> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse().ok(),
            Some(("v1", value)) if v1.is_none() => v1 = Some(value),
            _ => {}
        }
    }
    Some((t?, v1?))
}

/// One change a forge event reports, for each incident it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeChange {
    pub incidents: Vec<i64>,
    /// The repository (or what the generic shape names).
    pub system: String,
    pub description: String,
    /// The commit's or the request's URL: a change is recorded once per incident and reference.
    pub reference: Option<String>,
    pub rollback: Option<String>,
}

/// The longest description taken from a commit message or a title.
const DESCRIPTION_CHARS: usize = 500;

/// The changes `body` reports: one per commit naming an incident, one per merged request
/// naming one. A body without the fields its event must have is the field's error.
pub fn changes(event: ForgeEvent, body: &Value) -> Result<Vec<ForgeChange>, FieldError> {
    match event {
        ForgeEvent::GitHubPush => push(body, "repository"),
        ForgeEvent::GitLabPush => push(body, "project"),
        ForgeEvent::GitHubPullRequest => github_pull_request(body),
        ForgeEvent::GitLabMergeRequest => gitlab_merge_request(body),
        ForgeEvent::Generic => generic(body).map(|c| vec![c]),
        ForgeEvent::Other => Ok(Vec::new()),
    }
}

/// The text at `field` (`repository.full_name`), or that field's error.
fn text<'a>(body: &'a Value, field: &'static str) -> Result<&'a str, FieldError> {
    body.pointer(&format!("/{}", field.replace('.', "/")))
        .and_then(Value::as_str)
        .ok_or_else(|| FieldError::new(field, "is missing or not a string"))
}

fn optional_text<'a>(body: &'a Value, pointer: &str) -> &'a str {
    body.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A push's commits that name an incident. `repository` is where the payload describes the
/// repository: GitHub's `repository`, GitLab's `project`. Only a push to the repository's
/// default branch (when the payload names it) changes production: work on other branches
/// reaches it through a merged request.
fn push(body: &Value, repository: &'static str) -> Result<Vec<ForgeChange>, FieldError> {
    let system = match repository {
        "project" => text(body, "project.path_with_namespace")?,
        _ => text(body, "repository.full_name")?,
    };
    let branch = optional_text(body, "/ref").trim_start_matches("refs/heads/");
    let default = optional_text(body, &format!("/{repository}/default_branch"));
    if !branch.is_empty() && !default.is_empty() && branch != default {
        return Ok(Vec::new());
    }
    let commits = body
        .get("commits")
        .and_then(Value::as_array)
        .ok_or_else(|| FieldError::new("commits", "is missing or not a list"))?;
    Ok(commits
        .iter()
        .filter_map(|commit| {
            let message = optional_text(commit, "/message");
            let incidents = incident_refs(message);
            if incidents.is_empty() {
                return None;
            }
            let first = shortened(message.lines().next().unwrap_or_default());
            let description = if branch.is_empty() {
                first
            } else {
                format!("Pushed to {branch}: {first}")
            };
            let reference = [optional_text(commit, "/url"), optional_text(commit, "/id")]
                .into_iter()
                .find(|r| !r.is_empty())
                .map(str::to_string);
            Some(ForgeChange {
                incidents,
                system: system.to_string(),
                description,
                reference,
                rollback: None,
            })
        })
        .collect())
}

fn github_pull_request(body: &Value) -> Result<Vec<ForgeChange>, FieldError> {
    let system = text(body, "repository.full_name")?;
    let pull = body
        .get("pull_request")
        .ok_or_else(|| FieldError::new("pull_request", "is missing"))?;
    // A request changes production when it is merged; opening or editing it does not.
    let merged = optional_text(body, "/action") == "closed"
        && pull.get("merged").and_then(Value::as_bool) == Some(true);
    if !merged {
        return Ok(Vec::new());
    }
    let labels = label_names(pull.get("labels"), "name");
    let named = [optional_text(pull, "/title"), optional_text(pull, "/body")];
    let number = body.get("number").and_then(Value::as_i64);
    Ok(merged_request(
        system,
        &named,
        &labels,
        optional_text(pull, "/title"),
        number.map(|n| format!("#{n}")),
        optional_text(pull, "/html_url"),
    ))
}

fn gitlab_merge_request(body: &Value) -> Result<Vec<ForgeChange>, FieldError> {
    let system = text(body, "project.path_with_namespace")?;
    let request = body
        .get("object_attributes")
        .ok_or_else(|| FieldError::new("object_attributes", "is missing"))?;
    if optional_text(request, "/state") != "merged" {
        return Ok(Vec::new());
    }
    let labels = label_names(body.get("labels"), "title");
    let named = [
        optional_text(request, "/title"),
        optional_text(request, "/description"),
    ];
    let iid = request.get("iid").and_then(Value::as_i64);
    Ok(merged_request(
        system,
        &named,
        &labels,
        optional_text(request, "/title"),
        iid.map(|n| format!("!{n}")),
        optional_text(request, "/url"),
    ))
}

fn label_names(labels: Option<&Value>, key: &str) -> Vec<String> {
    labels
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.get(key).and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// A merged request naming incidents in its texts or labels: one change.
fn merged_request(
    system: &str,
    texts: &[&str],
    labels: &[String],
    title: &str,
    number: Option<String>,
    url: &str,
) -> Vec<ForgeChange> {
    let mut incidents: Vec<i64> = texts
        .iter()
        .copied()
        .chain(labels.iter().map(String::as_str))
        .flat_map(incident_refs)
        .collect();
    incidents.sort_unstable();
    incidents.dedup();
    if incidents.is_empty() {
        return Vec::new();
    }
    let title = shortened(title);
    let description = match number {
        Some(n) => format!("Merged {n}: {title}"),
        None => format!("Merged: {title}"),
    };
    vec![ForgeChange {
        incidents,
        system: system.to_string(),
        description,
        reference: (!url.is_empty()).then(|| url.to_string()),
        rollback: None,
    }]
}

fn generic(body: &Value) -> Result<ForgeChange, FieldError> {
    let incident = body
        .get("incident_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| FieldError::new("incident_id", "is missing or not a number"))?;
    let optional = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    Ok(ForgeChange {
        incidents: vec![incident],
        system: text(body, "system")?.to_string(),
        description: text(body, "description")?.to_string(),
        reference: optional("reference"),
        rollback: optional("rollback"),
    })
}

/// A commit message's first line or a title, within a description's length.
fn shortened(line: &str) -> String {
    let line = line.trim();
    if line.chars().count() <= DESCRIPTION_CHARS {
        return line.to_string();
    }
    let mut short: String = line.chars().take(DESCRIPTION_CHARS - 1).collect();
    short.push('…');
    short
}

/// The incidents a text names: `incident: 42`, `Incident-42`, `incident #42` (any case), each
/// once, in the order named.
pub fn incident_refs(text: &str) -> Vec<i64> {
    const WORD: &str = "incident";
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = lower[from..].find(WORD) {
        let at = from + offset;
        from = at + WORD.len();
        // "coincident" names nothing: the word starts at a boundary.
        if at > 0 && lower.as_bytes()[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let after = &lower[from..];
        let Some(tail) = after
            .strip_prefix(':')
            .or_else(|| after.strip_prefix('-'))
            .or_else(|| after.strip_prefix(" #"))
            .or_else(|| after.strip_prefix('#'))
        else {
            continue;
        };
        let tail = tail.trim_start_matches(' ');
        let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
        // Ids start at 1: "incident #0" names none.
        if let Ok(id) = digits.parse::<i64>()
            && id > 0
            && !found.contains(&id)
        {
            found.push(id);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn incidents_are_named_in_the_usual_ways() {
        assert_eq!(incident_refs("Raise the timeout (incident: 42)"), vec![42]);
        assert_eq!(incident_refs("Incident-42: revert the config"), vec![42]);
        assert_eq!(
            incident_refs("fix for INCIDENT #7 and incident:8"),
            vec![7, 8]
        );
        assert_eq!(incident_refs("incident: 42, again incident-42"), vec![42]);
        assert!(incident_refs("a coincident:3 change").is_empty());
        assert!(incident_refs("incident response docs").is_empty());
        assert!(incident_refs("incident: soon").is_empty());
        assert!(incident_refs("").is_empty());
    }

    #[test]
    fn a_push_records_each_commit_that_names_an_incident() {
        let push = json!({"ref": "refs/heads/main", "after": "b2",
        "repository": {"full_name": "acme/edge"},
        "commits": [
            {"id": "a1", "message": "Tidy the README", "url": "https://github.com/acme/edge/commit/a1"},
            {"id": "b2", "message": "Raise the upstream timeout\n\nincident: 42", "url": "https://github.com/acme/edge/commit/b2"}
        ]});
        let recorded = changes(ForgeEvent::GitHubPush, &push).unwrap();
        assert_eq!(
            recorded,
            vec![ForgeChange {
                incidents: vec![42],
                system: "acme/edge".into(),
                description: "Pushed to main: Raise the upstream timeout".into(),
                reference: Some("https://github.com/acme/edge/commit/b2".into()),
                rollback: None,
            }]
        );
        let err = changes(ForgeEvent::GitHubPush, &json!({"commits": []})).unwrap_err();
        assert_eq!(err.field, "repository.full_name");
        let err = changes(ForgeEvent::GitLabPush, &json!({"commits": []})).unwrap_err();
        assert_eq!(err.field, "project.path_with_namespace");
    }

    #[test]
    fn only_a_push_to_the_default_branch_changes_production() {
        let push = |branch: &str| {
            json!({"ref": format!("refs/heads/{branch}"),
                "repository": {"full_name": "acme/edge", "default_branch": "main"},
                "commits": [{"id": "b2", "message": "incident: 42"}]})
        };
        let on = |branch: &str| {
            changes(ForgeEvent::GitHubPush, &push(branch))
                .unwrap()
                .len()
        };
        assert_eq!((on("main"), on("try-timeout")), (1, 0));
        let gitlab = json!({"ref": "refs/heads/wip",
            "project": {"path_with_namespace": "acme/dns", "default_branch": "main"},
            "commits": [{"id": "c3", "message": "Incident-5"}]});
        assert!(changes(ForgeEvent::GitLabPush, &gitlab).unwrap().is_empty());
    }

    #[test]
    fn a_request_counts_once_merged_and_may_name_its_incident_in_a_label() {
        let pull = |action: &str, merged: bool| {
            json!({"action": action, "number": 812, "repository": {"full_name": "acme/edge"},
                "pull_request": {"title": "Raise the timeout", "body": "", "merged": merged,
                    "html_url": "https://github.com/acme/edge/pull/812", "labels": [{"name": "Incident-42"}]}})
        };
        assert!(
            changes(ForgeEvent::GitHubPullRequest, &pull("opened", false))
                .unwrap()
                .is_empty()
        );
        let merged = changes(ForgeEvent::GitHubPullRequest, &pull("closed", true)).unwrap();
        assert_eq!(merged[0].incidents, vec![42]);
        assert_eq!(merged[0].description, "Merged #812: Raise the timeout");
        let gitlab = json!({"project": {"path_with_namespace": "acme/edge"},
            "object_attributes": {"iid": 9, "title": "Fail over the DB (incident: 5)", "description": "",
                "url": "https://gitlab.example/acme/edge/-/merge_requests/9", "state": "merged"},
            "labels": []});
        let merged = changes(ForgeEvent::GitLabMergeRequest, &gitlab).unwrap();
        assert_eq!(
            (merged[0].incidents.clone(), merged[0].description.as_str()),
            (vec![5], "Merged !9: Fail over the DB (incident: 5)")
        );
    }

    #[test]
    fn each_forge_proves_its_webhooks_its_own_way() {
        let now: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        let body = b"Hello, World!";
        // The example in GitHub's documentation on validating webhook deliveries.
        let github = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let verify = |proof: ForgeProof<'_>| proof.verify("It's a Secret to Everybody", body, now);
        assert_eq!(verify(ForgeProof::GitHub(Some(github))), Ok(()));
        assert!(verify(ForgeProof::GitHub(Some("sha256=00"))).is_err());
        assert!(verify(ForgeProof::GitHub(Some(&github[7..]))).is_err());
        assert!(verify(ForgeProof::GitHub(None)).is_err());
        assert_eq!(
            verify(ForgeProof::GitLab(Some("It's a Secret to Everybody"))),
            Ok(())
        );
        assert!(verify(ForgeProof::GitLab(Some("guess"))).is_err());
        let signed = sign_webhook("It's a Secret to Everybody", now.as_second() - 60, body);
        assert_eq!(verify(ForgeProof::Signed(Some(&signed))), Ok(()));
        let stale = sign_webhook("It's a Secret to Everybody", now.as_second() - 301, body);
        assert_eq!(
            verify(ForgeProof::Signed(Some(&stale))),
            Err("Aplomb-Signature's time is more than five minutes from ours")
        );
        let other = sign_webhook("another secret", now.as_second(), body);
        assert!(verify(ForgeProof::Signed(Some(&other))).is_err());
        assert!(verify(ForgeProof::Signed(Some("v1=abc"))).is_err());
    }

    #[test]
    fn the_generic_shape_names_its_incident() {
        let change = changes(
            ForgeEvent::Generic,
            &json!({"incident_id": 3, "system": "dns", "description": "Lowered the TTL"}),
        )
        .unwrap();
        assert_eq!(change[0].incidents, vec![3]);
        let err = changes(ForgeEvent::Generic, &json!({"system": "dns"})).unwrap_err();
        assert_eq!(err.field, "incident_id");
        assert!(
            changes(ForgeEvent::github("ping"), &json!({}))
                .unwrap()
                .is_empty()
        );
    }
}
