-- The pipeline (as migrations/postgres/0002_pipeline.sql): conversation leases, and
-- outbound messages that say what they answer and why.

ALTER TABLE users ADD COLUMN busy_until INTEGER;

ALTER TABLE messages ADD COLUMN reply_to BLOB REFERENCES messages (id);
ALTER TABLE messages ADD COLUMN purpose TEXT
    CHECK (purpose IN ('reply', 'crisis-resources', 'opt-out-confirmation', 'opt-in-confirmation',
                       'help', 'age-verification', 'blocked'));
CREATE UNIQUE INDEX messages_one_per_purpose ON messages (reply_to, purpose)
    WHERE reply_to IS NOT NULL;
CREATE INDEX messages_pending ON messages (user_id, created_at)
    WHERE direction = 'in' AND status IN ('received', 'processing');
