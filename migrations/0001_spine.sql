-- Shared by both backends. ID_COLUMN is the one dialect difference: store/migrate.rs turns it
-- into INTEGER PRIMARY KEY AUTOINCREMENT (SQLite) or BIGSERIAL PRIMARY KEY (PostgreSQL).
-- Times are Unix milliseconds (BIGINT) on both backends so the SQL elsewhere is shared.
CREATE TABLE users (
    id            ID_COLUMN,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id         ID_COLUMN,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE services (
    id          ID_COLUMN,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    owner_team  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE incidents (
    id            ID_COLUMN,
    title         TEXT NOT NULL,
    summary       TEXT NOT NULL,
    severity      TEXT NOT NULL,
    incident_type TEXT NOT NULL,
    status        TEXT NOT NULL,
    private       BIGINT NOT NULL,
    declared_by   BIGINT NOT NULL REFERENCES users(id),
    declared_at   BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    resolved_at   BIGINT
);
CREATE INDEX incidents_status ON incidents(status, id);

CREATE TABLE incident_services (
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    service_id  BIGINT NOT NULL REFERENCES services(id),
    PRIMARY KEY (incident_id, service_id)
);

CREATE TABLE incident_roles (
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    role        TEXT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (incident_id, role)
);

CREATE TABLE participants (
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    user_id     BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX participants_user ON participants(user_id);

CREATE TABLE timeline_entries (
    id          ID_COLUMN,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    at          BIGINT NOT NULL,
    actor_id    BIGINT REFERENCES users(id),
    kind        TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX timeline_incident ON timeline_entries(incident_id, id);

CREATE TABLE idempotency_keys (
    user_id     BIGINT NOT NULL REFERENCES users(id),
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
