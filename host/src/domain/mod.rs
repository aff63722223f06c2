//! Values that arrive as strings at the edge, parsed once into types that prove they
//! are valid: after `PhoneNumber::parse` a number is E.164, after
//! `CarrierMessageId::parse` an id can be stored. Raw strings stop at the webhooks.

use std::fmt;

/// Why a value from outside was refused; names the rule, never echoes the value (it may
/// be someone's number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// A phone number in E.164: `+`, a country code that does not start with 0, at most
/// 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<PhoneNumber, Invalid> {
        let digits = s
            .strip_prefix('+')
            .ok_or(Invalid("not an E.164 number (+ and digits)"))?;
        let valid = (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(PhoneNumber(s.to_string()))
        } else {
            Err(Invalid("not an E.164 number (+ and digits)"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A carrier a message came in through and its answer goes out through, as the store
/// spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Bandwidth,
    Twilio,
    /// `jules chat`: the terminal is the phone.
    Chat,
}

impl Carrier {
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Bandwidth => "bandwidth",
            Carrier::Twilio => "twilio",
            Carrier::Chat => "chat",
        }
    }

    pub fn parse(name: &str) -> Option<Carrier> {
        [Carrier::Bandwidth, Carrier::Twilio, Carrier::Chat]
            .into_iter()
            .find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for Carrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A carrier's id for a message (Bandwidth's `message.id`, Twilio's `MessageSid`):
/// printable, at most 256 bytes — what the store can index and a log can show.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CarrierMessageId(String);

impl CarrierMessageId {
    pub const MAX_BYTES: usize = 256;

    pub fn parse(s: &str) -> Result<CarrierMessageId, Invalid> {
        if s.trim().is_empty() {
            return Err(Invalid("empty"));
        }
        if s.len() > Self::MAX_BYTES {
            return Err(Invalid("longer than 256 bytes"));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid("holds control characters"));
        }
        Ok(CarrierMessageId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CarrierMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A segment count as carriers report it: absent, negative or unreadable counts are not
/// worth refusing a person's text over, so they count as one segment.
pub fn segments(reported: Option<i64>) -> i32 {
    match reported {
        Some(n) if (0..=i32::MAX as i64).contains(&n) => n as i32,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_e164() {
        for good in ["+15551234567", "+447911123456", "+12"] {
            assert_eq!(PhoneNumber::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "15551234567",
            "+",
            "+0123456",
            "+1555123456789012",
            "+1555 123",
            "nobody",
            "",
            "+1555\u{0}",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn carrier_ids_are_printable_and_bounded() {
        assert!(CarrierMessageId::parse("SM0001").is_ok());
        assert!(CarrierMessageId::parse(&"x".repeat(256)).is_ok());
        assert_eq!(
            CarrierMessageId::parse(&"x".repeat(257)),
            Err(Invalid("longer than 256 bytes"))
        );
        assert!(CarrierMessageId::parse("a\u{0}b").is_err());
        assert!(CarrierMessageId::parse("a\nb").is_err());
        assert!(CarrierMessageId::parse("  ").is_err());
    }

    #[test]
    fn counts_that_cannot_be_true_are_one_segment() {
        assert_eq!(segments(Some(3)), 3);
        assert_eq!(segments(Some(0)), 0);
        assert_eq!(segments(Some(-1)), 1);
        assert_eq!(segments(Some(i64::MAX)), 1);
        assert_eq!(segments(None), 1);
    }
}
