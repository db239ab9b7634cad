//! Action items: made and changed by those who may change their incident, seen by whoever may
//! see it; the overview across incidents shows only what the reader may see. Each creation and
//! change goes on the incident's timeline and, when a tracker is configured, to the tracker,
//! in the same commit.

use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use super::coordination::joined;
use super::investigation::found;
use super::{Aplomb, AppError, AppResult};
use crate::domain::access::Actor;
use crate::domain::action_items::{
    ActionError, ActionItemInput, ActionState, RawActionItem, check_move, next_reminder,
};
use crate::domain::coordination::task_title;
use crate::domain::incident::UserRef;
use crate::domain::timeline::EntryData;
use crate::domain::{FieldError, instant};
use crate::store::{ActionItemFilter, ActionItemRecord, ActionItemValues, InvestigationTx};

/// A new action item: `{"title", "owner", "team", "due_at", "priority", "section"}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionItemFields {
    #[schema(example = "Alert on replication lag above 30 s")]
    #[schema(value_type = crate::app::schema::TaskTitle)]
    pub title: String,
    /// A username: who sees it through. They join the incident and are reminded a day before
    /// it is due, when it falls due, and daily while it is overdue.
    #[schema(example = "olga")]
    pub owner: Option<String>,
    /// A team's name; by default the team owning the incident's first service that has one.
    #[schema(example = "database")]
    pub team: Option<String>,
    /// When it is due (RFC 3339, in the future).
    #[schema(example = "2036-03-20T17:00:00Z", format = DateTime)]
    pub due_at: Option<String>,
    /// `high`, `medium` (the default) or `low`.
    #[schema(value_type = Option<crate::app::schema::PriorityName>)]
    pub priority: Option<String>,
    /// The review section it answers to.
    #[schema(value_type = Option<crate::app::schema::PracticeName>)]
    pub section: Option<String>,
    /// The playbook it would change (its id): its change then names this item.
    #[schema(minimum = 1)]
    pub playbook: Option<i64>,
}

/// Changes to an action item; a field left out stays as it is, `""` clears the owner, the
/// team, the due time or the section. `state` is `open`, `in_progress`, `done` or `wont_do`
/// (which needs a `reason`); a finished item may be taken up again.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionItemEdit {
    #[schema(value_type = Option<crate::app::schema::TaskTitle>)]
    pub title: Option<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
    #[schema(example = "2036-03-27T17:00:00Z")]
    pub due_at: Option<String>,
    #[schema(value_type = Option<crate::app::schema::PriorityName>)]
    pub priority: Option<String>,
    #[schema(example = "done")]
    #[schema(value_type = Option<crate::app::schema::ActionStateName>)]
    pub state: Option<String>,
    /// Why it will not be done; with `"state": "wont_do"` only.
    #[schema(value_type = Option<crate::app::schema::Reason>)]
    pub reason: Option<String>,
    pub section: Option<String>,
    /// The playbook it would change (its id); 0 links none.
    #[schema(minimum = 0)]
    pub playbook: Option<i64>,
}

/// The overview's filters, as the API and the page take them.
#[derive(Debug, Clone, Default)]
pub struct ActionItemQuery {
    /// `open` for every item still to do, a state, or empty for all.
    pub state: Option<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
}

/// What the tracker hears on each event.
const CREATED: &str = "action_item.created";
const UPDATED: &str = "action_item.updated";

impl Aplomb {
    /// An incident's action items, in the order they were made.
    pub async fn incident_action_items(
        &self,
        actor: &Actor,
        id: i64,
    ) -> AppResult<Vec<ActionItemRecord>> {
        self.incident(actor, id).await?;
        let filter = ActionItemFilter {
            incident_id: Some(id),
            ..ActionItemFilter::default()
        };
        Ok(self.store.action_items(actor, &filter).await?)
    }

    /// Action items across incidents, by due time, of incidents the actor may see.
    pub async fn action_items(
        &self,
        actor: &Actor,
        query: &ActionItemQuery,
    ) -> AppResult<Vec<ActionItemRecord>> {
        let states = match query.state.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some("open") => vec![ActionState::Open, ActionState::InProgress],
            Some(s) => vec![s.parse()?],
        };
        let name = |raw: &Option<String>| {
            raw.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let filter = ActionItemFilter {
            incident_id: None,
            states,
            owner: name(&query.owner),
            team: name(&query.team),
        };
        Ok(self.store.action_items(actor, &filter).await?)
    }

    pub async fn action_item(&self, actor: &Actor, item_id: i64) -> AppResult<ActionItemRecord> {
        let incident_id = self.item_incident(item_id).await?;
        let items = self
            .incident_action_items(actor, incident_id)
            .await
            .map_err(hide_incident)?;
        items
            .into_iter()
            .find(|i| i.id == item_id)
            .ok_or(AppError::NotFound("action item"))
    }

    pub async fn add_action_item(
        &self,
        actor: &Actor,
        id: i64,
        fields: &ActionItemFields,
    ) -> AppResult<ActionItemRecord> {
        self.may_change(actor, id).await?;
        let now = self.now();
        let input = ActionItemInput::parse(RawActionItem {
            title: &fields.title,
            owner: fields.owner.as_deref(),
            team: fields.team.as_deref(),
            due_at: due_time(fields.due_at.as_deref(), now)?.flatten(),
            priority: fields.priority.as_deref(),
            section: fields.section.as_deref(),
        })?;
        let owner = match &input.owner {
            Some(name) => Some(self.worker("owner", name).await?),
            None => None,
        };
        let team_id = match &input.team {
            Some(name) => Some(self.team_named(name).await?),
            None => self.store.incident_team(id).await?,
        };
        let playbook = match fields.playbook {
            Some(p) => Some(self.playbook_named(p).await?),
            None => None,
        };
        let state = ActionState::Open;
        let values = ActionItemValues {
            title: input.title,
            owner_id: owner.as_ref().map(|o| o.id),
            team_id,
            due_at: input.due_at,
            priority: input.priority,
            state,
            section: input.section,
            playbook,
            reason: None,
            remind_at: next_reminder(state, owner.is_some(), input.due_at, now),
            done_at: None,
        };
        let item = self
            .investigate(actor, id, async |tx: &mut InvestigationTx| {
                let item = tx.add_action_item(&values, actor.id, now).await?;
                let mut entries = joined(tx, owner.as_ref()).await?;
                entries.push(EntryData::ActionItemAdded {
                    item_id: item.id,
                    title: item.title.clone(),
                    owner: item.owner.clone(),
                    due_at: item.due_at,
                });
                self.tell_tracker(tx, CREATED, &item, now).await?;
                Ok((item, entries))
            })
            .await?;
        self.engine.wake();
        Ok(item)
    }

    pub async fn edit_action_item(
        &self,
        actor: &Actor,
        item_id: i64,
        edit: &ActionItemEdit,
    ) -> AppResult<ActionItemRecord> {
        let incident_id = self.item_incident(item_id).await?;
        self.may_change(actor, incident_id)
            .await
            .map_err(hide_incident)?;
        let now = self.now();
        let title = edit.title.as_deref().map(task_title).transpose()?;
        let owner = match edit.owner.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(name) => Some(Some(self.worker("owner", name).await?)),
        };
        let team = match edit.team.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(name) => Some(Some(self.team_named(name).await?)),
        };
        let due = due_time(edit.due_at.as_deref(), now)?;
        let priority = edit.priority.as_deref().map(str::parse).transpose()?;
        let state = edit
            .state
            .as_deref()
            .map(str::parse::<ActionState>)
            .transpose()?;
        let section = match edit.section.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(s) => Some(Some(s.parse()?)),
        };
        let playbook = match edit.playbook {
            None => None,
            Some(0) => Some(None),
            Some(p) => Some(Some(self.playbook_named(p).await?)),
        };
        if state.is_none() && edit.reason.is_some() {
            return Err(
                FieldError::new("reason", "is only accepted with the state wont_do").into(),
            );
        }
        let item = self
            .investigate(actor, incident_id, async |tx: &mut InvestigationTx| {
                let before = found(tx.action_item(item_id).await, "action item")?;
                let mut values = ActionItemValues::from(&before);
                let mut changed = Vec::new();
                let mut set = |name: &str, differs: bool| {
                    if differs {
                        changed.push(name.to_string());
                    }
                };
                if let Some(title) = title {
                    set("title", title != values.title);
                    values.title = title;
                }
                if let Some(owner) = &owner {
                    let id = owner.as_ref().map(|o: &UserRef| o.id);
                    set("owner", id != values.owner_id);
                    values.owner_id = id;
                }
                if let Some(team) = team {
                    set("team", team != values.team_id);
                    values.team_id = team;
                }
                if let Some(due) = due {
                    set("due_at", due != values.due_at);
                    values.due_at = due;
                }
                if let Some(priority) = priority {
                    set("priority", priority != values.priority);
                    values.priority = priority;
                }
                if let Some(section) = section {
                    set("section", section != values.section);
                    values.section = section;
                }
                if let Some(playbook) = playbook {
                    set("playbook", playbook != values.playbook);
                    values.playbook = playbook;
                }
                if let Some(to) = state {
                    values.reason = check_move(values.state, to, edit.reason.as_deref()).map_err(
                        |e| match e {
                            ActionError::Field(e) => AppError::from(e),
                            ActionError::Rule(e) => AppError::from(e),
                        },
                    )?;
                    values.done_at = (to == ActionState::Done).then_some(now);
                    values.state = to;
                    set("state", true);
                }
                if changed.is_empty() {
                    return Ok((before, Vec::new()));
                }
                values.remind_at =
                    next_reminder(values.state, values.owner_id.is_some(), values.due_at, now);
                let item = tx.update_action_item(item_id, &values, now).await?;
                let mut entries = match &owner {
                    Some(owner) => joined(tx, owner.as_ref()).await?,
                    None => Vec::new(),
                };
                entries.push(EntryData::ActionItemChanged {
                    item_id,
                    title: item.title.clone(),
                    changed,
                    state: item.state,
                });
                self.tell_tracker(tx, UPDATED, &item, now).await?;
                Ok((item, entries))
            })
            .await
            .map_err(hide_incident)?;
        self.engine.wake();
        Ok(item)
    }

    /// Queues the tracker's event, if a tracker is configured.
    async fn tell_tracker(
        &self,
        tx: &mut InvestigationTx,
        event: &str,
        item: &ActionItemRecord,
        now: Timestamp,
    ) -> AppResult<()> {
        if self.settings.tracker.is_some() {
            tx.tell_tracker(event, item, now).await?;
        }
        Ok(())
    }

    async fn item_incident(&self, item_id: i64) -> AppResult<i64> {
        self.store
            .action_item_incident(item_id)
            .await?
            .ok_or(AppError::NotFound("action item"))
    }

    async fn team_named(&self, name: &str) -> AppResult<i64> {
        self.store
            .team_id(name)
            .await?
            .ok_or_else(|| FieldError::new("team", format!("no team named {name:?}")).into())
    }

    /// A playbook an action item names, which must exist.
    async fn playbook_named(&self, id: i64) -> AppResult<i64> {
        match self.store.playbook(id).await? {
            Some(p) => Ok(p.id),
            None => Err(FieldError::new("playbook", format!("no playbook {id}")).into()),
        }
    }
}

/// A due time as given: absent keeps it (`None`), `""` clears it (`Some(None)`); a new one
/// must be in the future.
fn due_time(raw: Option<&str>, now: Timestamp) -> AppResult<Option<Option<Timestamp>>> {
    match raw.map(str::trim) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(raw) => {
            let at = instant("due_at", raw)?;
            if at <= now {
                return Err(FieldError::new("due_at", "must be in the future").into());
            }
            Ok(Some(Some(at)))
        }
    }
}

/// An item reached by its own id: the incident it belongs to is not named, so its absence
/// (or privacy) reads as the item's.
fn hide_incident(e: AppError) -> AppError {
    match e {
        AppError::NotFound("incident") => AppError::NotFound("action item"),
        e => e,
    }
}
