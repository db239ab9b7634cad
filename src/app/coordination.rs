//! Coordinating the response: tasks by domain with their check-ins, each responder's work
//! across incidents, and the changes responders make to production, each with its reference,
//! its reason and the hypothesis it acts on, and its rollback.

use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use super::investigation::{found, named};
use super::{Aplomb, AppError, AppResult};
use crate::domain::access::Actor;
use crate::domain::coordination::{
    Cadence, ChangeInput, ChangeState, RawChange, RawTask, TaskInput, TaskStatus, answers_for_task,
    check_in_minutes, optional_skill, task_title,
};
use crate::domain::escalation::PagingStop;
use crate::domain::incident::{RoleKind, UserRef};
use crate::domain::timeline::EntryData;
use crate::domain::{FieldError, bounded_text};
use crate::store::{InvestigationTx, ResponseChangeRecord, TaskRecord, Work};

/// A change made to production during the response.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeFields {
    /// What was changed.
    #[schema(example = "edge-proxy")]
    #[schema(value_type = crate::app::schema::TaskTitle)]
    pub system: String,
    #[schema(example = "Rolled the upstream timeout back to 30 s")]
    #[schema(value_type = crate::app::schema::Note)]
    pub description: String,
    /// A commit, a pull or merge request, or any URL.
    #[schema(example = "https://git.example/edge/pull/812")]
    #[schema(value_type = Option<crate::app::schema::BlankNote>)]
    pub reference: Option<String>,
    /// Why; required while no hypothesis is supported ("acting without a finding: …").
    #[schema(value_type = Option<crate::app::schema::BlankNote>)]
    pub reason: Option<String>,
    /// The hypothesis the change acts on.
    pub hypothesis_id: Option<i64>,
    /// How to undo it.
    #[schema(value_type = Option<crate::app::schema::BlankNote>)]
    pub rollback: Option<String>,
}

/// A change's new state: `{"state": "rolled_back"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEdit {
    #[schema(example = "rolled_back")]
    #[schema(value_type = crate::app::schema::ChangeStateName)]
    pub state: String,
}

impl Aplomb {
    pub async fn response_changes(
        &self,
        actor: &Actor,
        id: i64,
    ) -> AppResult<Vec<ResponseChangeRecord>> {
        self.incident(actor, id).await?;
        Ok(self.store.response_changes(id).await?)
    }

    /// Records a change made to production; while no hypothesis is supported it needs a reason,
    /// which the timeline keeps.
    pub async fn record_change(
        &self,
        actor: &Actor,
        id: i64,
        fields: ChangeFields,
    ) -> AppResult<ResponseChangeRecord> {
        self.may_change(actor, id).await?;
        let change = ChangeInput::parse(RawChange {
            system: &fields.system,
            description: &fields.description,
            reference: fields.reference.as_deref(),
            reason: fields.reason.as_deref(),
            hypothesis_id: fields.hypothesis_id,
            rollback: fields.rollback.as_deref(),
        })?;
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            add_change(tx, &change, actor.id, now).await
        })
        .await
    }

    pub async fn edit_change(
        &self,
        actor: &Actor,
        id: i64,
        change_id: i64,
        edit: ChangeEdit,
    ) -> AppResult<ResponseChangeRecord> {
        self.may_change(actor, id).await?;
        let to: ChangeState = edit.state.parse()?;
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let c = found(tx.response_change(change_id).await, "change")?;
            c.state.check_move(to)?;
            tx.roll_back(change_id, now).await?;
            let entry = EntryData::ResponseChangeRolledBack {
                change_id,
                system: c.system,
                description: c.description,
            };
            Ok((
                found(tx.response_change(change_id).await, "change")?,
                vec![entry],
            ))
        })
        .await
    }
}

/// Records a change in the incident's investigation: the hypothesis it names must be the
/// incident's, and it rests on a finding or on its stated reason (both kept on the timeline).
pub(super) async fn add_change(
    tx: &mut InvestigationTx,
    change: &ChangeInput,
    author_id: i64,
    now: Timestamp,
) -> AppResult<(ResponseChangeRecord, Vec<EntryData>)> {
    if let Some(hid) = change.hypothesis_id {
        named(tx.hypothesis(hid).await, "hypothesis_id", || {
            format!("this incident has no hypothesis {hid}")
        })?;
    }
    let without_finding = change.check_finding(tx.incident.findings)?;
    let c = tx.add_response_change(change, author_id, now).await?;
    let mut entries = vec![EntryData::ResponseChangeRecorded {
        change_id: c.id,
        system: c.system.clone(),
        description: c.description.clone(),
        reference: c.reference.clone(),
        hypothesis_id: c.hypothesis_id,
    }];
    entries.extend(without_finding);
    Ok((c, entries))
}

/// A task by domain for one responder: `{"title", "skill", "assignee", "check_in_minutes"}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskFields {
    #[schema(example = "Check the edge routers' BGP sessions")]
    #[schema(value_type = crate::app::schema::TaskTitle)]
    pub title: String,
    /// The domain of expertise it needs (network, database, …).
    #[schema(example = "network")]
    #[schema(value_type = Option<crate::app::schema::BlankSkill>)]
    pub skill: Option<String>,
    /// A username: who does it. They join the incident.
    #[schema(example = "olga")]
    pub assignee: Option<String>,
    /// How often the assignee reports progress (1–1440 minutes; 0 or absent: no check-ins).
    /// An overdue check-in reminds them and shows for the lead.
    #[schema(example = 15)]
    pub check_in_minutes: Option<i64>,
}

/// Changes to a task; a field left out stays as it is, `""` clears the skill or the assignee
/// and `"check_in_minutes": 0` stops check-ins. `status` is `open`, `in_progress`, `done` or
/// `cancelled`; a finished task may be taken up again.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskEdit {
    #[schema(value_type = Option<crate::app::schema::TaskTitle>)]
    pub title: Option<String>,
    #[schema(value_type = Option<crate::app::schema::BlankSkill>)]
    pub skill: Option<String>,
    pub assignee: Option<String>,
    #[schema(example = "done")]
    #[schema(value_type = Option<crate::app::schema::TaskStatusName>)]
    pub status: Option<String>,
    pub check_in_minutes: Option<i64>,
}

/// Progress reported on a task: `{"note"}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInFields {
    #[schema(example = "Two of four sessions flapping; checking the peering router next")]
    #[schema(value_type = crate::app::schema::Note)]
    pub note: String,
}

impl Aplomb {
    pub async fn tasks(&self, actor: &Actor, id: i64) -> AppResult<Vec<TaskRecord>> {
        self.incident(actor, id).await?;
        Ok(self.store.tasks(id).await?)
    }

    /// Gives a task; its assignee joins the incident, and its first check-in is due an
    /// interval from now.
    pub async fn add_task(
        &self,
        actor: &Actor,
        id: i64,
        fields: TaskFields,
    ) -> AppResult<TaskRecord> {
        self.may_change(actor, id).await?;
        let task = TaskInput::parse(RawTask {
            title: &fields.title,
            skill: fields.skill.as_deref(),
            assignee: fields.assignee.as_deref(),
            check_in_minutes: fields.check_in_minutes,
        })?;
        let assignee = match &task.assignee {
            Some(name) => Some(self.worker("assignee", name).await?),
            None => None,
        };
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let cadence = Cadence {
                status: TaskStatus::Open,
                assigned: assignee.is_some(),
                check_in_minutes: task.check_in_minutes,
                incident_active: tx.incident.status.is_active(),
            };
            let assignee_id = assignee.as_ref().map(|a| a.id);
            let t = tx
                .add_task(&task, assignee_id, cadence.due_after(now), actor.id, now)
                .await?;
            let mut entries = joined(tx, assignee.as_ref()).await?;
            entries.push(EntryData::TaskAdded {
                task_id: t.id,
                title: t.title.clone(),
                skill: t.skill.clone(),
                assignee: t.assignee.clone(),
            });
            Ok((t, entries))
        })
        .await
    }

    pub async fn edit_task(
        &self,
        actor: &Actor,
        id: i64,
        task_id: i64,
        edit: TaskEdit,
    ) -> AppResult<TaskRecord> {
        self.may_change(actor, id).await?;
        let title = edit.title.as_deref().map(task_title).transpose()?;
        let skill = edit
            .skill
            .as_deref()
            .map(|s| optional_skill(Some(s)))
            .transpose()?;
        let status = edit
            .status
            .as_deref()
            .map(str::parse::<TaskStatus>)
            .transpose()?;
        let minutes = edit
            .check_in_minutes
            .map(|m| check_in_minutes(Some(m)))
            .transpose()?;
        let assignee = match edit.assignee.as_deref().map(str::trim) {
            Some("") => Some(None),
            Some(name) => Some(Some(self.worker("assignee", name).await?)),
            None => None,
        };
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let mut t = found(tx.task(task_id).await, "task")?;
            let before = t.clone();
            let lead = tx.incident.holder(RoleKind::IncidentLead).map(|u| u.id);
            let rhythm = status.is_some_and(|s| s != before.status)
                || minutes.is_some_and(|m| m != before.check_in_minutes)
                || assignee
                    .as_ref()
                    .is_some_and(|a| a.as_ref().map(|a| a.id) != before.assignee_id);
            if rhythm && !answers_for_task(actor, before.assignee_id, lead) {
                return Err(AppError::Forbidden(
                    "only the task's assignee, the incident lead or an admin changes its \
                     status, assignee or check-in interval"
                        .into(),
                ));
            }
            let mut entries = Vec::new();
            if let Some(to) = status {
                before.status.check_move(to)?;
                t.status = to;
            }
            if let Some(assignee) = &assignee {
                t.assignee_id = assignee.as_ref().map(|a| a.id);
                t.assignee = assignee.as_ref().map(|a| a.username.clone());
                if t.assignee_id != before.assignee_id {
                    entries.extend(joined(tx, assignee.as_ref()).await?);
                }
            }
            if let Some(title) = title {
                t.title = title;
            }
            if let Some(skill) = skill {
                t.skill = skill;
            }
            if let Some(minutes) = minutes {
                t.check_in_minutes = minutes;
            }
            if (&t.title, &t.skill, t.check_in_minutes)
                != (&before.title, &before.skill, before.check_in_minutes)
            {
                entries.push(EntryData::TaskEdited {
                    task_id,
                    title: t.title.clone(),
                });
            }
            if t.assignee_id != before.assignee_id {
                entries.push(EntryData::TaskAssigned {
                    task_id,
                    title: t.title.clone(),
                    assignee: t.assignee.clone(),
                });
            }
            if t.status != before.status {
                entries.push(EntryData::TaskStatusChanged {
                    task_id,
                    title: t.title.clone(),
                    from: before.status,
                    to: t.status,
                });
            }
            if entries.is_empty() {
                return Err(AppError::Conflict("the change changes nothing".into()));
            }
            tx.update_task(&t, now).await?;
            // A new rhythm (status, assignee or interval) counts from now.
            let active = tx.incident.status.is_active();
            if t.cadence(active) != before.cadence(active) || t.assignee_id != before.assignee_id {
                let due = t.cadence(active).due_after(now);
                tx.rearm(task_id, due, PagingStop::TaskChanged, now).await?;
            }
            Ok((found(tx.task(task_id).await, "task")?, entries))
        })
        .await
    }

    /// Reports progress on an active task: the next check-in is due an interval from now, and
    /// an open task is then in progress.
    pub async fn check_in(
        &self,
        actor: &Actor,
        id: i64,
        task_id: i64,
        fields: CheckInFields,
    ) -> AppResult<TaskRecord> {
        self.may_change(actor, id).await?;
        let note = bounded_text("note", &fields.note, 1, 2000)?;
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let mut t = found(tx.task(task_id).await, "task")?;
            let lead = tx.incident.holder(RoleKind::IncidentLead).map(|u| u.id);
            if !answers_for_task(actor, t.assignee_id, lead) {
                return Err(AppError::Forbidden(
                    "only the task's assignee, the incident lead or an admin checks in on it"
                        .into(),
                ));
            }
            if !t.status.is_active() {
                return Err(AppError::Conflict(format!(
                    "the task is {}: reopen it to check in",
                    t.status
                )));
            }
            tx.add_check_in(task_id, actor.id, &note, now).await?;
            let mut entries = vec![EntryData::TaskCheckedIn {
                task_id,
                title: t.title.clone(),
                user: actor.username.clone(),
                note: note.clone(),
            }];
            if t.status == TaskStatus::Open {
                entries.push(EntryData::TaskStatusChanged {
                    task_id,
                    title: t.title.clone(),
                    from: TaskStatus::Open,
                    to: TaskStatus::InProgress,
                });
                t.status = TaskStatus::InProgress;
            }
            tx.update_task(&t, now).await?;
            let due = t.cadence(tx.incident.status.is_active()).due_after(now);
            tx.rearm(task_id, due, PagingStop::CheckedIn, now).await?;
            Ok((found(tx.task(task_id).await, "task")?, entries))
        })
        .await
    }

    /// What the actor holds across open incidents: their roles and active tasks.
    pub async fn my_work(&self, actor: &Actor) -> AppResult<Work> {
        Ok(self.store.work_of(actor.id).await?)
    }

    /// A task's assignee: someone who can act on incidents.
    /// Someone a `field` names to work on an incident: a user who can act on it.
    pub(super) async fn worker(&self, field: &'static str, name: &str) -> AppResult<UserRef> {
        let user = self
            .store
            .user_by_username(name.trim())
            .await?
            .ok_or_else(|| FieldError::new(field, format!("no user named {:?}", name.trim())))?;
        if !user.actor().can_act() {
            return Err(FieldError::new(
                field,
                format!("{} is a viewer and cannot work on incidents", user.username),
            )
            .into());
        }
        Ok(UserRef {
            id: user.id,
            username: user.username,
        })
    }
}

/// An assignee joins the incident, so a private one is theirs to see.
pub(super) async fn joined(
    tx: &mut InvestigationTx,
    user: Option<&UserRef>,
) -> AppResult<Vec<EntryData>> {
    Ok(match user {
        Some(user) if tx.join(user).await? => vec![EntryData::ParticipantAdded {
            user: user.username.clone(),
        }],
        _ => Vec::new(),
    })
}
