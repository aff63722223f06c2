-- A value per encryption key id and for the blind-index key (an HMAC of a fixed label
-- under the key), written the first time a host runs with the key: a host whose keys
-- are not the ones the stored data was sealed and indexed with refuses to start.
CREATE TABLE key_checks (
    kind        text NOT NULL CHECK (kind IN ('encryption', 'blind-index')),
    key_id      text NOT NULL,
    check_value bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, key_id)
);
