-- Claiming looks only at texts no worker holds yet: its cost follows the new texts, not
-- the conversations in progress. Texts a worker held when its lease ran out are handed
-- back ('processing' → 'received') by a periodic sweep.

CREATE INDEX messages_received ON messages (user_id, created_at)
    WHERE direction = 'in' AND status = 'received';
