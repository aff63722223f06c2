-- The embedded store's first schema: the same tables, columns and rules as
-- migrations/postgres/0001_initial.sql, in SQLite's types. Ids are 16-byte UUID blobs;
-- times are integer milliseconds since the Unix epoch; personal data is stored only
-- sealed (AES-256-GCM, see host/src/crypto).

CREATE TABLE users (
    id                 BLOB PRIMARY KEY,
    phone_index        BLOB NOT NULL UNIQUE,
    phone              BLOB NOT NULL,
    name               BLOB,
    email              BLOB,
    preferences        BLOB,
    status             TEXT NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'opted-out', 'blocked')),
    age_status         TEXT NOT NULL DEFAULT 'unknown'
                       CHECK (age_status IN ('unknown', 'pending', 'adult', 'minor', 'child', 'declined')),
    tier               TEXT NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'premium')),
    locale             TEXT NOT NULL DEFAULT '',
    first_contact_at   INTEGER NOT NULL,
    last_disclosure_at INTEGER,
    opted_out_at       INTEGER,
    opted_in_at        INTEGER,
    created_at         INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    updated_at         INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;

CREATE TABLE messages (
    id                 BLOB PRIMARY KEY,
    user_id            BLOB NOT NULL REFERENCES users (id),
    direction          TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    carrier            TEXT NOT NULL,
    carrier_message_id TEXT,
    body               BLOB NOT NULL,
    status             TEXT NOT NULL CHECK (status IN (
                           'received', 'processing', 'replied',
                           'queued', 'sent', 'delivered', 'failed')),
    segments           INTEGER NOT NULL DEFAULT 1 CHECK (segments >= 0),
    received_at        INTEGER,
    created_at         INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    updated_at         INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    UNIQUE (carrier, carrier_message_id)
) STRICT;
CREATE INDEX messages_user_created ON messages (user_id, created_at);

CREATE TABLE webhook_deliveries (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    PRIMARY KEY (provider, event_id)
) STRICT;

CREATE TABLE outbox (
    id               BLOB PRIMARY KEY,
    message_id       BLOB NOT NULL REFERENCES messages (id),
    user_id          BLOB NOT NULL REFERENCES users (id),
    carrier          TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    last_error       TEXT,
    sent_at          INTEGER,
    dead_lettered_at INTEGER,
    created_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
CREATE INDEX outbox_due ON outbox (next_attempt_at)
    WHERE sent_at IS NULL AND dead_lettered_at IS NULL;

CREATE TABLE crisis_events (
    id            BLOB PRIMARY KEY,
    user_id       BLOB NOT NULL REFERENCES users (id),
    message_id    BLOB REFERENCES messages (id),
    severity      TEXT NOT NULL CHECK (severity IN ('low', 'moderate', 'high', 'imminent')),
    -- A JSON array of category names.
    categories    TEXT NOT NULL CHECK (json_valid(categories)),
    bundle_digest TEXT NOT NULL,
    fallback      INTEGER NOT NULL DEFAULT 0 CHECK (fallback IN (0, 1)),
    review_state  TEXT NOT NULL DEFAULT 'pending'
                  CHECK (review_state IN ('pending', 'in-review', 'resolved', 'dismissed')),
    reviewed_by   TEXT,
    reviewed_at   INTEGER,
    created_at    INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
CREATE INDEX crisis_events_review ON crisis_events (review_state, created_at);

CREATE TABLE compliance_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BLOB NOT NULL REFERENCES users (id),
    event         TEXT NOT NULL CHECK (event IN (
                      'opt-out', 'opt-in', 'help-sent', 'disclosure-sent',
                      'age-verification-required', 'age-decision', 'blocked')),
    detail        TEXT NOT NULL DEFAULT '',
    bundle_digest TEXT,
    occurred_at   INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
CREATE INDEX compliance_log_user ON compliance_log (user_id, occurred_at);

CREATE TABLE policy_decisions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    BLOB NOT NULL REFERENCES messages (id),
    world         TEXT NOT NULL CHECK (world IN ('crisis-detector', 'compliance-policy', 'prompt-builder')),
    bundle_digest TEXT,
    fallback      TEXT,
    summary       TEXT NOT NULL CHECK (json_valid(summary)),
    decided_at    INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
CREATE INDEX policy_decisions_message ON policy_decisions (message_id);
