-- A world's shadow: a candidate bundle given a sample of live messages after the
-- active one decided, off the reply path.
ALTER TABLE policy_desired ADD COLUMN shadow_source TEXT;
ALTER TABLE policy_desired ADD COLUMN shadow_digest TEXT;
ALTER TABLE policy_desired ADD COLUMN shadow_sample REAL
    CHECK (shadow_sample >= 0 AND shadow_sample <= 1);

-- Both decisions on one message, side by side; the text stays in the sealed message
-- the row points to.
CREATE TABLE shadow_decisions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id       BLOB NOT NULL REFERENCES messages (id),
    world            TEXT NOT NULL,
    active_digest    TEXT,
    candidate_digest TEXT NOT NULL,
    active           TEXT NOT NULL CHECK (json_valid(active)),
    candidate        TEXT CHECK (candidate IS NULL OR json_valid(candidate)),
    candidate_error  TEXT,
    agreed           INTEGER NOT NULL CHECK (agreed IN (0, 1)),
    decided_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX shadow_decisions_candidate ON shadow_decisions (world, candidate_digest, decided_at);

-- Every time someone opened the texts behind shadow decisions. Never updated or deleted.
CREATE TABLE message_access (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id BLOB NOT NULL REFERENCES messages (id),
    subject    TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    at         INTEGER NOT NULL
) STRICT;

CREATE TRIGGER message_access_no_update BEFORE UPDATE ON message_access
BEGIN
    SELECT RAISE(ABORT, 'message_access is append-only');
END;

CREATE TRIGGER message_access_no_delete BEFORE DELETE ON message_access
BEGIN
    SELECT RAISE(ABORT, 'message_access is append-only');
END;
