-- A review's meeting: when, where, and who is asked (JSON: username, name, and the email
-- address the invitation went to, if they have one); `sequence` counts its changes, each of
-- which sends the invitation again. meeting_invites is the outbox of those emails, one per
-- attendee with an address and change, leased and retried like the status page's notices;
-- a change cancels what was still pending.
CREATE TABLE review_meetings (
    incident_id  BIGINT PRIMARY KEY REFERENCES incidents(id),
    starts_at    BIGINT NOT NULL,
    ends_at      BIGINT NOT NULL,
    location     TEXT,
    attendees    TEXT NOT NULL,
    sequence     BIGINT NOT NULL,
    organizer_id BIGINT REFERENCES users(id),
    updated_at   BIGINT NOT NULL
);
CREATE TABLE meeting_invites (
    id          ID_COLUMN,
    incident_id BIGINT NOT NULL REFERENCES review_meetings(incident_id),
    sequence    BIGINT NOT NULL,
    username    TEXT NOT NULL,
    address     TEXT NOT NULL,
    state       TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    attempts    BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    detail      TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX meeting_invites_due ON meeting_invites(state, due_at);
CREATE INDEX meeting_invites_incident ON meeting_invites(incident_id);
