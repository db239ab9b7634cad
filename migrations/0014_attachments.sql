-- Small files attached to a piece of evidence: a screenshot of a graph, a log file. The
-- content is kept in the database with the rest of the incident, so a backup holds it all.
CREATE TABLE attachments (
    id           ID_COLUMN,
    incident_id  BIGINT NOT NULL REFERENCES incidents(id),
    evidence_id  BIGINT NOT NULL REFERENCES evidence(id),
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content      BYTES_COLUMN NOT NULL,
    author_id    BIGINT REFERENCES users(id),
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_evidence ON attachments(evidence_id);
CREATE INDEX attachments_incident ON attachments(incident_id);
