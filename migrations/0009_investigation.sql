-- Investigating before reacting: evidence, hypotheses with the evidence for and against each,
-- and the tests run on them. Each change is also a typed timeline entry.
CREATE TABLE evidence (
    id          ID_COLUMN,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    kind        TEXT NOT NULL,
    summary     TEXT NOT NULL,
    excerpt     TEXT,
    source_url  TEXT,
    observed_at BIGINT,
    alert_id    BIGINT REFERENCES alerts(id),
    change_id   BIGINT REFERENCES change_events(id),
    pinned      BIGINT NOT NULL DEFAULT 0,
    author_id   BIGINT REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX evidence_incident ON evidence(incident_id);

CREATE TABLE hypotheses (
    id          ID_COLUMN,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    statement   TEXT NOT NULL,
    state       TEXT NOT NULL,
    -- The latest test when it was last judged: a judgement is reversed only on a newer test.
    judged_after_test BIGINT NOT NULL DEFAULT 0,
    owner_id    BIGINT REFERENCES users(id),
    author_id   BIGINT REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- The incident's findings are counted with it on every load.
CREATE INDEX hypotheses_incident ON hypotheses(incident_id, state);

CREATE TABLE hypothesis_evidence (
    hypothesis_id BIGINT NOT NULL REFERENCES hypotheses(id),
    evidence_id   BIGINT NOT NULL REFERENCES evidence(id),
    stance        TEXT NOT NULL,
    PRIMARY KEY (hypothesis_id, evidence_id)
);
CREATE INDEX hypothesis_evidence_evidence ON hypothesis_evidence(evidence_id);

CREATE TABLE hypothesis_tests (
    id            ID_COLUMN,
    hypothesis_id BIGINT NOT NULL REFERENCES hypotheses(id),
    description   TEXT NOT NULL,
    result        TEXT NOT NULL,
    author_id     BIGINT REFERENCES users(id),
    created_at    BIGINT NOT NULL
);
CREATE INDEX hypothesis_tests_hypothesis ON hypothesis_tests(hypothesis_id);
