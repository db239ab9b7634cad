-- The public status page: components (in optional groups, each backed by services), the
-- component statuses public updates set, and each component's status history, from which
-- its uptime bars are drawn (never from raw events at request time).
CREATE TABLE status_components (
    id          ID_COLUMN,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    group_name  TEXT,
    position    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE status_component_services (
    component_id BIGINT NOT NULL REFERENCES status_components(id),
    service_id   BIGINT NOT NULL REFERENCES services(id),
    PRIMARY KEY (component_id, service_id)
);

CREATE TABLE update_components (
    update_id    BIGINT NOT NULL REFERENCES status_updates(id),
    component_id BIGINT NOT NULL REFERENCES status_components(id),
    status       TEXT NOT NULL,
    PRIMARY KEY (update_id, component_id)
);
CREATE INDEX update_components_component ON update_components(component_id);

-- Appended whenever a component's derived status changes (a repeat is harmless: the bars
-- read changes, not rows).
CREATE TABLE component_status_log (
    id           ID_COLUMN,
    component_id BIGINT NOT NULL REFERENCES status_components(id),
    status       TEXT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX component_status_log_component ON component_status_log(component_id, at);
