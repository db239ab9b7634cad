-- The update cadence: when the engine next looks at an incident's due status update
-- (update_remind_at, set to "now" whenever what the due time depends on changes: its
-- declaration, severity, status or a published update), and until when its communications
-- lead put off the overdue reminder.
ALTER TABLE incidents ADD COLUMN update_remind_at BIGINT;
ALTER TABLE incidents ADD COLUMN update_snoozed_until BIGINT;
CREATE INDEX incidents_update_remind ON incidents(update_remind_at);
UPDATE incidents SET update_remind_at = updated_at WHERE status <> 'resolved';

-- What a page asks of its reader: an acknowledgement, a task's check-in, or an overdue update.
ALTER TABLE pages ADD COLUMN purpose TEXT NOT NULL DEFAULT 'page';
UPDATE pages SET purpose = 'check_in' WHERE task_id IS NOT NULL;
