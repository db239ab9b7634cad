-- Internal stakeholders' subscriptions to status updates: to every incident, to those of a
-- service, or to those of a severity or worse, each through one of the subscriber's contact
-- methods. An update published to stakeholders pages each subscriber it covers once (a page
-- with purpose `status_update` naming the update), so it is delivered, retried and recorded
-- like any page.
CREATE TABLE update_subscriptions (
    id                ID_COLUMN,
    user_id           BIGINT NOT NULL REFERENCES users(id),
    scope             TEXT NOT NULL,
    service_id        BIGINT REFERENCES services(id),
    severity          TEXT,
    contact_method_id BIGINT NOT NULL REFERENCES contact_methods(id),
    created_at        BIGINT NOT NULL
);
CREATE INDEX update_subscriptions_user ON update_subscriptions(user_id);

ALTER TABLE pages ADD COLUMN update_id BIGINT REFERENCES status_updates(id);
