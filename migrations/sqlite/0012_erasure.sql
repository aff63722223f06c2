-- Erasure (on request, or when an age check finds a child): a person's texts, name,
-- email, preferences and age-check links are erased; the row keeps what proves what
-- happened (blind index, statuses, times) and the sealed number, kept only to answer
-- them (crisis resources, STOP). An erased body or link is the empty byte string.
ALTER TABLE users ADD COLUMN erased_at INTEGER;
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE compliance_log_next (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BLOB NOT NULL REFERENCES users (id),
    event         TEXT NOT NULL CHECK (event IN (
                      'opt-out', 'opt-in', 'help-sent', 'disclosure-sent',
                      'age-verification-required', 'age-decision', 'blocked',
                      'crisis-resources-after-opt-out', 'erase-requested', 'erased')),
    detail        TEXT NOT NULL DEFAULT '',
    bundle_digest TEXT,
    occurred_at   INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
INSERT INTO compliance_log_next (id, user_id, event, detail, bundle_digest, occurred_at)
    SELECT id, user_id, event, detail, bundle_digest, occurred_at FROM compliance_log;
DROP TABLE compliance_log;
ALTER TABLE compliance_log_next RENAME TO compliance_log;
CREATE INDEX compliance_log_user ON compliance_log (user_id, occurred_at);
