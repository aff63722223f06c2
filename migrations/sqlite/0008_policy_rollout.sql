-- The bundle each world should run, the one before it (for rollback) and a candidate
-- the host prepares before it is made active. Times are unix milliseconds.
CREATE TABLE policy_desired (
    world            TEXT PRIMARY KEY
                     CHECK (world IN ('crisis-detector', 'compliance-policy', 'prompt-builder')),
    active_source    TEXT,
    active_digest    TEXT,
    previous_source  TEXT,
    previous_digest  TEXT,
    candidate_source TEXT,
    candidate_digest TEXT,
    revision         INTEGER NOT NULL DEFAULT 0,
    set_by           TEXT NOT NULL,
    set_at           INTEGER NOT NULL,
    reason           TEXT NOT NULL
) STRICT;

-- Every change, who made it and why. Never updated or deleted.
CREATE TABLE policy_history (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    world           TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('stage', 'activate', 'rollback', 'abandon', 'shadow',
                                              'shadow-stop')),
    source          TEXT NOT NULL,
    digest          TEXT NOT NULL,
    previous_digest TEXT,
    subject         TEXT NOT NULL,
    reason          TEXT NOT NULL,
    at              INTEGER NOT NULL
) STRICT;

CREATE TRIGGER policy_history_no_update BEFORE UPDATE ON policy_history
BEGIN
    SELECT RAISE(ABORT, 'policy_history is append-only');
END;

CREATE TRIGGER policy_history_no_delete BEFORE DELETE ON policy_history
BEGIN
    SELECT RAISE(ABORT, 'policy_history is append-only');
END;

-- The host's heartbeat per world: what it serves, what it has prepared, its last error.
CREATE TABLE policy_hosts (
    host_id      TEXT NOT NULL,
    world        TEXT NOT NULL,
    serving      TEXT,
    prepared     TEXT,
    error        TEXT,
    error_digest TEXT,
    started_at   INTEGER NOT NULL,
    seen_at      INTEGER NOT NULL,
    PRIMARY KEY (host_id, world)
) STRICT;
