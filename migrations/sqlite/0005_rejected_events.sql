-- Webhook events that can never be stored as messages (an id that is not printable or
-- too long, a sender that is not a phone number, a shape that does not parse) are kept
-- here, sealed, with the reason, so they never block the events beside them and an
-- operator can see what a carrier sent. `fingerprint` (HMAC under the blind-index key)
-- keeps a retried delivery from being kept twice.
CREATE TABLE rejected_events (
    id          BLOB PRIMARY KEY,
    carrier     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    body        BLOB NOT NULL,
    fingerprint BLOB NOT NULL,
    received_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    UNIQUE (carrier, fingerprint)
) STRICT;
