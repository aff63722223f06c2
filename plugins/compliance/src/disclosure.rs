//! When the AI disclosure is due (New York GBL Art. 47, California SB 243): at the
//! start of an interaction and at least every `interval` of continuing interaction.

use jules_policy_model::{TimestampMs, UserContext};

/// Due on first contact, when never disclosed, or once `interval` has passed since the
/// last disclosure (exactly `interval` is due).
///
/// A last disclosure slightly after `received_at` is normal: the carrier stamps the
/// inbound, the host stamps the disclosure it sent, and a quick reply can arrive
/// "before" it. A last disclosure a whole interval or more in the future cannot be
/// skew; it is treated as a broken record and the disclosure is given again.
pub fn is_due(user: &UserContext, received_at: TimestampMs, interval: i64) -> bool {
    if user.first_contact {
        return true;
    }
    match user.last_disclosure_at {
        None => true,
        Some(last) => {
            let elapsed = received_at.saturating_sub(last);
            elapsed >= interval || elapsed <= interval.saturating_neg()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H3: i64 = 10_800_000;
    const NOW: i64 = 1_767_268_800_000;

    fn user(last: Option<i64>, first_contact: bool) -> UserContext {
        UserContext {
            last_disclosure_at: last,
            first_contact,
            ..UserContext::default()
        }
    }

    #[test]
    fn boundaries() {
        assert!(is_due(&user(None, false), NOW, H3));
        assert!(is_due(&user(Some(NOW), true), NOW, H3));
        assert!(is_due(&user(Some(NOW - H3), false), NOW, H3));
        assert!(!is_due(&user(Some(NOW - H3 + 1), false), NOW, H3));
        assert!(!is_due(&user(Some(NOW), false), NOW, H3));
        assert!(!is_due(&user(Some(NOW + 5_000), false), NOW, H3));
        assert!(is_due(&user(Some(NOW + H3), false), NOW, H3));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        assert!(is_due(&user(Some(i64::MIN), false), i64::MAX, H3));
        assert!(is_due(&user(Some(i64::MAX), false), i64::MIN, H3));
        assert!(!is_due(&user(Some(i64::MAX), false), i64::MAX, H3));
    }
}
