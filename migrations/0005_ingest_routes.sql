-- One counter the event writer checks in each batch: it keeps routing keys, services' alert
-- rules and silences in memory, and reloads them when a change to any of them bumps this.
CREATE TABLE ingest_routes (
    id          BIGINT PRIMARY KEY,
    generation  BIGINT NOT NULL
);
INSERT INTO ingest_routes (id, generation) VALUES (1, 0);

-- Each new alert looks up its service's open incident: by service, not by incident.
CREATE INDEX incident_services_service ON incident_services(service_id, incident_id);
