-- A person who opted out and then texts crisis language is answered with the crisis
-- resources (at most once a day) and nothing else; the log says so, with the reason.
ALTER TABLE compliance_log DROP CONSTRAINT compliance_log_event_check;
ALTER TABLE compliance_log ADD CONSTRAINT compliance_log_event_check CHECK (event IN (
    'opt-out', 'opt-in', 'help-sent', 'disclosure-sent',
    'age-verification-required', 'age-decision', 'blocked',
    'crisis-resources-after-opt-out'));
