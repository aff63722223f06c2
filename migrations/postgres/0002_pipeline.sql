-- The pipeline: a user's conversation is claimed by one worker at a time (busy_until,
-- a lease), and every outbound message says what it answers and why, so re-running a
-- conversation after a crash queues nothing twice.

ALTER TABLE users ADD COLUMN busy_until timestamptz;

ALTER TABLE messages ADD COLUMN reply_to uuid REFERENCES messages (id);
ALTER TABLE messages ADD COLUMN purpose text
    CHECK (purpose IN ('reply', 'crisis-resources', 'opt-out-confirmation', 'opt-in-confirmation',
                       'help', 'age-verification', 'blocked'));
CREATE UNIQUE INDEX messages_one_per_purpose ON messages (reply_to, purpose)
    WHERE reply_to IS NOT NULL;
CREATE INDEX messages_pending ON messages (user_id, created_at)
    WHERE direction = 'in' AND status IN ('received', 'processing');
