-- Retention keeps an alert that is some incident's evidence: this lets that check, and the
-- foreign-key check on each deleted alert, find evidence by alert without scanning it.
CREATE INDEX evidence_alert ON evidence(alert_id);
