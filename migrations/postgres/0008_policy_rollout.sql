-- The bundle each world should run fleet-wide, the one before it (for rollback) and a
-- candidate the hosts prepare before it is made active.
CREATE TABLE policy_desired (
    world            text PRIMARY KEY
                     CHECK (world IN ('crisis-detector', 'compliance-policy', 'prompt-builder')),
    active_source    text,
    active_digest    text,
    previous_source  text,
    previous_digest  text,
    candidate_source text,
    candidate_digest text,
    revision         bigint NOT NULL DEFAULT 0,
    set_by           text NOT NULL,
    set_at           timestamptz NOT NULL DEFAULT now(),
    reason           text NOT NULL
);

-- Every change, who made it and why. Never updated or deleted.
CREATE TABLE policy_history (
    id              bigserial PRIMARY KEY,
    world           text NOT NULL,
    action          text NOT NULL CHECK (action IN ('stage', 'activate', 'rollback', 'abandon', 'shadow',
                                              'shadow-stop')),
    source          text NOT NULL,
    digest          text NOT NULL,
    previous_digest text,
    subject         text NOT NULL,
    reason          text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION policy_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'policy_history is append-only';
END $$;

CREATE TRIGGER policy_history_append_only BEFORE UPDATE OR DELETE ON policy_history
    FOR EACH ROW EXECUTE FUNCTION policy_history_append_only();

-- Each host's heartbeat per world: what it serves, what it has prepared, its last error.
CREATE TABLE policy_hosts (
    host_id      text NOT NULL,
    world        text NOT NULL,
    serving      text,
    prepared     text,
    error        text,
    error_digest text,
    started_at   timestamptz NOT NULL,
    seen_at      timestamptz NOT NULL,
    PRIMARY KEY (host_id, world)
);
