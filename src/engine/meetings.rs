//! Sends review meeting invitations: each attendee's email carries the meeting as an
//! iCalendar request (`domain::meeting::ics`) beside its text and HTML, so a mail client
//! offers to add it; a moved meeting's invitation has the next `SEQUENCE` and the same `UID`.
//! Leased and retried like the status page's notices.

use jiff::Timestamp;

use super::channels::{Channels, Mail};
use super::{MAX_ATTEMPTS, backoff};
use crate::domain::meeting::{Invitation, ics};
use crate::markup::{escape, human_time};
use crate::store::{Attempt, InviteJob};

/// One attempt at sending `job` at `now`.
pub async fn send(channels: &Channels, job: &InviteJob, now: Timestamp) -> Attempt {
    if let Some(reason) = channels.unconfigured("email") {
        return Attempt::GiveUp(reason.into());
    }
    match channels.mail(&job.address, mail(channels, job, now)).await {
        Ok(receipt) => Attempt::Sent(receipt),
        Err(e) if job.attempts + 1 >= MAX_ATTEMPTS => Attempt::GiveUp(e),
        Err(e) => Attempt::Retry(e, now + backoff(job.attempts + 1)),
    }
}

fn mail(channels: &Channels, job: &InviteJob, now: Timestamp) -> Mail {
    let m = &job.meeting;
    let id = m.incident_id;
    let base = channels.public_url().trim_end_matches('/');
    let url = format!("{base}/incidents/{id}/review");
    // The UID names this server, so two aplomb installations never share one.
    let host = base
        .split("://")
        .last()
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or("aplomb");
    let uid = format!("review-{id}@{host}");
    let summary = format!("Review meeting: incident #{id} {}", job.title);
    let description = format!(
        "The post-incident review of incident #{id}, {}: {url}",
        job.title
    );
    let sender = channels.sender_address();
    let attendees: Vec<(String, String)> = m
        .attendees
        .iter()
        .filter_map(|a| Some((a.name.clone(), a.email.clone()?)))
        .collect();
    let calendar = ics(
        &Invitation {
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            location: m.location.as_deref(),
            uid: &uid,
            sequence: m.sequence,
            summary: &summary,
            description: &description,
            url: &url,
            organizer: ("aplomb", &sender),
            attendees: &attendees,
        },
        now,
    );
    let moved = if m.sequence > 0 { "moved: " } else { "" };
    let when = format!("{} to {}", human_time(m.starts_at), human_time(m.ends_at));
    let place = m
        .location
        .as_deref()
        .map(|l| format!("\nWhere: {l}"))
        .unwrap_or_default();
    let people: Vec<&str> = m.attendees.iter().map(|a| a.name.as_str()).collect();
    let text = format!(
        "The review meeting for incident #{id}, {}, {moved}{when}.{place}\nAsked: {}\n\nRead the review before: {url}\n",
        job.title,
        people.join(", ")
    );
    let html = format!(
        "<p>The review meeting for incident #{id}, <strong>{}</strong>, {moved}{}.</p>{}\
         <p>Asked: {}</p><p><a href=\"{}\">Read the review before</a></p>",
        escape(&job.title),
        escape(&when),
        m.location
            .as_deref()
            .map(|l| format!("<p>Where: {}</p>", escape(l)))
            .unwrap_or_default(),
        escape(&people.join(", ")),
        escape(&url)
    );
    let drill = if job.drill { "DRILL " } else { "" };
    Mail {
        subject: format!(
            "{drill}[aplomb] Review meeting {moved}incident #{id}: {}",
            job.title
        ),
        text,
        html,
        headers: Vec::new(),
        calendar: Some(calendar),
    }
}
