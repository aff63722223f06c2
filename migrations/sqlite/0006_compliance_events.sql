-- A person who opted out and then texts crisis language is answered with the crisis
-- resources (at most once a day) and nothing else; the log says so, with the reason.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE compliance_log_next (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BLOB NOT NULL REFERENCES users (id),
    event         TEXT NOT NULL CHECK (event IN (
                      'opt-out', 'opt-in', 'help-sent', 'disclosure-sent',
                      'age-verification-required', 'age-decision', 'blocked',
                      'crisis-resources-after-opt-out')),
    detail        TEXT NOT NULL DEFAULT '',
    bundle_digest TEXT,
    occurred_at   INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
INSERT INTO compliance_log_next (id, user_id, event, detail, bundle_digest, occurred_at)
    SELECT id, user_id, event, detail, bundle_digest, occurred_at FROM compliance_log;
DROP TABLE compliance_log;
ALTER TABLE compliance_log_next RENAME TO compliance_log;
CREATE INDEX compliance_log_user ON compliance_log (user_id, occurred_at);
