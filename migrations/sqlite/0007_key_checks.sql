-- A value per encryption key id and for the blind-index key (an HMAC of a fixed label
-- under the key), written the first time a host runs with the key: a host whose keys
-- are not the ones the stored data was sealed and indexed with refuses to start.
CREATE TABLE key_checks (
    kind        TEXT NOT NULL CHECK (kind IN ('encryption', 'blind-index')),
    key_id      TEXT NOT NULL,
    check_value BLOB NOT NULL,
    created_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    PRIMARY KEY (kind, key_id)
) STRICT;
