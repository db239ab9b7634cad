//! Communicating during an incident: status updates (drafted, published, corrected) under the
//! same access rules as the rest of the incident, and the tone check, which anyone signed in
//! may run on a draft (it reads nothing stored, so it needs no access rule).

use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use super::investigation::found;
use super::status::ComponentChange;
use super::{Aplomb, AppError, AppResult};
use crate::domain::access::Actor;
use crate::domain::communication::{
    self, Audience, MAX_UPDATE_CHARS, Phase, RawUpdate, SubscriptionScope, Told, UpdateDue,
    UpdateInput, UpdateState,
};
use crate::domain::incident::{Incident, Severity};
use crate::domain::timeline::EntryData;
use crate::domain::tone::{self, Finding};
use crate::domain::{FieldError, bounded_text};
use crate::store::{
    IncidentFilter, IncidentSummary, InvestigationTx, StatusUpdateRecord, SubscriptionRecord,
    last_told,
};

/// A draft to check.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToneCheckFields {
    /// The update's text (Markdown), up to 10,000 characters.
    #[schema(
        example = "Some customers cannot pay by card. We are rolling back a change. Next update by 14:30 UTC."
    )]
    #[schema(value_type = crate::app::schema::UpdateText)]
    pub text: String,
    /// `public` (the default), `stakeholders` or `responders`: internals are flagged only in a
    /// public update, and missing essentials only outside the response.
    #[schema(example = "public")]
    #[schema(value_type = Option<crate::app::schema::AudienceName>)]
    pub audience: Option<String>,
    /// `investigating`, `identified`, `monitoring`, `resolved` or `update`: a resolved
    /// incident's update needs no next-update time.
    #[schema(value_type = Option<crate::app::schema::PhaseName>)]
    pub phase: Option<String>,
}

impl Aplomb {
    /// What the tone check finds in a draft; it advises and never blocks.
    pub fn tone_check(&self, fields: &ToneCheckFields) -> AppResult<Vec<Finding>> {
        // Checked, but not trimmed: spans count from the first character as sent.
        bounded_text("text", &fields.text, 1, MAX_UPDATE_CHARS)?;
        let audience = match fields.audience.as_deref() {
            Some(a) => a.parse()?,
            None => Audience::Public,
        };
        let phase = fields
            .phase
            .as_deref()
            .map(str::parse::<Phase>)
            .transpose()?;
        Ok(tone::check(
            &fields.text,
            audience,
            phase,
            &self.settings.tone,
        ))
    }
}

/// A status update as the API and the composer give it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFields {
    /// Markdown, up to 10,000 characters.
    #[schema(
        example = "Some customers cannot pay by card. We are rolling back a change. Next update by 14:30 UTC."
    )]
    #[schema(value_type = crate::app::schema::UpdateText)]
    pub text: String,
    /// `investigating`, `identified`, `monitoring`, `resolved` or `update` (the default).
    #[schema(example = "identified")]
    #[schema(value_type = Option<crate::app::schema::PhaseName>)]
    pub phase: Option<String>,
    /// Any of `public`, `stakeholders`, `responders` (a private incident: no `public`).
    #[schema(example = json!(["public", "stakeholders"]))]
    #[schema(value_type = crate::app::schema::AudienceNames)]
    pub audiences: Vec<String>,
    /// When readers will hear next (RFC 3339, in the future).
    pub next_update_by: Option<String>,
    /// The status each affected component is in, shown on the public status page (a
    /// public update only).
    #[serde(default)]
    pub components: Vec<ComponentChange>,
    /// Publish it now rather than keep it a draft.
    #[serde(default)]
    pub publish: bool,
}

/// Changes to an update; a field left out stays as it is. A draft may change in every way
/// and `"publish": true` sends it out; a published update may have its text corrected (the
/// correction shows as such) and its next-update time moved, not its phase or audiences.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEdit {
    #[schema(value_type = Option<crate::app::schema::UpdateText>)]
    pub text: Option<String>,
    #[schema(value_type = Option<crate::app::schema::PhaseName>)]
    pub phase: Option<String>,
    #[schema(value_type = Option<crate::app::schema::AudienceNames>)]
    pub audiences: Option<Vec<String>>,
    /// `""` clears it.
    pub next_update_by: Option<String>,
    /// A draft's component statuses, replacing those it had.
    pub components: Option<Vec<ComponentChange>>,
    pub publish: Option<bool>,
}

/// A stakeholder's subscription to status updates.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionFields {
    /// `all`, `service` (incidents affecting one service) or `severity` (incidents of one
    /// severity or worse).
    #[schema(example = "service")]
    pub scope: String,
    /// The service of a `service` scope, by name.
    #[schema(example = "checkout-api")]
    pub service: Option<String>,
    /// The severity of a `severity` scope: `SEV1` to `SEV4`.
    #[schema(example = "SEV2")]
    #[schema(value_type = Option<crate::app::schema::SeverityName>)]
    pub severity: Option<String>,
    /// One of the subscriber's contact methods: the channel the updates arrive on.
    pub contact_method_id: i64,
    /// The updates it hears: `stakeholders` (the default) or `responders`.
    #[schema(example = "stakeholders")]
    #[schema(value_type = Option<crate::app::schema::AudienceName>)]
    pub audience: Option<String>,
}

impl Aplomb {
    /// Subscribes a user (themself, or anyone for an admin) to the status updates published
    /// to stakeholders of the incidents the scope covers.
    pub async fn subscribe_to_updates(
        &self,
        actor: &Actor,
        username: &str,
        fields: &SubscriptionFields,
    ) -> AppResult<SubscriptionRecord> {
        let user = self.managed_user(actor, username).await?;
        let service =
            match fields.service.as_deref() {
                Some(name) => Some(self.service_id(name).await.map_err(|_| {
                    FieldError::new("service", format!("no service named {name:?}"))
                })?),
                None => None,
            };
        let scope = SubscriptionScope::parse(&fields.scope, service, fields.severity.as_deref())?;
        let audience = communication::subscription_audience(fields.audience.as_deref())?;
        let methods = self.store.contact_methods(user).await?;
        if !methods.iter().any(|m| m.id == fields.contact_method_id) {
            return Err(FieldError::new(
                "contact_method_id",
                "is not one of this user's contact methods",
            )
            .into());
        }
        Ok(self
            .store
            .add_subscription(user, scope, audience, fields.contact_method_id, self.now())
            .await?)
    }

    pub async fn subscriptions_of(
        &self,
        actor: &Actor,
        username: &str,
    ) -> AppResult<Vec<SubscriptionRecord>> {
        let user = self.managed_user(actor, username).await?;
        Ok(self.store.subscriptions(user).await?)
    }

    pub async fn unsubscribe_from_updates(
        &self,
        actor: &Actor,
        username: &str,
        id: i64,
    ) -> AppResult<()> {
        let user = self.managed_user(actor, username).await?;
        if self.store.delete_subscription(user, id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("subscription"))
        }
    }

    /// An incident's updates, newest first; drafts only for those who can act on it.
    pub async fn status_updates(
        &self,
        actor: &Actor,
        id: i64,
    ) -> AppResult<Vec<StatusUpdateRecord>> {
        self.incident(actor, id).await?;
        let mut updates = self.store.status_updates(id).await?;
        if !actor.can_act() {
            updates.retain(|u| u.state == UpdateState::Published);
        }
        Ok(updates)
    }

    /// Drafts an update, or publishes it at once with `publish`.
    pub async fn post_update(
        &self,
        actor: &Actor,
        id: i64,
        fields: UpdateFields,
    ) -> AppResult<StatusUpdateRecord> {
        self.may_change(actor, id).await?;
        let now = self.now();
        let u = self
            .investigate(actor, id, async |tx: &mut InvestigationTx| {
                let input = UpdateInput::parse(
                    RawUpdate {
                        text: &fields.text,
                        phase: fields.phase.as_deref(),
                        audiences: &fields.audiences,
                        next_update_by: fields.next_update_by.as_deref(),
                    },
                    tx.incident.private,
                    now,
                )?;
                let state = if fields.publish {
                    UpdateState::Published
                } else {
                    UpdateState::Draft
                };
                let components = self
                    .component_changes(&fields.components, &input.audiences)
                    .await?;
                let mut entries = Vec::new();
                if fields.publish {
                    entries.extend(self.keep_cadence(tx, &input.audiences, now).await?);
                }
                let mut u = tx.add_update(&input, state, actor.id, now).await?;
                if !components.is_empty() {
                    tx.set_update_components(u.id, &components).await?;
                    u = tx.status_update(u.id).await?;
                }
                if fields.publish {
                    entries.insert(0, published(&u));
                    u = send_out(tx, u, now).await?;
                }
                Ok((u, entries))
            })
            .await;
        self.engine.wake();
        u
    }

    /// Changes an update: a draft in every way (and `publish` sends it out); a published one
    /// only in its text (a correction, on the timeline) and its next-update time.
    pub async fn edit_update(
        &self,
        actor: &Actor,
        id: i64,
        update_id: i64,
        edit: UpdateEdit,
    ) -> AppResult<StatusUpdateRecord> {
        self.may_change(actor, id).await?;
        let now = self.now();
        let u = self
            .investigate(actor, id, async |tx: &mut InvestigationTx| {
                let mut u = found(tx.status_update(update_id).await, "update")?;
                let before = u.clone();
                let was_published = u.state == UpdateState::Published;
                if was_published
                    && (edit.phase.is_some() || edit.audiences.is_some() || edit.components.is_some())
                {
                    return Err(AppError::Conflict(
                        "a published update keeps its phase, audiences and components: post a new update"
                            .into(),
                    ));
                }
                let audiences = match &edit.audiences {
                    Some(named) => communication::audiences(named)?,
                    None => u.audiences.clone(),
                };
                // The whole update is checked again as it will stand.
                let input = UpdateInput::parse(
                    RawUpdate {
                        text: edit.text.as_deref().unwrap_or(&u.text),
                        phase: Some(edit.phase.as_deref().unwrap_or(u.phase.as_str())),
                        audiences: &audiences.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                        next_update_by: None,
                    },
                    tx.incident.private,
                    now,
                )?;
                u.text = input.text;
                u.phase = input.phase;
                u.audiences = input.audiences;
                // The components stand as they are unless named again; a draft no longer
                // public sets none.
                let components = match &edit.components {
                    Some(changes) => Some(self.component_changes(changes, &u.audiences).await?),
                    None if !u.audiences.contains(&Audience::Public) && !u.components.is_empty() => {
                        Some(Vec::new())
                    }
                    None => None,
                };
                if let Some(at) = &edit.next_update_by {
                    u.next_update_by = communication::next_update_by(Some(at), now)?;
                }
                let mut entries = Vec::new();
                if was_published && u.text != before.text {
                    u.corrected_at = Some(now);
                    entries.push(EntryData::UpdateCorrected {
                        update_id,
                        text: u.text.clone(),
                    });
                }
                match edit.publish {
                    Some(true) if !was_published => {
                        u.state = UpdateState::Published;
                        u.published_at = Some(now);
                        entries.push(published(&u));
                        entries.extend(self.keep_cadence(tx, &u.audiences, now).await?);
                    }
                    Some(false) if was_published => {
                        return Err(AppError::Conflict(
                        "a published update cannot be taken back: correct it, or post a new one"
                            .into(),
                    ));
                    }
                    _ => {}
                }
                if u == before && components.is_none() {
                    return Err(AppError::Conflict("the change changes nothing".into()));
                }
                if let Some(set) = &components {
                    tx.set_update_components(update_id, set).await?;
                }
                tx.save_update(&u).await?;
                let mut saved = found(tx.status_update(update_id).await, "update")?;
                if !was_published && saved.state == UpdateState::Published {
                    saved = send_out(tx, saved, now).await?;
                }
                Ok((saved, entries))
            })
            .await;
        // A publication may change when the next update is due: the engine looks again.
        self.engine.wake();
        u
    }

    /// What publishing an update to `audiences` at `now` does to the cadence: an update that
    /// counts toward it says on the timeline whether it kept the due time, answers the
    /// reminders that it was due, and has the engine work out the next due time.
    async fn keep_cadence(
        &self,
        tx: &mut InvestigationTx,
        audiences: &[Audience],
        now: Timestamp,
    ) -> AppResult<Option<EntryData>> {
        if !communication::tells_outside(audiences) {
            return Ok(None);
        }
        let told = tx.last_told().await?;
        let due = self.update_due(&tx.incident, told);
        tx.told(now).await?;
        Ok(due.map(|due| match now.duration_since(due.at).as_secs() {
            late if late > 0 => EntryData::CadenceMissed {
                first: due.first,
                due_at: due.at,
                late_seconds: late,
            },
            _ => EntryData::CadenceKept {
                first: due.first,
                due_at: due.at,
            },
        }))
    }

    /// When the incident's next update is due under this organisation's cadence.
    fn update_due(&self, incident: &Incident, told: Option<Told>) -> Option<UpdateDue> {
        self.due_for(
            incident.severity,
            incident.status.is_active(),
            incident.declared_at,
            told,
        )
    }

    fn due_for(
        &self,
        severity: Severity,
        active: bool,
        declared_at: Timestamp,
        told: Option<Told>,
    ) -> Option<UpdateDue> {
        communication::update_due(
            self.settings.cadence.of(severity),
            active,
            declared_at,
            told,
        )
    }

    /// Where the incident's update cadence stands, for its page and the API.
    pub async fn cadence(&self, actor: &Actor, id: i64) -> AppResult<CadenceView> {
        let view = self.incident(actor, id).await?;
        let updates = self.store.status_updates(id).await?;
        self.cadence_of(&view.incident, &updates).await
    }

    pub(super) async fn cadence_of(
        &self,
        incident: &Incident,
        updates: &[StatusUpdateRecord],
    ) -> AppResult<CadenceView> {
        self.with_snooze(incident.id, self.update_due(incident, last_told(updates)))
            .await
    }

    /// The cadence as it is shown: when the next update is due, and the reminder's snooze.
    async fn with_snooze(&self, id: i64, due: Option<UpdateDue>) -> AppResult<CadenceView> {
        let now = self.now();
        let snoozed_until = self
            .store
            .update_snoozed_until(id)
            .await?
            .filter(|s| *s > now);
        Ok(CadenceView {
            due,
            snoozed_until,
            now,
        })
    }

    /// Puts off the overdue-update reminder for `minutes` (1 to 120); the due time stays.
    pub async fn snooze_update_reminder(
        &self,
        actor: &Actor,
        id: i64,
        minutes: i64,
    ) -> AppResult<CadenceView> {
        self.may_change(actor, id).await?;
        let now = self.now();
        let length = communication::snooze_minutes(minutes)?;
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let told = tx.last_told().await?;
            if self.update_due(&tx.incident, told).is_none() {
                return Err(AppError::Conflict(
                    "no update is expected of this incident: nothing to snooze".into(),
                ));
            }
            let until = now + length;
            tx.snooze_update_reminder(until, now).await?;
            Ok(((), vec![EntryData::UpdateReminderSnoozed { until }]))
        })
        .await?;
        self.engine.wake();
        self.cadence(actor, id).await
    }

    /// What the tone check finds in an update, read by its widest audience. An update whose
    /// next-update time is set says when readers hear more, whatever its text says.
    pub fn update_tone(&self, u: &StatusUpdateRecord) -> Vec<Finding> {
        let mut found = tone::check(
            &u.text,
            communication::widest(&u.audiences),
            Some(u.phase),
            &self.settings.tone,
        );
        if u.next_update_by.is_some() {
            found.retain(|f| f.rule != tone::Rule::MissingNextUpdate);
        }
        found
    }
}

/// Where an incident's update cadence stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CadenceView {
    /// `None` while no update is expected (a resolved incident, a severity without cadence).
    pub due: Option<UpdateDue>,
    /// Until when the overdue reminder is put off.
    pub snoozed_until: Option<Timestamp>,
    pub now: Timestamp,
}

impl CadenceView {
    pub fn overdue(&self) -> bool {
        self.due.is_some_and(|d| d.overdue(self.now))
    }
}

/// Whether users have been told of an incident: by its first public update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsersTold {
    /// A private incident has no public updates.
    Private,
    NotYet,
    Since {
        first: jiff::Timestamp,
        updates: usize,
    },
}

impl UsersTold {
    pub fn of(private: bool, updates: &[StatusUpdateRecord]) -> Self {
        let public: Vec<jiff::Timestamp> = updates
            .iter()
            .filter(|u| u.audiences.contains(&Audience::Public))
            .filter_map(|u| u.published_at)
            .collect();
        match public.iter().min() {
            _ if private => Self::Private,
            Some(first) => Self::Since {
                first: *first,
                updates: public.len(),
            },
            None => Self::NotYet,
        }
    }
}

/// One open incident as managers are briefed on it: where it stands, when they hear next,
/// and what stakeholders were told so far, newest first.
#[derive(Debug, Clone)]
pub struct Briefing {
    pub incident: IncidentSummary,
    pub cadence: CadenceView,
    pub updates: Vec<StatusUpdateRecord>,
}

impl Aplomb {
    /// The internal view: every open incident the actor may see, worst first, with the
    /// updates published to stakeholders (drafts and responders' working notes stay on the
    /// incident page).
    pub async fn briefing(&self, actor: &Actor) -> AppResult<Vec<Briefing>> {
        // Every open incident, page by page: the worst may be the oldest.
        let mut filter = IncidentFilter {
            active: true,
            limit: 100,
            ..IncidentFilter::default()
        };
        let mut open = Vec::new();
        loop {
            let page = self.list(actor, &filter).await?;
            open.extend(page.items);
            match page.next_cursor {
                Some(cursor) => filter.before = Some(cursor),
                None => break,
            }
        }
        let mut briefings = Vec::new();
        for incident in open {
            let all = self.store.status_updates(incident.id).await?;
            let due = self.due_for(
                incident.severity,
                true,
                incident.declared_at,
                last_told(&all),
            );
            let cadence = self.with_snooze(incident.id, due).await?;
            let updates = all
                .into_iter()
                .filter(|u| {
                    u.state == UpdateState::Published
                        && u.audiences.contains(&Audience::Stakeholders)
                })
                .collect();
            briefings.push(Briefing {
                incident,
                cadence,
                updates,
            });
        }
        briefings.sort_by_key(|b| (b.incident.severity, b.incident.declared_at));
        Ok(briefings)
    }
}

/// Sends a just-published update out, in the transaction that publishes it: to those who
/// subscribed to one of its internal audiences, and, a public one, to the status page's
/// subscribers; reads it again with its deliveries. A drill's update is practice: it stays on
/// the incident and goes to no one.
async fn send_out(
    tx: &mut InvestigationTx,
    u: StatusUpdateRecord,
    now: Timestamp,
) -> AppResult<StatusUpdateRecord> {
    if tx.incident.is_drill() {
        return Ok(u);
    }
    if u.audiences.contains(&Audience::Public) {
        tx.tell_status_subscribers(u.id, now).await?;
    }
    if !u.audiences.iter().any(|a| a.is_internal()) {
        return Ok(u);
    }
    tx.send_to_subscribers(u.id, &u.audiences, now).await?;
    Ok(tx.status_update(u.id).await?)
}

fn published(u: &StatusUpdateRecord) -> EntryData {
    EntryData::UpdatePublished {
        update_id: u.id,
        phase: u.phase,
        audiences: u.audiences.clone(),
        text: u.text.clone(),
    }
}
