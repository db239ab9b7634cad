//! What the status page's subscribers are sent: the confirmation of an email subscription,
//! each public update, and each maintenance announced, begun, completed or cancelled, by
//! email (with RFC 8058 one-click unsubscribe) or by signed webhook in Statuspage's shapes.
//! Notices are leased and retried like a page's deliveries (`super::backoff`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::channels::{Channels, Mail};
use super::{MAX_ATTEMPTS, backoff};
use crate::config::StatusPageBrand;
use crate::domain::status::SubscriberKind;
use crate::markup::{escape, human_time};
use crate::store::{Attempt, NoticeAbout, NoticeJob};

/// One attempt at sending `job` at `now`.
pub async fn send(
    channels: &Channels,
    page: &StatusPageBrand,
    job: &NoticeJob,
    now: Timestamp,
) -> Attempt {
    let s = &job.subscriber;
    // No mail server configured: retrying cannot help, as with pages.
    if let Some(why) = channels.unconfigured(s.kind.as_str()) {
        return Attempt::GiveUp(why.to_string());
    }
    let sent = match s.kind {
        SubscriberKind::Email => channels.mail(&s.address, email(page, job)).await,
        SubscriberKind::Webhook => {
            let body = event(page, job, now).to_string();
            channels.post_signed(&s.address, &s.secret, body, now).await
        }
    };
    match sent {
        Ok(receipt) => Attempt::Sent(receipt),
        Err(e) if job.attempts + 1 >= MAX_ATTEMPTS => Attempt::GiveUp(e),
        Err(e) => Attempt::Retry(e, now + backoff(job.attempts + 1)),
    }
}

/// The link that ends this subscriber's subscription, read or POSTed (RFC 8058).
pub fn unsubscribe_url(page: &StatusPageBrand, token: &str) -> String {
    format!("{}/unsubscribe/{token}", page.url)
}

fn email(page: &StatusPageBrand, job: &NoticeJob) -> Mail {
    let token = &job.subscriber.token;
    let (subject, lines, link) = match &job.about {
        NoticeAbout::Confirm => {
            let confirm = format!("{}/subscribe/confirm/{token}", page.url);
            let text = format!(
                "Someone, we hope you, asked to be told of incidents and maintenance on {} at \
                 this address.\n\nTo confirm, open {confirm}\n\nIf it was not you, ignore this \
                 message: nothing else will be sent.",
                page.name
            );
            let html = format!(
                "<p>Someone, we hope you, asked to be told of incidents and maintenance on {} at \
                 this address.</p><p><a href=\"{}\">Confirm the subscription</a></p>\
                 <p>If it was not you, ignore this message: nothing else will be sent.</p>",
                escape(&page.name),
                escape(&confirm)
            );
            // Not subscribed yet: nothing to unsubscribe from.
            return Mail {
                subject: format!("Confirm your subscription to {}", page.name),
                text,
                html,
                headers: Vec::new(),
                calendar: None,
            };
        }
        NoticeAbout::Update {
            incident_id,
            title,
            phase,
            text,
            ..
        } => (
            format!("[{}] {title}: {}", page.name, phase.label()),
            text.clone(),
            format!("{}/incidents/{incident_id}", page.url),
        ),
        NoticeAbout::Maintenance {
            title,
            description,
            status,
            scheduled_for,
            scheduled_until,
            ..
        } => (
            format!(
                "[{}] Scheduled maintenance {}: {title}",
                page.name,
                status.label().to_lowercase()
            ),
            format!(
                "{}\n\nWindow: {} to {}",
                description.trim(),
                human_time(*scheduled_for),
                human_time(*scheduled_until)
            )
            .trim_start()
            .to_string(),
            page.url.clone(),
        ),
    };
    let leave = unsubscribe_url(page, token);
    let text = format!("{lines}\n\nFollow it: {link}\n\nUnsubscribe: {leave}\n");
    let html = format!(
        "<p style=\"white-space: pre-wrap\">{}</p><p><a href=\"{}\">Follow it on the status page</a></p>\
         <p style=\"font-size: small\"><a href=\"{}\">Unsubscribe</a></p>",
        escape(&lines),
        escape(&link),
        escape(&leave)
    );
    Mail {
        subject,
        text,
        html,
        headers: vec![
            ("List-Unsubscribe", format!("<{leave}>")),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()),
        ],
        calendar: None,
    }
}

/// The webhook body: the news in Statuspage's shapes, so its webhook consumers read it.
fn event(page: &StatusPageBrand, job: &NoticeJob, now: Timestamp) -> Value {
    let base = json!({
        "id": format!("ntc_{}", job.id),
        "created_at": now.to_string(),
        "page": {"name": page.name, "url": page.url},
    });
    let detail = match &job.about {
        NoticeAbout::Confirm => json!({"type": "subscription.confirmation"}),
        NoticeAbout::Update {
            incident_id,
            title,
            phase,
            text,
            published_at,
        } => json!({
            "type": "status_update.published",
            "incident": {
                "id": incident_id.to_string(),
                "name": title,
                "status": phase.as_str(),
                "shortlink": format!("{}/incidents/{incident_id}", page.url),
            },
            "incident_update": {
                "status": phase.as_str(),
                "body": text,
                "created_at": published_at.to_string(),
            },
        }),
        NoticeAbout::Maintenance {
            id,
            title,
            description,
            status,
            scheduled_for,
            scheduled_until,
        } => json!({
            "type": format!("maintenance.{status}"),
            "scheduled_maintenance": {
                "id": format!("maintenance-{id}"),
                "name": title,
                "status": status.as_str(),
                "impact": "maintenance",
                "description": description,
                "scheduled_for": scheduled_for.to_string(),
                "scheduled_until": scheduled_until.to_string(),
            },
        }),
    };
    let mut merged = base;
    if let (Some(into), Value::Object(from)) = (merged.as_object_mut(), detail) {
        into.extend(from);
    }
    merged
}
