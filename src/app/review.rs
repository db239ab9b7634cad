//! Post-incident reviews: read by whoever may see the incident, written by its responders, the
//! draft's figures read again from the timeline on every read; and the blameless-language
//! check, which anyone signed in may run.

use serde::Deserialize;
use utoipa::ToSchema;

use super::drills::drill_score;
use super::{Aplomb, AppError, AppResult};
use crate::domain::access::Actor;
use crate::domain::blame;
use crate::domain::drills::{self, DrillScore};
use crate::domain::incident::{Incident, Status};
use crate::domain::meeting::{MeetingInput, RawMeeting};
use crate::domain::review::{
    self, Draft, MAX_COMMENT_CHARS, MAX_DETECTION_REASON, MAX_REVIEW_CHARS, Practice,
};
use crate::domain::status::ComponentStatus;
use crate::domain::timeline::EntryData;
use crate::domain::timeline::human_duration;
use crate::domain::{FieldError, bounded_text, instant};
use crate::store::{
    Attendee, IncidentPlaybook, MeetingRecord, ReviewComment, ReviewEdit, ReviewRecord,
    TimelineEntry,
};

/// A text to check for blame.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlameCheckFields {
    /// The review's text (Markdown), up to 50,000 characters.
    #[schema(example = "Alice deployed 2.4.1 at 10:02. Bob should have checked the canary.")]
    #[schema(value_type = crate::app::schema::ReviewText)]
    pub text: String,
}

/// A save of the review's text, from the version it was written on.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewFields {
    /// The review (Markdown); the draft's starting text until the first save.
    #[schema(value_type = crate::app::schema::ReviewText)]
    pub text: String,
    /// The version read (`version` in the review); 0 before the first save. A save from an
    /// older version is refused (409), so one editor never silently undoes another.
    #[schema(minimum = 0)]
    pub version: i64,
    /// When the problem was detected, if not at the declaration (RFC 3339, not after it);
    /// moving it needs `detected_reason` and goes on the timeline.
    #[schema(example = "2026-03-03T09:40:00Z", format = DateTime)]
    pub detected_at: Option<String>,
    /// Why the detection time moved ("a customer emailed support at 09:40").
    #[schema(value_type = Option<crate::app::schema::Reason>)]
    pub detected_reason: Option<String>,
}

/// A comment on a review.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentFields {
    /// Up to 2,000 characters (Markdown).
    #[schema(
        example = "The replica lag alert fired 20 minutes before anyone looked: worth an action item."
    )]
    #[schema(value_type = crate::app::schema::CommentText)]
    pub text: String,
    /// The section it is about: `prevention`, `investigation`, `coordination`,
    /// `communication` or `went_well`; absent: the whole review.
    #[schema(value_type = Option<crate::app::schema::PracticeName>)]
    pub section: Option<String>,
}

/// The review meeting to schedule, or to move.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingFields {
    /// When it starts (RFC 3339, in the future).
    #[schema(example = "2036-03-04T14:00:00Z", format = DateTime)]
    pub starts_at: String,
    /// How long, 15 to 480 minutes.
    #[schema(minimum = 15, maximum = 480, example = 45)]
    pub duration_minutes: i64,
    /// A room or a video-call link.
    #[schema(example = "Room 4, or https://meet.example/review")]
    #[schema(value_type = Option<crate::app::schema::Location>)]
    pub location: Option<String>,
    /// Usernames of who is asked; each with an email contact method gets the invitation.
    #[schema(example = json!(["bob", "carol"]), min_items = 1, max_items = 50)]
    pub attendees: Vec<String>,
}

/// A review as the API and the editor show it.
#[derive(Debug, Clone)]
pub struct ReviewView {
    pub incident: Incident,
    pub draft: Draft,
    pub text: String,
    /// 0 before the first save.
    pub version: i64,
    pub stored: Option<ReviewRecord>,
    /// What the blameless check finds in the text.
    pub blame: Vec<blame::Finding>,
    /// The playbook version the incident ran, with its checklist as it ended.
    pub playbook: Option<IncidentPlaybook>,
    /// A drill's score against its playbook and targets.
    pub drill: Option<DrillScore>,
    /// How long the public status page showed each component in each status other than
    /// operational because of this incident: (component, status, seconds).
    pub status_page: Vec<(String, ComponentStatus, i64)>,
}

impl ReviewView {
    /// Published and standing: reopening the incident takes it back to a draft, published
    /// again when the incident is resolved again.
    pub fn published(&self) -> bool {
        self.incident.status == Status::Reviewed
            && self
                .stored
                .as_ref()
                .is_some_and(|r| r.published_at.is_some())
    }

    /// The review as one Markdown document: the text, the figures, and a drill's score.
    pub fn markdown(&self) -> String {
        let mut out = review::markdown(&self.text, &self.draft);
        if let Some(p) = &self.playbook {
            let done = p.checked();
            out.push_str(&format!(
                "\n## Playbook\n\nThe incident ran version {} of playbook {}: {done} of {} checklist steps checked.\n\n",
                p.version,
                p.playbook_id,
                p.steps.len()
            ));
            for step in &p.steps {
                let mark = if step.is_checked() { "x" } else { " " };
                out.push_str(&format!("- [{mark}] {}\n", step.text));
            }
        }
        if !self.status_page.is_empty() {
            out.push_str(
                "\n## On the status page\n\n| Component | Status | Time |\n|---|---|---|\n",
            );
            for (component, status, seconds) in &self.status_page {
                let (status, time) = (status.label(), human_duration(*seconds));
                out.push_str(&format!("| {component} | {status} | {time} |\n"));
            }
        }
        if let Some(score) = &self.drill {
            out.push_str(&drills::score_markdown(score));
        }
        out
    }
}

impl Aplomb {
    /// What the blameless check finds in a text; it advises and never blocks.
    pub fn blame_check(&self, fields: &BlameCheckFields) -> AppResult<Vec<blame::Finding>> {
        // Checked, but not trimmed: spans count from the first character as sent.
        bounded_text("text", &fields.text, 1, MAX_REVIEW_CHARS)?;
        Ok(blame::check(&fields.text))
    }

    /// An incident's review: the team's text (or the draft's starting text) beside the figures
    /// read from the record now.
    pub async fn review(&self, actor: &Actor, id: i64) -> AppResult<ReviewView> {
        let incident = self.incident(actor, id).await?.incident;
        let stored = self.store.review(id).await?;
        self.review_of(incident, stored).await
    }

    async fn review_of(
        &self,
        incident: Incident,
        stored: Option<ReviewRecord>,
    ) -> AppResult<ReviewView> {
        let detected = stored.as_ref().and_then(|r| r.detected_at);
        let (_, draft) = self.draft_of(&incident, detected).await?;
        let text = match &stored {
            Some(r) => r.text.clone(),
            None => review::starting_text(&incident, &draft),
        };
        let playbook = self.store.incident_playbook(incident.id).await?;
        let drill = match incident.is_drill() {
            true => self
                .store
                .drill(incident.id)
                .await?
                .map(|d| drill_score(&incident, &d, &draft, playbook.as_ref())),
            false => None,
        };
        let status_page = self.status_page_time(&incident).await?;
        Ok(ReviewView {
            playbook,
            status_page,
            drill,
            blame: blame::check(&text),
            version: stored.as_ref().map_or(0, |r| r.version),
            incident,
            draft,
            text,
            stored,
        })
    }

    /// How long the status page showed each component in each status because of `incident`.
    async fn status_page_time(
        &self,
        incident: &Incident,
    ) -> AppResult<Vec<(String, ComponentStatus, i64)>> {
        let Some(told) = self.store.public_incident(incident.id).await? else {
            return Ok(Vec::new());
        };
        let components = self.store.components().await?;
        let until = incident.resolved_at.unwrap_or_else(|| self.now());
        Ok(told
            .status_time(until)
            .into_iter()
            .filter_map(|(id, status, secs)| {
                let c = components.iter().find(|c| c.id == id)?;
                Some((c.name.clone(), status, secs))
            })
            .collect())
    }

    /// The incident's whole timeline and the review's draft read from it, with the detection
    /// time the review set, if it moved it.
    pub(super) async fn draft_of(
        &self,
        incident: &Incident,
        detected: Option<jiff::Timestamp>,
    ) -> AppResult<(Vec<TimelineEntry>, Draft)> {
        let timeline = self.store.whole_timeline(incident.id).await?;
        let entries: Vec<_> = timeline.iter().map(|e| (e.at, &e.data)).collect();
        let signs = self.store.first_signs(incident.id).await?;
        let roles = &self.settings.role_policy;
        let draft = review::draft(incident, &entries, &signs, detected, roles);
        Ok((timeline, draft))
    }

    /// Saves the review's text (and the detection time, when it moves).
    pub async fn save_review(
        &self,
        actor: &Actor,
        id: i64,
        fields: &ReviewFields,
    ) -> AppResult<ReviewView> {
        self.may_change(actor, id).await?;
        let text = bounded_text("text", &fields.text, 1, MAX_REVIEW_CHARS)?;
        if fields.version < 0 {
            return Err(FieldError::new("version", "must be the version read, 0 or more").into());
        }
        let tx = self.store.begin_review(id).await?;
        let incident = tx.incident.clone();
        if !actor.can_view(incident.private, incident.is_participant(actor.id)) {
            return Err(AppError::NotFound("incident"));
        }
        if incident.status == Status::Reviewed {
            return Err(AppError::Conflict(
                "the review is published; reopen the incident to change it".into(),
            ));
        }
        let current = tx.review.as_ref().map_or(0, |r| r.version);
        if fields.version != current {
            return Err(AppError::Conflict(format!(
                "the review changed since version {} (now version {current}); read it again and redo the edit",
                fields.version
            )));
        }
        let now = self.now();
        let before = tx.review.as_ref().and_then(|r| r.detected_at);
        // Absent keeps the detection time; the declaration's time puts it back there.
        let detected = match fields.detected_at.as_deref() {
            None => before,
            Some(raw) => {
                let at =
                    review::detection_time(instant("detected_at", raw)?, incident.declared_at)?;
                (at != incident.declared_at).then_some(at)
            }
        };
        let mut entries = Vec::new();
        if detected != before {
            let reason = fields.detected_reason.as_deref().ok_or_else(|| {
                FieldError::new("detected_reason", "is required to move the detection time")
            })?;
            let reason = bounded_text("detected_reason", reason, 1, MAX_DETECTION_REASON)?;
            entries.push(EntryData::DetectionMoved {
                detected_at: detected.unwrap_or(incident.declared_at),
                reason,
            });
        } else if fields.detected_reason.is_some() {
            return Err(FieldError::new(
                "detected_reason",
                "is only accepted when detected_at moves",
            )
            .into());
        }
        let record = ReviewRecord {
            incident_id: id,
            text,
            detected_at: detected,
            published_at: tx.review.as_ref().and_then(|r| r.published_at),
            version: current,
            updated_by: Some(actor.username.clone()),
            updated_at: now,
        };
        tx.save(&record, &incident, actor.id, now, &entries).await?;
        if !entries.is_empty() {
            self.announce(id).await;
        }
        self.review(actor, id).await
    }

    /// Publishes the review as it stands: the incident becomes `reviewed`.
    pub async fn publish_review(&self, actor: &Actor, id: i64) -> AppResult<ReviewView> {
        self.may_change(actor, id).await?;
        // A review never saved publishes the draft's starting text, read before the write
        // transaction: reading a whole timeline must not hold the writer.
        let starting = match self.store.review(id).await? {
            Some(_) => None,
            None => Some(self.review(actor, id).await?.text),
        };
        let tx = self.store.begin_review(id).await?;
        let mut incident = tx.incident.clone();
        if !actor.can_view(incident.private, incident.is_participant(actor.id)) {
            return Err(AppError::NotFound("incident"));
        }
        let now = self.now();
        let entries = incident.mark_reviewed(&actor.username)?;
        incident.updated_at = now;
        let (text, detected_at, version) = match (&tx.review, starting) {
            (Some(r), _) => (r.text.clone(), r.detected_at, r.version),
            (None, Some(text)) => (text, None, 0),
            // Read as saved, then not: reviews are never removed, so refuse rather than guess.
            (None, None) => return Err(AppError::Conflict("the review changed meanwhile".into())),
        };
        let record = ReviewRecord {
            incident_id: id,
            text,
            detected_at,
            published_at: Some(now),
            version,
            updated_by: Some(actor.username.clone()),
            updated_at: now,
        };
        tx.save(&record, &incident, actor.id, now, &entries).await?;
        self.announce(id).await;
        self.review(actor, id).await
    }

    /// The review's meeting, if one is scheduled, with its invitations.
    pub async fn review_meeting(&self, actor: &Actor, id: i64) -> AppResult<Option<MeetingRecord>> {
        self.incident(actor, id).await?;
        Ok(self.store.review_meeting(id).await?)
    }

    /// Schedules the review's meeting (or moves it): everyone asked who has an email contact
    /// method is sent the invitation, again at each change.
    pub async fn schedule_review_meeting(
        &self,
        actor: &Actor,
        id: i64,
        fields: &MeetingFields,
    ) -> AppResult<MeetingRecord> {
        self.may_change(actor, id).await?;
        let now = self.now();
        let meeting = MeetingInput::parse(
            RawMeeting {
                starts_at: &fields.starts_at,
                duration_minutes: fields.duration_minutes,
                location: fields.location.as_deref(),
                attendees: &fields.attendees,
            },
            now,
        )?;
        let mut attendees = Vec::with_capacity(meeting.attendees.len());
        let incident = self.incident(actor, id).await?.incident;
        for name in &meeting.attendees {
            let user =
                self.store.user_by_username(name).await?.ok_or_else(|| {
                    FieldError::new("attendees", format!("no user named {name:?}"))
                })?;
            // The invitation names the incident: only someone who may see it is asked.
            if !user
                .actor()
                .can_view(incident.private, incident.is_participant(user.id))
            {
                return Err(FieldError::new(
                    "attendees",
                    format!("{name} may not see this private incident; add them to it first"),
                )
                .into());
            }
            let email = self
                .store
                .contact_methods(user.id)
                .await?
                .into_iter()
                .find(|c| c.kind == "email")
                .map(|c| c.address);
            attendees.push(Attendee {
                username: user.username,
                name: user.display_name,
                email,
            });
        }
        let saved = self
            .store
            .schedule_review_meeting(id, &meeting, &attendees, actor.id, now)
            .await?;
        self.engine.wake();
        Ok(saved)
    }

    /// The review's comments, oldest first.
    pub async fn review_comments(&self, actor: &Actor, id: i64) -> AppResult<Vec<ReviewComment>> {
        self.incident(actor, id).await?;
        Ok(self.store.review_comments(id).await?)
    }

    /// Comments on the review (a published one too: the discussion may go on), with what the
    /// blameless check finds in the comment, as advice.
    pub async fn comment_on_review(
        &self,
        actor: &Actor,
        id: i64,
        fields: &CommentFields,
    ) -> AppResult<(ReviewComment, Vec<blame::Finding>)> {
        self.may_change(actor, id).await?;
        let text = bounded_text("text", &fields.text, 1, MAX_COMMENT_CHARS)?;
        let section = fields
            .section
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(str::parse::<Practice>)
            .transpose()?;
        let comment = self
            .store
            .add_review_comment(id, section, &text, actor.id, self.now())
            .await?;
        let findings = blame::check(&comment.text);
        Ok((comment, findings))
    }

    /// Every saved text of the review, oldest first.
    pub async fn review_history(&self, actor: &Actor, id: i64) -> AppResult<Vec<ReviewEdit>> {
        self.incident(actor, id).await?;
        Ok(self.store.review_edits(id).await?)
    }
}
