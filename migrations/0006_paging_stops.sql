-- Who opened an incident: a person ('declared') or an alert ('alert'). Resolving every alert
-- resolves only the incidents alerts opened, unless the service's alert rules ask for more.
ALTER TABLE incidents ADD COLUMN origin TEXT NOT NULL DEFAULT 'declared';
UPDATE incidents SET origin = 'alert'
    WHERE declared_by IN (SELECT id FROM users WHERE username = 'aplomb');

-- When and why a delivery was stopped (an acknowledgement or a resolution). One already in
-- flight may still be sent; its record then says it went out after the stop.
ALTER TABLE deliveries ADD COLUMN stopped_at BIGINT;
ALTER TABLE deliveries ADD COLUMN stopped_by TEXT;
