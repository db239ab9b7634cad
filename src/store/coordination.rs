//! Coordinating the response: tasks with their check-ins, and the changes responders make to
//! production. Both are written in the incident's `InvestigationTx`, under its row lock, like
//! the hypotheses the changes act on.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::db::{Arg, Conn, Row, args, closed_statuses};
use super::investigation::InvestigationTx;
use super::{Result, Store, StoreError, ms};
use crate::domain::coordination::{
    Cadence, ChangeInput, ChangeState, TaskInput, TaskStatus, is_overdue,
};
use crate::domain::escalation::PagingStop;
use crate::domain::incident::{RoleKind, Severity, Status, UserRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseChangeRecord {
    pub id: i64,
    pub incident_id: i64,
    pub system: String,
    pub description: String,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub hypothesis_id: Option<i64>,
    pub rollback: Option<String>,
    pub state: ChangeState,
    pub author: Option<String>,
    pub created_at: Timestamp,
    pub rolled_back_at: Option<Timestamp>,
}

const CHANGES: &str = "SELECT c.id, c.incident_id, c.system, c.description, c.reference, c.reason, c.hypothesis_id, \
     c.rollback, c.state, u.username AS author, c.created_at, c.rolled_back_at \
     FROM response_changes c LEFT JOIN users u ON u.id = c.author_id";

impl Store {
    /// An incident's response changes, newest first.
    pub async fn response_changes(&self, incident_id: i64) -> Result<Vec<ResponseChangeRecord>> {
        let mut conn = self.read().await?;
        load_changes(&mut conn, incident_id, None).await
    }
}

impl InvestigationTx {
    pub async fn add_response_change(
        &mut self,
        change: &ChangeInput,
        author_id: i64,
        now: Timestamp,
    ) -> Result<ResponseChangeRecord> {
        let id: i64 = self
            .tx
            .fetch_one(
                "INSERT INTO response_changes (incident_id, system, description, reference, reason, hypothesis_id, \
                 rollback, state, author_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                args![
                    self.incident.id,
                    &change.system,
                    &change.description,
                    change.reference.as_deref(),
                    change.reason.as_deref(),
                    change.hypothesis_id,
                    change.rollback.as_deref(),
                    ChangeState::Applied.as_str(),
                    author_id,
                    ms(now),
                ],
            )
            .await?
            .get("id")?;
        self.response_change(id).await
    }

    /// The response change of this incident with `reference`, if one was recorded.
    pub async fn change_with_reference(&mut self, reference: &str) -> Result<Option<i64>> {
        let row = self
            .tx
            .fetch_optional(
                "SELECT id FROM response_changes WHERE incident_id = $1 AND reference = $2 LIMIT 1",
                args![self.incident.id, reference],
            )
            .await?;
        row.map(|r| r.get("id")).transpose()
    }

    /// A response change of this incident.
    pub async fn response_change(&mut self, change_id: i64) -> Result<ResponseChangeRecord> {
        let id = self.incident.id;
        load_changes(&mut self.tx, id, Some(change_id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    pub async fn roll_back(&mut self, change_id: i64, now: Timestamp) -> Result<()> {
        self.tx
            .execute(
                "UPDATE response_changes SET state = $1, rolled_back_at = $2 WHERE id = $3",
                args![ChangeState::RolledBack.as_str(), ms(now), change_id],
            )
            .await?;
        Ok(())
    }
}

async fn load_changes(
    conn: &mut Conn,
    incident_id: i64,
    only: Option<i64>,
) -> Result<Vec<ResponseChangeRecord>> {
    let (filter, id) = match only {
        Some(id) => ("c.id = $2", id),
        None => ("c.id > $2", 0),
    };
    let sql = format!("{CHANGES} WHERE c.incident_id = $1 AND {filter} ORDER BY c.id DESC");
    let rows = conn.fetch_all(&sql, args![incident_id, id]).await?;
    rows.iter()
        .map(|r| {
            Ok(ResponseChangeRecord {
                id: r.get("id")?,
                incident_id: r.get("incident_id")?,
                system: r.get("system")?,
                description: r.get("description")?,
                reference: r.get("reference")?,
                reason: r.get("reason")?,
                hypothesis_id: r.get("hypothesis_id")?,
                rollback: r.get("rollback")?,
                state: r.parsed("state")?,
                author: r.get("author")?,
                created_at: r.ts("created_at")?,
                rolled_back_at: r.opt_ts("rolled_back_at")?,
            })
        })
        .collect()
}

/// A task of an incident, with the check-ins reported on it (oldest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub id: i64,
    pub incident_id: i64,
    pub title: String,
    pub skill: Option<String>,
    pub assignee_id: Option<i64>,
    pub assignee: Option<String>,
    pub status: TaskStatus,
    pub check_in_minutes: Option<u32>,
    /// When the next check-in is due; past it, the task is overdue.
    pub check_in_due_at: Option<Timestamp>,
    /// When the engine next reminds the assignee.
    pub remind_at: Option<Timestamp>,
    pub author: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub check_ins: Vec<CheckInRecord>,
}

impl TaskRecord {
    /// Whether its check-in is overdue: the lead sees it marked.
    pub fn overdue(&self, now: Timestamp) -> bool {
        is_overdue(self.check_in_due_at, now)
    }

    /// Its check-in rhythm, in an incident that is still open or not.
    pub fn cadence(&self, incident_active: bool) -> Cadence {
        Cadence {
            status: self.status,
            assigned: self.assignee_id.is_some(),
            check_in_minutes: self.check_in_minutes,
            incident_active,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInRecord {
    pub id: i64,
    pub user: Option<String>,
    pub note: String,
    pub at: Timestamp,
}

/// A task's incident as its assignee sees it in "my work".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkIncident {
    pub id: i64,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub private: bool,
}

/// One responder's work across open incidents: the roles they hold and the active tasks
/// assigned to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Work {
    pub roles: Vec<(WorkIncident, RoleKind)>,
    pub tasks: Vec<(WorkIncident, TaskRecord)>,
}

const TASKS: &str = "SELECT t.id, t.incident_id, t.title, t.skill, t.assignee_id, a.username AS assignee, \
     t.status, t.check_in_minutes, t.check_in_due_at, t.remind_at, u.username AS author, t.created_at, t.updated_at \
     FROM tasks t LEFT JOIN users a ON a.id = t.assignee_id LEFT JOIN users u ON u.id = t.author_id";

const WORK_INCIDENT: &str = "i.id AS i_id, i.title AS i_title, i.severity AS i_severity, \
     i.status AS i_status, i.private AS i_private";

impl Store {
    /// An incident's tasks, in the order they were given.
    pub async fn tasks(&self, incident_id: i64) -> Result<Vec<TaskRecord>> {
        let mut conn = self.read().await?;
        load_tasks(&mut conn, "t.incident_id = $1", args![incident_id]).await
    }

    /// What `user_id` holds in incidents still open: roles, and active tasks assigned to them.
    pub async fn work_of(&self, user_id: i64) -> Result<Work> {
        let mut conn = self.read().await?;
        let rows = conn
            .fetch_all(
                &format!(
                    "SELECT {WORK_INCIDENT}, r.role FROM incident_roles r JOIN incidents i ON i.id = r.incident_id \
                     WHERE r.user_id = $1 AND i.status NOT IN {} ORDER BY i.id DESC, r.role",
                    closed_statuses!()
                ),
                args![user_id],
            )
            .await?;
        let mut work = Work::default();
        for r in &rows {
            work.roles.push((work_incident(r)?, r.parsed("role")?));
        }
        // The active tasks assigned to them in incidents still open, and those incidents.
        let mine = concat!(
            "t.assignee_id = $1 AND t.status IN ($2, $3) \
             AND t.incident_id IN (SELECT id FROM incidents WHERE status NOT IN ",
            closed_statuses!(),
            ")"
        );
        let keys = args![
            user_id,
            TaskStatus::Open.as_str(),
            TaskStatus::InProgress.as_str()
        ];
        let tasks = load_tasks(&mut conn, mine, keys).await?;
        let rows = conn
            .fetch_all(
                &format!(
                    "SELECT {WORK_INCIDENT} FROM incidents i \
                     WHERE i.id IN (SELECT t.incident_id FROM tasks t WHERE {mine})"
                ),
                keys,
            )
            .await?;
        let incidents = rows
            .iter()
            .map(|r| Ok((r.get::<i64>("i_id")?, work_incident(r)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        for task in tasks {
            let incident = incidents.get(&task.incident_id).ok_or_else(|| {
                StoreError::Corrupt(format!("task {} without its incident", task.id))
            })?;
            work.tasks.push((incident.clone(), task));
        }
        // Overdue check-ins first, then the soonest due.
        work.tasks
            .sort_by_key(|(_, t)| (t.check_in_due_at.is_none(), t.check_in_due_at, t.id));
        Ok(work)
    }
}

impl InvestigationTx {
    pub async fn add_task(
        &mut self,
        task: &TaskInput,
        assignee_id: Option<i64>,
        due: Option<Timestamp>,
        author_id: i64,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        let id: i64 = self
            .tx
            .fetch_one(
                "INSERT INTO tasks (incident_id, title, skill, assignee_id, status, check_in_minutes, \
                 check_in_due_at, remind_at, author_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $9) RETURNING id",
                args![
                    self.incident.id,
                    &task.title,
                    task.skill.as_deref(),
                    assignee_id,
                    TaskStatus::Open.as_str(),
                    task.check_in_minutes.map(i64::from),
                    due.map(ms),
                    author_id,
                    ms(now),
                ],
            )
            .await?
            .get("id")?;
        self.task(id).await
    }

    /// A task of this incident.
    pub async fn task(&mut self, task_id: i64) -> Result<TaskRecord> {
        let incident = self.incident.id;
        load_tasks(
            &mut self.tx,
            "t.incident_id = $1 AND t.id = $2",
            args![incident, task_id],
        )
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
    }

    /// Writes a task's fields as `t` holds them. Its check-in times are the engine's to move
    /// (it reminds under the task's row lock) until `rearm` gives the task a new rhythm.
    pub async fn update_task(&mut self, t: &TaskRecord, now: Timestamp) -> Result<()> {
        self.tx
            .execute(
                "UPDATE tasks SET title = $1, skill = $2, assignee_id = $3, status = $4, check_in_minutes = $5, \
                 updated_at = $6 WHERE id = $7",
                args![
                    &t.title,
                    t.skill.as_deref(),
                    t.assignee_id,
                    t.status.as_str(),
                    t.check_in_minutes.map(i64::from),
                    ms(now),
                    t.id
                ],
            )
            .await?;
        Ok(())
    }

    /// Starts a task's check-ins over: the next is due at `due` (none for `None`), and the
    /// reminders still queued about the old rhythm are cancelled, `stop` saying why.
    pub async fn rearm(
        &mut self,
        task_id: i64,
        due: Option<Timestamp>,
        stop: PagingStop,
        now: Timestamp,
    ) -> Result<()> {
        self.tx
            .execute(
                "UPDATE tasks SET check_in_due_at = $1, remind_at = $1 WHERE id = $2",
                args![due.map(ms), task_id],
            )
            .await?;
        self.tx
            .execute(
                "UPDATE deliveries SET state = 'cancelled', stopped_at = $1, stopped_by = $2 \
                 WHERE state = 'pending' AND page_id IN (SELECT id FROM pages WHERE task_id = $3)",
                args![ms(now), stop.as_str(), task_id],
            )
            .await?;
        Ok(())
    }

    pub async fn add_check_in(
        &mut self,
        task_id: i64,
        author_id: i64,
        note: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO task_check_ins (task_id, author_id, note, created_at) VALUES ($1, $2, $3, $4)",
                args![task_id, author_id, note, ms(now)],
            )
            .await?;
        Ok(())
    }

    /// Makes `user` a participant of the incident; false when they already were.
    pub async fn join(&mut self, user: &UserRef) -> Result<bool> {
        if !self.incident.join(user) {
            return Ok(false);
        }
        self.tx
            .execute(
                "INSERT INTO participants (incident_id, user_id) VALUES ($1, $2) \
                 ON CONFLICT (incident_id, user_id) DO NOTHING",
                args![self.incident.id, user.id],
            )
            .await?;
        Ok(true)
    }
}

/// The tasks `filter` selects (on `keys`), each with its check-ins, oldest first.
async fn load_tasks(conn: &mut Conn, filter: &str, keys: &[Arg]) -> Result<Vec<TaskRecord>> {
    let rows = conn
        .fetch_all(&format!("{TASKS} WHERE {filter} ORDER BY t.id"), keys)
        .await?;
    let mut tasks = rows
        .iter()
        .map(|r| {
            let minutes: Option<i64> = r.get("check_in_minutes")?;
            Ok(TaskRecord {
                id: r.get("id")?,
                incident_id: r.get("incident_id")?,
                title: r.get("title")?,
                skill: r.get("skill")?,
                assignee_id: r.get("assignee_id")?,
                assignee: r.get("assignee")?,
                status: r.parsed("status")?,
                check_in_minutes: minutes
                    .map(|m| {
                        u32::try_from(m)
                            .map_err(|_| StoreError::Corrupt(format!("check_in_minutes = {m}")))
                    })
                    .transpose()?,
                check_in_due_at: r.opt_ts("check_in_due_at")?,
                remind_at: r.opt_ts("remind_at")?,
                author: r.get("author")?,
                created_at: r.ts("created_at")?,
                updated_at: r.ts("updated_at")?,
                check_ins: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if tasks.is_empty() {
        return Ok(tasks);
    }
    let rows = conn
        .fetch_all(
            &format!(
                "SELECT c.id, c.task_id, u.username AS author, c.note, c.created_at FROM task_check_ins c \
                 JOIN tasks t ON t.id = c.task_id LEFT JOIN users u ON u.id = c.author_id \
                 WHERE {filter} ORDER BY c.id"
            ),
            keys,
        )
        .await?;
    for r in &rows {
        let task_id: i64 = r.get("task_id")?;
        if let Some(task) = tasks.iter_mut().find(|t| t.id == task_id) {
            task.check_ins.push(CheckInRecord {
                id: r.get("id")?,
                user: r.get("author")?,
                note: r.get("note")?,
                at: r.ts("created_at")?,
            });
        }
    }
    Ok(tasks)
}

fn work_incident(r: &Row) -> Result<WorkIncident> {
    Ok(WorkIncident {
        id: r.get("i_id")?,
        title: r.get("i_title")?,
        severity: r.parsed("i_severity")?,
        status: r.parsed("i_status")?,
        private: r.get::<i64>("i_private")? != 0,
    })
}
