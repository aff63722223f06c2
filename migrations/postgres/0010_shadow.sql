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

-- Every time someone opened the texts behind shadow decisions. Never updated or deleted.
CREATE TABLE message_access (
    id         bigserial PRIMARY KEY,
    message_id uuid NOT NULL REFERENCES messages (id),
    subject    text NOT NULL,
    purpose    text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION message_access_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'message_access is append-only';
END $$;

CREATE TRIGGER message_access_append_only BEFORE UPDATE OR DELETE ON message_access
    FOR EACH ROW EXECUTE FUNCTION message_access_append_only();
