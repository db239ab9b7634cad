-- Drills: an incident whose origin is 'drill' has one row here, with the scenario as it was
-- given, who it pages, its targets (JSON: [duration name, seconds] pairs) and who started it (the
-- author of what its script plays). Each scripted event waits in drill_events until its time,
-- then is played into the incident in one transaction with what it records.
CREATE TABLE drills (
    incident_id BIGINT PRIMARY KEY REFERENCES incidents(id),
    scenario    TEXT NOT NULL,
    paging      TEXT NOT NULL,
    targets     TEXT NOT NULL,
    started_by  BIGINT NOT NULL REFERENCES users(id),
    started_at  BIGINT NOT NULL
);
CREATE TABLE drill_events (
    id          ID_COLUMN,
    incident_id BIGINT NOT NULL REFERENCES drills(incident_id),
    due_at      BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL,
    played_at   BIGINT
);
CREATE INDEX drill_events_due ON drill_events(played_at, due_at);
CREATE INDEX drill_events_incident ON drill_events(incident_id);
