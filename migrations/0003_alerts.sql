-- Alert ingestion: integrations (routing keys) per service, alerts deduplicated per service by
-- key while open, and change events. Per-service alert rules are JSON the domain validates.
CREATE TABLE integrations (
    id          ID_COLUMN,
    service_id  BIGINT NOT NULL REFERENCES services(id),
    kind        TEXT NOT NULL,
    routing_key TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

ALTER TABLE services ADD COLUMN alert_rules TEXT NOT NULL DEFAULT '{}';

CREATE TABLE alerts (
    id            ID_COLUMN,
    service_id    BIGINT NOT NULL REFERENCES services(id),
    dedup_key     TEXT NOT NULL,
    status        TEXT NOT NULL,
    severity      TEXT NOT NULL,
    summary       TEXT NOT NULL,
    source        TEXT NOT NULL,
    payload       TEXT NOT NULL,
    event_count   BIGINT NOT NULL,
    first_at      BIGINT NOT NULL,
    last_at       BIGINT NOT NULL,
    resolved_at   BIGINT,
    incident_id   BIGINT REFERENCES incidents(id)
);
-- At most one open alert per key and service: a repeated trigger merges into it.
CREATE UNIQUE INDEX alerts_open_key ON alerts(service_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_incident ON alerts(incident_id);
CREATE INDEX alerts_recent ON alerts(last_at);

CREATE TABLE change_events (
    id          ID_COLUMN,
    service_id  BIGINT NOT NULL REFERENCES services(id),
    summary     TEXT NOT NULL,
    source      TEXT NOT NULL,
    happened_at BIGINT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX change_events_service ON change_events(service_id, happened_at);
