-- The first schema. Personal data (phone, name, email, preferences, message bodies)
-- is stored only sealed (AES-256-GCM, see host/src/crypto); phones are found through
-- their HMAC blind index.

CREATE TABLE users (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    phone_index        bytea NOT NULL UNIQUE,
    phone              bytea NOT NULL,
    name               bytea,
    email              bytea,
    preferences        bytea,
    status             text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'opted-out', 'blocked')),
    age_status         text NOT NULL DEFAULT 'unknown'
                       CHECK (age_status IN ('unknown', 'pending', 'adult', 'minor', 'child', 'declined')),
    tier               text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'premium')),
    locale             text NOT NULL DEFAULT '',
    first_contact_at   timestamptz NOT NULL DEFAULT now(),
    last_disclosure_at timestamptz,
    opted_out_at       timestamptz,
    opted_in_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE messages (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL REFERENCES users (id),
    direction          text NOT NULL CHECK (direction IN ('in', 'out')),
    carrier            text NOT NULL,
    carrier_message_id text,
    body               bytea NOT NULL,
    status             text NOT NULL CHECK (status IN (
                           'received', 'processing', 'replied',
                           'queued', 'sent', 'delivered', 'failed')),
    segments           integer NOT NULL DEFAULT 1 CHECK (segments >= 0),
    received_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (carrier, carrier_message_id)
);
CREATE INDEX messages_user_created ON messages (user_id, created_at);

-- Every webhook delivery seen, so a retried delivery is recognised.
CREATE TABLE webhook_deliveries (
    provider    text NOT NULL,
    event_id    text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);

-- Replies waiting to be sent; claimed with FOR UPDATE SKIP LOCKED.
CREATE TABLE outbox (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id       uuid NOT NULL REFERENCES messages (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    carrier          text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    sent_at          timestamptz,
    dead_lettered_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON outbox (next_attempt_at)
    WHERE sent_at IS NULL AND dead_lettered_at IS NULL;

CREATE TABLE crisis_events (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id),
    message_id    uuid REFERENCES messages (id),
    severity      text NOT NULL CHECK (severity IN ('low', 'moderate', 'high', 'imminent')),
    categories    text[] NOT NULL,
    bundle_digest text NOT NULL,
    fallback      boolean NOT NULL DEFAULT false,
    review_state  text NOT NULL DEFAULT 'pending'
                  CHECK (review_state IN ('pending', 'in-review', 'resolved', 'dismissed')),
    reviewed_by   text,
    reviewed_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crisis_events_review ON crisis_events (review_state, created_at);

-- What the law's rules did, when, and which policy bundle decided it.
CREATE TABLE compliance_log (
    id            bigserial PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id),
    event         text NOT NULL CHECK (event IN (
                      'opt-out', 'opt-in', 'help-sent', 'disclosure-sent',
                      'age-verification-required', 'age-decision', 'blocked')),
    detail        text NOT NULL DEFAULT '',
    bundle_digest text,
    occurred_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX compliance_log_user ON compliance_log (user_id, occurred_at);

-- Which bundle decided what, for which message.
CREATE TABLE policy_decisions (
    id            bigserial PRIMARY KEY,
    message_id    uuid NOT NULL REFERENCES messages (id),
    world         text NOT NULL CHECK (world IN ('crisis-detector', 'compliance-policy', 'prompt-builder')),
    bundle_digest text,
    fallback      text,
    summary       jsonb NOT NULL,
    decided_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX policy_decisions_message ON policy_decisions (message_id);
