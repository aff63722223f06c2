-- A send is on record before the carrier is called (in_doubt_since: the start of the
-- first attempt whose outcome is not known), so after a timeout or a crash the carrier
-- is asked whether it took the message before it is sent again.
ALTER TABLE outbox ADD COLUMN in_doubt_since timestamptz;

-- One person's messages leave in queue order: a row is claimable only while no earlier
-- row of the same person is still open (neither sent nor dead-lettered).
CREATE INDEX outbox_person_open ON outbox (user_id, message_id)
    WHERE sent_at IS NULL AND dead_lettered_at IS NULL;
