-- How the status page presents itself, as an admin set it through the API or the web UI: one
-- row at most. Without it the config file's [status_page] (or aplomb's default) applies.
CREATE TABLE status_brand (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    name       TEXT NOT NULL,
    logo_url   TEXT,
    accent     TEXT NOT NULL,
    updated_by BIGINT REFERENCES users(id),
    updated_at BIGINT NOT NULL
);
