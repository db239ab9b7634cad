-- Maintenance windows and silences: alerts they match are stored and visible, but open no
-- incident and page nobody. A maintenance window is a silence with no matchers.
CREATE TABLE silences (
    id          ID_COLUMN,
    service_id  BIGINT REFERENCES services(id),
    matchers    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_by  BIGINT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX silences_active ON silences(ends_at);

ALTER TABLE alerts ADD COLUMN silenced BIGINT NOT NULL DEFAULT 0;
