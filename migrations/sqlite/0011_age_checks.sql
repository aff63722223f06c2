-- Age checks: one row per verification session opened for a person. Its id is what
-- the provider is given as `vendorData` (never the phone number or the user id); the
-- session's link is sealed, because whoever holds it can verify as the person.
CREATE TABLE age_checks (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id),
    provider    TEXT NOT NULL CHECK (provider IN ('veriff')),
    session_id  TEXT NOT NULL UNIQUE,
    url         BLOB NOT NULL,
    -- The carrier the person texted through: outcomes are texted back through it.
    carrier     TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'created'
                CHECK (status IN ('created', 'approved', 'declined', 'resubmission-requested',
                                  'expired', 'abandoned', 'review', 'no-birth-date')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    -- The provider's decision time of the status, so an older decision never
    -- overwrites a newer one.
    decided_at  INTEGER
) STRICT;
CREATE INDEX age_checks_user ON age_checks (user_id, created_at DESC);
