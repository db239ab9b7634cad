-- Changes responders make to production during an incident, tracked like any versioned
-- change: reference, reason, the hypothesis acted on, and how to undo it.
CREATE TABLE response_changes (
    id             ID_COLUMN,
    incident_id    BIGINT NOT NULL REFERENCES incidents(id),
    system         TEXT NOT NULL,
    description    TEXT NOT NULL,
    reference      TEXT,
    reason         TEXT,
    hypothesis_id  BIGINT REFERENCES hypotheses(id),
    rollback       TEXT,
    state          TEXT NOT NULL,
    author_id      BIGINT REFERENCES users(id),
    created_at     BIGINT NOT NULL,
    rolled_back_at BIGINT
);
CREATE INDEX response_changes_incident ON response_changes(incident_id);
