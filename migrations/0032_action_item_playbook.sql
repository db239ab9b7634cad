-- The playbook an action item would change, if it would change one.
ALTER TABLE action_items ADD COLUMN playbook_id BIGINT REFERENCES playbooks(id);
