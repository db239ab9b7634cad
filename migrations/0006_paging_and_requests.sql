-- Who opened an incident: a person ('declared') or an alert ('alert'). Resolving every alert
-- resolves only the incidents alerts opened, unless the service's alert rules ask for more.
ALTER TABLE incidents ADD COLUMN origin TEXT NOT NULL DEFAULT 'declared';
UPDATE incidents SET origin = 'alert'
    WHERE declared_by IN (SELECT id FROM users WHERE username = 'aplomb');

-- When and why a delivery was stopped (an acknowledgement or a resolution). One already in
-- flight may still be sent; its record then says it went out after the stop.
ALTER TABLE deliveries ADD COLUMN stopped_at BIGINT;
ALTER TABLE deliveries ADD COLUMN stopped_by TEXT;

-- A POST with an Idempotency-Key (other than a declaration, whose key commits with its
-- incident in idempotency_keys): claimed before the handler runs (status NULL), then holding
-- the answer to replay. The fingerprint covers method, path and body.
CREATE TABLE idempotent_requests (
    user_id     BIGINT NOT NULL REFERENCES users(id),
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      BIGINT,
    body        TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
