-- Post-incident reviews: the team's Markdown narrative of one incident (its figures are read
-- from the timeline each time, never stored), where the detection time was set if the review
-- moved it, and when it was published. Every saved text is kept in review_edits, for the
-- review's edit history.
CREATE TABLE reviews (
    incident_id  BIGINT PRIMARY KEY REFERENCES incidents(id),
    text         TEXT NOT NULL,
    detected_at  BIGINT,
    version      BIGINT NOT NULL,
    updated_by   BIGINT REFERENCES users(id),
    updated_at   BIGINT NOT NULL,
    published_at BIGINT
);
CREATE TABLE review_edits (
    id          ID_COLUMN,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    version     BIGINT NOT NULL,
    author_id   BIGINT REFERENCES users(id),
    at          BIGINT NOT NULL,
    text        TEXT NOT NULL
);
CREATE UNIQUE INDEX review_edits_incident ON review_edits(incident_id, version);
