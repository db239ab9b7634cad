-- Retention prunes oldest first: these let each batch find its rows without a scan.
CREATE INDEX delivery_attempts_at ON delivery_attempts(at);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
CREATE INDEX idempotent_requests_created ON idempotent_requests(created_at);
