-- A send is on record before the carrier is called (in_doubt_since: the start of the
-- first attempt whose outcome is not known), so after a timeout or a crash the carrier
-- is asked whether it took the message before it is sent again.
ALTER TABLE outbox ADD COLUMN in_doubt_since timestamptz;

-- One person's messages leave in queue order: a row is claimable only while it is the
-- earliest open row (neither sent nor dead-lettered) of its person. The claim looks that
-- row up per candidate through this index; its predicate is spelled so that it is the
-- only index that can answer (with `sent_at IS NULL AND dead_lettered_at IS NULL`,
-- outbox_due could too, and Postgres, planning from statistics that show almost nothing
-- open, scanned all of it per claim: replies fell 30 s behind in the load bench).
CREATE INDEX outbox_person_open ON outbox (user_id, message_id)
    WHERE coalesce(sent_at, dead_lettered_at) IS NULL;
