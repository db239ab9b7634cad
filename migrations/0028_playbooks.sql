-- Playbooks per incident type, and optionally per service (`service_key` is the service's id,
-- 0 for the whole type, so one playbook per type and service). Every change is a new row in
-- playbook_versions with its author, its reason and the action item that asked for it;
-- `version` is the current one. Steps and roles are JSON lists.
CREATE TABLE playbooks (
    id            ID_COLUMN,
    incident_type TEXT NOT NULL,
    service_id    BIGINT REFERENCES services(id),
    service_key   BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (incident_type, service_key)
);
CREATE TABLE playbook_versions (
    playbook_id    BIGINT NOT NULL REFERENCES playbooks(id),
    version        BIGINT NOT NULL,
    steps          TEXT NOT NULL,
    roles          TEXT NOT NULL,
    guidance       TEXT NOT NULL,
    reason         TEXT NOT NULL,
    action_item_id BIGINT REFERENCES action_items(id),
    author_id      BIGINT REFERENCES users(id),
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (playbook_id, version)
);

-- The playbook version an incident ran, set at its declaration, and its checklist: the
-- version's steps, each checked by someone at some time (or not yet).
ALTER TABLE incidents ADD COLUMN playbook_id BIGINT REFERENCES playbooks(id);
ALTER TABLE incidents ADD COLUMN playbook_version BIGINT;
CREATE TABLE checklist_steps (
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    step        BIGINT NOT NULL,
    text        TEXT NOT NULL,
    checked_by  BIGINT REFERENCES users(id),
    checked_at  BIGINT,
    PRIMARY KEY (incident_id, step)
);
