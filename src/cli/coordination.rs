//! `aplomb task …` and `aplomb change …`: tasks with their check-ins, and the changes made
//! to production during an incident.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{CliError, Client, table, text};

#[derive(Debug, Subcommand)]
pub enum ChangeCommand {
    /// Record a change made to production and print its id.
    Record {
        incident: i64,
        /// What was changed, e.g. edge-proxy.
        #[arg(long)]
        system: String,
        #[arg(long)]
        description: String,
        /// A commit, a pull or merge request, or any URL.
        #[arg(long)]
        reference: Option<String>,
        /// Why; required while no hypothesis is supported.
        #[arg(long)]
        reason: Option<String>,
        /// Id of the hypothesis it acts on.
        #[arg(long)]
        hypothesis: Option<i64>,
        /// How to undo it.
        #[arg(long)]
        rollback: Option<String>,
    },
    /// Mark a change rolled back.
    Rollback { incident: i64, change: i64 },
    /// List the changes made during an incident, newest first.
    List { incident: i64 },
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Give a task and print its id.
    Add {
        incident: i64,
        /// What is to be done, e.g. "Check the edge routers' BGP sessions".
        title: String,
        /// The domain of expertise it needs, e.g. network.
        #[arg(long)]
        skill: Option<String>,
        /// Who does it (a username); they join the incident.
        #[arg(long)]
        assignee: Option<String>,
        /// How often the assignee checks in, in minutes; an overdue check-in reminds them.
        #[arg(long = "check-in")]
        check_in_minutes: Option<i64>,
    },
    /// Report progress on a task.
    CheckIn {
        incident: i64,
        task: i64,
        /// What was done and what comes next.
        note: String,
    },
    /// Mark a task done.
    Done { incident: i64, task: i64 },
    /// List an incident's tasks; overdue check-ins are marked.
    List { incident: i64 },
    /// My roles and active tasks across open incidents.
    Mine,
}

impl Client {
    pub async fn task(&self, command: TaskCommand) -> Result<(), CliError> {
        match command {
            TaskCommand::Add {
                incident,
                title,
                skill,
                assignee,
                check_in_minutes,
            } => {
                let body = json!({"title": title, "skill": skill, "assignee": assignee,
                    "check_in_minutes": check_in_minutes});
                let path = format!("/incidents/{incident}/tasks");
                let task = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&task, |v| format!("{}\n", v["id"]));
            }
            TaskCommand::CheckIn {
                incident,
                task,
                note,
            } => {
                let path = format!("/incidents/{incident}/tasks/{task}/check-ins");
                let t = self
                    .call(Method::POST, &path, Some(json!({"note": note})))
                    .await?;
                self.print(&t, |v| match v["check_in_due_at"].as_str() {
                    Some(due) => {
                        format!("checked in on task {}; next check-in by {due}\n", v["id"])
                    }
                    None => format!("checked in on task {}\n", v["id"]),
                });
            }
            TaskCommand::Done { incident, task } => {
                let path = format!("/incidents/{incident}/tasks/{task}");
                let body = json!({"status": "done"});
                let t = self.call(Method::PATCH, &path, Some(body)).await?;
                self.print(&t, |v| format!("task {} is done\n", v["id"]));
            }
            TaskCommand::List { incident } => {
                let path = format!("/incidents/{incident}/tasks");
                let list = self.call(Method::GET, &path, None).await?;
                self.print(&list, |v| {
                    let tasks: Vec<&Value> = v.as_array().into_iter().flatten().collect();
                    task_table(&tasks, false)
                });
            }
            TaskCommand::Mine => {
                let work = self.call(Method::GET, "/me/work", None).await?;
                self.print(&work, my_work);
            }
        }
        Ok(())
    }

    pub async fn change(&self, command: ChangeCommand) -> Result<(), CliError> {
        match command {
            ChangeCommand::Record {
                incident,
                system,
                description,
                reference,
                reason,
                hypothesis,
                rollback,
            } => {
                let body = json!({"system": system, "description": description,
                    "reference": reference, "reason": reason, "hypothesis_id": hypothesis,
                    "rollback": rollback});
                let path = format!("/incidents/{incident}/changes");
                let recorded = self.call(Method::POST, &path, Some(body)).await?;
                self.print(&recorded, |v| format!("{}\n", v["id"]));
            }
            ChangeCommand::Rollback { incident, change } => {
                let path = format!("/incidents/{incident}/changes/{change}");
                let body = json!({"state": "rolled_back"});
                let c = self.call(Method::PATCH, &path, Some(body)).await?;
                self.print(&c, |v| format!("change {} rolled back\n", v["id"]));
            }
            ChangeCommand::List { incident } => {
                let path = format!("/incidents/{incident}/changes");
                let list = self.call(Method::GET, &path, None).await?;
                self.print(&list, change_table);
            }
        }
        Ok(())
    }
}

fn change_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                text(&c["id"]),
                text(&c["state"]),
                text(&c["system"]),
                text(&c["description"]),
                text(&c["reference"]),
            ]
        })
        .collect();
    table(
        &["ID", "STATE", "SYSTEM", "DESCRIPTION", "REFERENCE"],
        &rows,
    )
}

/// Tasks as a table; `incidents` adds the incident each belongs to.
fn task_table(tasks: &[&Value], incidents: bool) -> String {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let due = match (t["overdue"].as_bool(), t["check_in_due_at"].as_str()) {
                (Some(true), Some(due)) => format!("OVERDUE since {due}"),
                (_, Some(due)) => due.to_string(),
                _ => "-".to_string(),
            };
            let mut row = vec![text(&t["id"])];
            if incidents {
                row.push(text(&t["incident_id"]));
            }
            row.extend([
                text(&t["status"]),
                text(&t["skill"]),
                text(&t["assignee"]),
                due,
                text(&t["title"]),
            ]);
            row
        })
        .collect();
    let mut head = vec!["ID"];
    if incidents {
        head.push("INCIDENT");
    }
    head.extend(["STATUS", "SKILL", "ASSIGNEE", "CHECK-IN DUE", "TITLE"]);
    table(&head, &rows)
}

fn my_work(work: &Value) -> String {
    let roles: Vec<Vec<String>> = work["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                text(&r["incident"]["id"]),
                text(&r["incident"]["severity"]),
                text(&r["role"]),
                text(&r["incident"]["title"]),
            ]
        })
        .collect();
    let tasks: Vec<&Value> = work["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| &w["task"])
        .collect();
    let mut out = String::from("Roles\n");
    if roles.is_empty() {
        out.push_str("  none\n");
    } else {
        out.push_str(&table(&["INCIDENT", "SEVERITY", "ROLE", "TITLE"], &roles));
    }
    out.push_str("\nTasks\n");
    if tasks.is_empty() {
        out.push_str("  none\n");
    } else {
        out.push_str(&task_table(&tasks, true));
    }
    out
}
