-- Readers who subscribe to the public status page: by email (double opt-in: nothing but the
-- confirmation is sent until they confirm) or by signed webhook (added by an admin), to every
-- component or to chosen ones. `token` is the subscriber's own secret in the confirmation and
-- one-click unsubscribe links.
CREATE TABLE status_subscribers (
    id              ID_COLUMN,
    kind            TEXT NOT NULL,
    address         TEXT NOT NULL,
    secret          TEXT NOT NULL,
    token           TEXT NOT NULL UNIQUE,
    all_components  BIGINT NOT NULL,
    confirmed_at    BIGINT,
    unsubscribed_at BIGINT,
    created_at      BIGINT NOT NULL,
    UNIQUE (kind, address)
);

CREATE TABLE status_subscriber_components (
    subscriber_id BIGINT NOT NULL REFERENCES status_subscribers(id),
    component_id  BIGINT NOT NULL REFERENCES status_components(id),
    PRIMARY KEY (subscriber_id, component_id)
);

-- What each subscriber is told, once each (`about`: a confirmation, a public update, a
-- maintenance announced, begun or completed), sent with leases and retried with backoff like
-- a page's deliveries.
CREATE TABLE subscriber_notices (
    id             ID_COLUMN,
    subscriber_id  BIGINT NOT NULL REFERENCES status_subscribers(id),
    about          TEXT NOT NULL,
    update_id      BIGINT REFERENCES status_updates(id),
    maintenance_id BIGINT REFERENCES maintenances(id),
    state          TEXT NOT NULL,
    due_at         BIGINT NOT NULL,
    attempts       BIGINT NOT NULL,
    lease_owner    TEXT,
    lease_until    BIGINT,
    detail         TEXT,
    created_at     BIGINT NOT NULL,
    UNIQUE (subscriber_id, about)
);
CREATE INDEX subscriber_notices_due ON subscriber_notices(state, due_at);
