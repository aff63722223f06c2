-- Subscriptions (Stripe): one row per person who asked to upgrade. `ref` is what Stripe
-- is given (`client_reference_id`, the subscription's metadata) and names nobody.
-- `status` is the subscription's own, as last read from Stripe; users.tier follows it.
CREATE TABLE billing (
    user_id         uuid PRIMARY KEY REFERENCES users (id),
    ref             uuid NOT NULL UNIQUE,
    customer_id     text,
    subscription_id text,
    status          text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
