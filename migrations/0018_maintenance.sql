-- Scheduled maintenance: announced on the status page ahead of its window, its components
-- under maintenance while it runs, and the alerts of their services silenced by silences
-- it owns. `status` is what readers were told; the engine moves it on at the set times.
CREATE TABLE maintenances (
    id              ID_COLUMN,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,
    scheduled_for   BIGINT NOT NULL,
    scheduled_until BIGINT NOT NULL,
    started_at      BIGINT,
    ended_at        BIGINT,
    created_by      BIGINT NOT NULL REFERENCES users(id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX maintenances_due ON maintenances(status, scheduled_for);

CREATE TABLE maintenance_components (
    maintenance_id BIGINT NOT NULL REFERENCES maintenances(id),
    component_id   BIGINT NOT NULL REFERENCES status_components(id),
    PRIMARY KEY (maintenance_id, component_id)
);

ALTER TABLE silences ADD COLUMN maintenance_id BIGINT REFERENCES maintenances(id);
CREATE INDEX silences_maintenance ON silences(maintenance_id);
