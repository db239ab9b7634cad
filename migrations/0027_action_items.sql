-- Action items a review decides on: owned, due, prioritised, tracked to done (or to a
-- decision not to do them, `reason` saying why). `remind_at` is when the engine next reminds
-- the owner (a day before the due time, at it, then daily while overdue); NULL while no
-- reminder is expected.
CREATE TABLE action_items (
    id          ID_COLUMN,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    title       TEXT NOT NULL,
    owner_id    BIGINT REFERENCES users(id),
    team_id     BIGINT REFERENCES teams(id),
    due_at      BIGINT,
    priority    TEXT NOT NULL,
    state       TEXT NOT NULL,
    section     TEXT,
    reason      TEXT,
    remind_at   BIGINT,
    created_by  BIGINT REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    done_at     BIGINT
);
CREATE INDEX action_items_incident ON action_items(incident_id);
CREATE INDEX action_items_remind ON action_items(remind_at);

-- A reminder of an action item is a page about it, delivered like any page.
ALTER TABLE pages ADD COLUMN action_item_id BIGINT REFERENCES action_items(id);

-- What the external tracker is told of action items (each creation and change, the item as
-- it then stood in `body`), sent by signed webhook with leases and retries like a page.
CREATE TABLE tracker_events (
    id             ID_COLUMN,
    action_item_id BIGINT NOT NULL REFERENCES action_items(id),
    event          TEXT NOT NULL,
    body           TEXT NOT NULL,
    state          TEXT NOT NULL,
    due_at         BIGINT NOT NULL,
    attempts       BIGINT NOT NULL,
    lease_owner    TEXT,
    lease_until    BIGINT,
    detail         TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX tracker_events_due ON tracker_events(state, due_at);
