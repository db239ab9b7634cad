-- Tasks by domain during an incident, with the check-ins their assignees report. A task
-- expecting check-ins keeps when the next is due (check_in_due_at, which the lead sees
-- overdue) and when the engine next reminds its assignee (remind_at: the due time, then once
-- per interval while it stays overdue); both are NULL when none is expected.
CREATE TABLE tasks (
    id               ID_COLUMN,
    incident_id      BIGINT NOT NULL REFERENCES incidents(id),
    title            TEXT NOT NULL,
    skill            TEXT,
    assignee_id      BIGINT REFERENCES users(id),
    status           TEXT NOT NULL,
    check_in_minutes BIGINT,
    check_in_due_at  BIGINT,
    remind_at        BIGINT,
    author_id        BIGINT REFERENCES users(id),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX tasks_incident ON tasks(incident_id);
CREATE INDEX tasks_assignee ON tasks(assignee_id, status);
CREATE INDEX tasks_remind ON tasks(remind_at);

CREATE TABLE task_check_ins (
    id         ID_COLUMN,
    task_id    BIGINT NOT NULL REFERENCES tasks(id),
    author_id  BIGINT REFERENCES users(id),
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX task_check_ins_task ON task_check_ins(task_id);

-- A page about a task is a check-in reminder to its assignee, sent through the same
-- deliveries as any page (one per overdue period: the period is in its step_key).
ALTER TABLE pages ADD COLUMN task_id BIGINT REFERENCES tasks(id);
CREATE INDEX pages_task ON pages(task_id);
