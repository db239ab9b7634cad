-- Assembling the team: responders' profiles and contact methods, teams, schedules, escalation
-- policies, engagement rules, and the paging engine's durable work (escalations, pages,
-- deliveries and their attempts). JSON columns hold small lists the domain validates.
CREATE TABLE responder_profiles (
    user_id   BIGINT PRIMARY KEY REFERENCES users(id),
    time_zone TEXT NOT NULL,
    skills    TEXT NOT NULL
);

CREATE TABLE contact_methods (
    id         ID_COLUMN,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    address    TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE notification_rules (
    id                ID_COLUMN,
    user_id           BIGINT NOT NULL REFERENCES users(id),
    contact_method_id BIGINT NOT NULL REFERENCES contact_methods(id),
    delay_minutes     BIGINT NOT NULL
);

CREATE TABLE teams (
    id         ID_COLUMN,
    name       TEXT NOT NULL UNIQUE,
    domain     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE schedules (
    id         ID_COLUMN,
    name       TEXT NOT NULL UNIQUE,
    time_zone  TEXT NOT NULL,
    layers     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE schedule_overrides (
    id          ID_COLUMN,
    schedule_id BIGINT NOT NULL REFERENCES schedules(id),
    user_id     BIGINT NOT NULL REFERENCES users(id),
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL
);
CREATE INDEX schedule_overrides_window ON schedule_overrides(schedule_id, end_at);

CREATE TABLE escalation_policies (
    id           ID_COLUMN,
    name         TEXT NOT NULL UNIQUE,
    repeat_count BIGINT NOT NULL,
    levels       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

ALTER TABLE services ADD COLUMN team_id BIGINT REFERENCES teams(id);
ALTER TABLE services ADD COLUMN escalation_policy_id BIGINT REFERENCES escalation_policies(id);
ALTER TABLE services ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

CREATE TABLE service_dependencies (
    service_id    BIGINT NOT NULL REFERENCES services(id),
    depends_on_id BIGINT NOT NULL REFERENCES services(id),
    PRIMARY KEY (service_id, depends_on_id)
);

CREATE TABLE engagement_rules (
    id         ID_COLUMN,
    name       TEXT NOT NULL,
    conditions TEXT NOT NULL,
    target     TEXT NOT NULL,
    engaged_as TEXT,
    created_at BIGINT NOT NULL
);

-- One run of an escalation policy for an incident; `due_at` is when its current step fires.
CREATE TABLE escalations (
    id          ID_COLUMN,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    policy_id   BIGINT NOT NULL REFERENCES escalation_policies(id),
    round       BIGINT NOT NULL,
    level       BIGINT NOT NULL,
    state       TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX escalations_due ON escalations(state, due_at);

-- A responder paged at one step; the unique key makes "paged twice for one step" impossible.
CREATE TABLE pages (
    id              ID_COLUMN,
    incident_id     BIGINT NOT NULL REFERENCES incidents(id),
    escalation_id   BIGINT REFERENCES escalations(id),
    user_id         BIGINT NOT NULL REFERENCES users(id),
    step_key        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    acknowledged_at BIGINT,
    UNIQUE (incident_id, step_key, user_id)
);

-- One message to one contact method, claimed with a lease and retried with backoff.
CREATE TABLE deliveries (
    id           ID_COLUMN,
    page_id      BIGINT NOT NULL REFERENCES pages(id),
    kind         TEXT NOT NULL,
    address      TEXT NOT NULL,
    secret       TEXT NOT NULL,
    state        TEXT NOT NULL,
    due_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(state, due_at);

CREATE TABLE delivery_attempts (
    id          ID_COLUMN,
    delivery_id BIGINT NOT NULL REFERENCES deliveries(id),
    at          BIGINT NOT NULL,
    ok          BIGINT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id);
