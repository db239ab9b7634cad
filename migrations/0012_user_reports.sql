-- What people outside the team report is wrong, by service. A report waits in the triage
-- queue (incident_id NULL) until it joins an incident as a piece of its evidence: the
-- service's open incident when it came in, or the one a burst of waiting reports opened.
CREATE TABLE user_reports (
    id          ID_COLUMN,
    service_id  BIGINT NOT NULL REFERENCES services(id),
    text        TEXT NOT NULL,
    contact     TEXT,
    -- The support tool's user that sent it; NULL for the public form or endpoint.
    reporter_id BIGINT REFERENCES users(id),
    incident_id BIGINT REFERENCES incidents(id),
    evidence_id BIGINT REFERENCES evidence(id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX user_reports_waiting ON user_reports(service_id, incident_id, created_at);
