-- The team's status update templates: one text per phase and audience, for one incident type
-- or (an empty incident_type) for any. Phases and audiences without one start from aplomb's
-- own (domain/templates.rs).
CREATE TABLE update_templates (
    phase         TEXT NOT NULL,
    audience      TEXT NOT NULL,
    incident_type TEXT NOT NULL,
    text          TEXT NOT NULL,
    updated_by    BIGINT REFERENCES users(id),
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (phase, audience, incident_type)
);
