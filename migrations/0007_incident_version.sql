-- Every change to an incident bumps its version, so a client that saw an older one is told
-- its view is stale instead of overwriting a colleague's change.
ALTER TABLE incidents ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
