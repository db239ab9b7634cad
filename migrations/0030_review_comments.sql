-- Comments on a review, oldest first: the team's discussion beside the text, each about the
-- whole review or one section of it (a practice of the gap analysis, or what went well).
CREATE TABLE review_comments (
    id          ID_COLUMN,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    section     TEXT,
    text        TEXT NOT NULL,
    author_id   BIGINT REFERENCES users(id),
    at          BIGINT NOT NULL
);
CREATE INDEX review_comments_incident ON review_comments(incident_id, id);
