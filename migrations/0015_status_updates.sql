-- Status updates: what the team tells its audiences, drafted, then published (and perhaps
-- corrected). Each publication and correction is also a typed timeline entry.
CREATE TABLE status_updates (
    id             ID_COLUMN,
    incident_id    BIGINT NOT NULL REFERENCES incidents(id),
    text           TEXT NOT NULL,
    phase          TEXT NOT NULL,
    -- Comma-separated, in a fixed order: public, stakeholders, responders.
    audiences      TEXT NOT NULL,
    state          TEXT NOT NULL,
    next_update_by BIGINT,
    author_id      BIGINT REFERENCES users(id),
    created_at     BIGINT NOT NULL,
    published_at   BIGINT,
    corrected_at   BIGINT
);
CREATE INDEX status_updates_incident ON status_updates(incident_id);
