-- How a reviewer closed a crisis event: an outcome and a note (sealed: it may name the
-- person or what they said).
ALTER TABLE crisis_events ADD COLUMN review_outcome text
    CHECK (review_outcome IN ('reached-out', 'referred', 'no-action-needed', 'false-positive'));
ALTER TABLE crisis_events ADD COLUMN review_note bytea;

-- Every time someone opened an event's texts or closed it. Never updated or deleted.
CREATE TABLE crisis_event_access (
    id       bigserial PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES crisis_events (id),
    subject  text NOT NULL,
    action   text NOT NULL CHECK (action IN ('open', 'close')),
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crisis_event_access_event ON crisis_event_access (event_id, id);

CREATE FUNCTION crisis_event_access_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'crisis_event_access is append-only';
END $$;

CREATE TRIGGER crisis_event_access_append_only BEFORE UPDATE OR DELETE ON crisis_event_access
    FOR EACH ROW EXECUTE FUNCTION crisis_event_access_append_only();
