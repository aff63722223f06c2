-- Webhook events that can never be stored as messages (an id that is not printable or
-- too long, a sender that is not a phone number, a shape that does not parse) are kept
-- here, sealed, with the reason, so they never block the events beside them and an
-- operator can see what a carrier sent. `fingerprint` (HMAC under the blind-index key)
-- keeps a retried delivery from being kept twice.
CREATE TABLE rejected_events (
    id          uuid PRIMARY KEY,
    carrier     text NOT NULL,
    reason      text NOT NULL,
    body        bytea NOT NULL,
    fingerprint bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (carrier, fingerprint)
);
