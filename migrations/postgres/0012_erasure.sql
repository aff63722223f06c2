-- Erasure (on request, or when an age check finds a child): a person's texts, name,
-- email, preferences and age-check links are erased; the row keeps what proves what
-- happened (blind index, statuses, times) and the sealed number, kept only to answer
-- them (crisis resources, STOP). An erased body or link is the empty byte string.
ALTER TABLE users ADD COLUMN erased_at timestamptz;
ALTER TABLE compliance_log DROP CONSTRAINT compliance_log_event_check;
ALTER TABLE compliance_log ADD CONSTRAINT compliance_log_event_check CHECK (event IN (
    'opt-out', 'opt-in', 'help-sent', 'disclosure-sent',
    'age-verification-required', 'age-decision', 'blocked',
    'crisis-resources-after-opt-out', 'erase-requested', 'erased'));
