-- How a reviewer closed a crisis event: an outcome and a note (sealed: it may name the
-- person or what they said).
ALTER TABLE crisis_events ADD COLUMN review_outcome TEXT
    CHECK (review_outcome IN ('reached-out', 'referred', 'no-action-needed', 'false-positive'));
ALTER TABLE crisis_events ADD COLUMN review_note BLOB;

-- Every time someone opened an event's texts or closed it. Never updated or deleted.
CREATE TABLE crisis_event_access (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BLOB NOT NULL REFERENCES crisis_events (id),
    subject  TEXT NOT NULL,
    action   TEXT NOT NULL CHECK (action IN ('open', 'close')),
    at       INTEGER NOT NULL
) STRICT;
CREATE INDEX crisis_event_access_event ON crisis_event_access (event_id, id);

CREATE TRIGGER crisis_event_access_no_update BEFORE UPDATE ON crisis_event_access
BEGIN
    SELECT RAISE(ABORT, 'crisis_event_access is append-only');
END;

CREATE TRIGGER crisis_event_access_no_delete BEFORE DELETE ON crisis_event_access
BEGIN
    SELECT RAISE(ABORT, 'crisis_event_access is append-only');
END;
