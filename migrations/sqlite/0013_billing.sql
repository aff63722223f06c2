-- Subscriptions (Stripe): one row per person who asked to upgrade. `ref` is what Stripe
-- is given (`client_reference_id`, the subscription's metadata) and names nobody.
-- `status` is the subscription's own, as last read from Stripe; users.tier follows it.
CREATE TABLE billing (
    user_id         BLOB PRIMARY KEY REFERENCES users (id),
    ref             BLOB NOT NULL UNIQUE,
    customer_id     TEXT,
    subscription_id TEXT,
    status          TEXT,
    updated_at      INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
