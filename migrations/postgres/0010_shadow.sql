-- A world's shadow: a candidate bundle given a sample of live messages after the
-- active one decided, off the reply path.
ALTER TABLE policy_desired ADD COLUMN shadow_source text;
ALTER TABLE policy_desired ADD COLUMN shadow_digest text;
ALTER TABLE policy_desired ADD COLUMN shadow_sample double precision
    CHECK (shadow_sample >= 0 AND shadow_sample <= 1);

-- Both decisions on one message, side by side; the text stays in the sealed message
-- the row points to.
CREATE TABLE shadow_decisions (
    id               bigserial PRIMARY KEY,
    message_id       uuid NOT NULL REFERENCES messages (id),
    world            text NOT NULL,
    active_digest    text,
    candidate_digest text NOT NULL,
    active           jsonb NOT NULL,
    candidate        jsonb,
    candidate_error  text,
    agreed           boolean NOT NULL,
    decided_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shadow_decisions_candidate ON shadow_decisions (world, candidate_digest, decided_at);
