-- An incident's page lists its alerts most recently seen first (ties by id): with tens of
-- thousands joined to one incident, sorting them all for the first twenty is what made the
-- page slow. With id in the index PostgreSQL reads them in order too (SQLite has the rowid).
DROP INDEX alerts_incident;
CREATE INDEX alerts_incident ON alerts(incident_id, last_at, id);
