-- A forge integration (kind 'forge') checks its webhooks with a signing secret: GitHub's HMAC
-- key, GitLab's token, or the key of aplomb's own signature scheme. Other kinds have none.
ALTER TABLE integrations ADD COLUMN signing_secret TEXT;
-- A forge's change is recorded once per incident and reference, however often it is delivered.
CREATE INDEX response_changes_reference ON response_changes(incident_id, reference);
-- The forge deliveries taken (GitHub's X-GitHub-Delivery, GitLab's X-Gitlab-Event-UUID), so a
-- redelivery records nothing again.
CREATE TABLE forge_deliveries (
    integration_id BIGINT NOT NULL REFERENCES integrations(id),
    delivery       TEXT NOT NULL,
    received_at    BIGINT NOT NULL,
    PRIMARY KEY (integration_id, delivery)
);
