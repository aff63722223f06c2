//! Sending SMS: Bandwidth and Twilio per their APIs, and in development only the
//! console (prints replies) as a stand-in for a carrier that is not configured. A failed
//! send says whether the carrier certainly did not take the message (try again), may
//! have taken it (ask it before sending again), or refused it (sending again cannot
//! help); `find` asks a carrier whether it took a message after an unknown outcome.

mod bandwidth;
mod twilio;

use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::domain::PhoneNumber;

pub use self::bandwidth::BandwidthOut;
pub use self::twilio::TwilioOut;
pub use crate::domain::Carrier;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The carrier certainly did not take it (429, connection refused): try again.
    NotSent(String),
    /// It may have (timeout, dropped connection, 5xx): ask the carrier before sending
    /// again.
    Unknown(String),
    /// The carrier refused the message, or there is no carrier to send it through.
    Refused(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::NotSent(r) => write!(f, "{r} (not sent; will retry)"),
            SendError::Unknown(r) => write!(f, "{r} (outcome unknown)"),
            SendError::Refused(r) => write!(f, "{r} (refused)"),
        }
    }
}

/// What a carrier lists of the messages to a person since a send whose outcome is
/// unknown: their ids (the caller leaves out those it knows as other messages), or why
/// it could not say.
pub type Lookup = Result<Vec<String>, String>;

/// Classify an HTTP answer of a carrier API. A 5xx or 408 may come after the carrier
/// took the message, so its outcome is unknown; a 429 is a refusal to take it now.
fn status_error(carrier: Carrier, status: u16, body: &str) -> SendError {
    let body: String = body.chars().take(300).collect();
    let reason = format!("{carrier} {status}: {body}");
    match status {
        429 => SendError::NotSent(reason),
        408 | 500.. => SendError::Unknown(reason),
        _ => SendError::Refused(reason),
    }
}

/// A connection never made means nothing was sent; any later failure (a timeout, a
/// connection dropped mid-answer) may come after the carrier took the message.
fn transport_error(carrier: Carrier, e: &reqwest::Error) -> SendError {
    let reason = format!("{carrier}: {e}");
    if e.is_connect() {
        SendError::NotSent(reason)
    } else {
        SendError::Unknown(reason)
    }
}

/// Look-ups cover the send's time from a little before it began: the carrier's clock
/// and ours differ.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The carriers this host can send through. A reply goes out through the carrier its
/// message came in on; in development a carrier that is not configured is stood in for
/// by the console, in production such a message is refused (never reported as sent).
pub struct Carriers {
    http: reqwest::Client,
    pub bandwidth: Option<BandwidthOut>,
    pub twilio: Option<TwilioOut>,
    /// Development: print what a carrier without a send client would have sent.
    pub console: bool,
}

/// What the console carrier shows of a number: enough to tell people apart.
pub fn masked(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let tail = &digits[digits.len().saturating_sub(4)..];
    format!("…{tail}")
}

impl Carriers {
    /// `timeout`: how long a carrier's API may take to answer; a send it did not
    /// answer in time has an unknown outcome.
    pub fn new(
        bandwidth: Option<BandwidthOut>,
        twilio: Option<TwilioOut>,
        console: bool,
        timeout: Duration,
    ) -> Carriers {
        Carriers {
            http: crate::net::client(timeout),
            bandwidth,
            twilio,
            console,
        }
    }

    /// `bandwidth`, `twilio`, both, or `console`.
    pub fn mode(&self) -> String {
        let mut on = Vec::new();
        if self.bandwidth.is_some() {
            on.push("bandwidth");
        }
        if self.twilio.is_some() {
            on.push("twilio");
        }
        if on.is_empty() {
            "console".into()
        } else {
            on.join(" + ")
        }
    }

    /// Whether messages that came in through `carrier` can be answered.
    pub fn can_send(&self, carrier: Carrier) -> bool {
        match carrier {
            Carrier::Bandwidth => self.bandwidth.is_some(),
            Carrier::Twilio => self.twilio.is_some(),
            Carrier::Chat => true,
        }
    }

    /// Send `text` to `to` through `carrier`, labelled with its outbox id (the carrier
    /// reports delivery under it); the carrier's message id on success.
    pub async fn send(
        &self,
        carrier: Carrier,
        to: &PhoneNumber,
        text: &str,
        outbox_id: Uuid,
    ) -> Result<Option<String>, SendError> {
        let to = to.as_str();
        match (carrier, &self.bandwidth, &self.twilio) {
            (Carrier::Bandwidth, Some(b), _) => {
                b.send(&self.http, to, text, outbox_id).await.map(Some)
            }
            (Carrier::Twilio, _, Some(t)) => {
                t.send(&self.http, to, text, outbox_id).await.map(Some)
            }
            (Carrier::Chat, _, _) => {
                println!("jules> {text}");
                Ok(None)
            }
            _ if self.console => {
                println!("[sms → {} via console] {text}", masked(to));
                Ok(None)
            }
            _ => Err(SendError::Refused(format!(
                "no send client for carrier {carrier}"
            ))),
        }
    }

    /// The messages `carrier` took for `to` since `since` (when the first attempt whose
    /// outcome is unknown began), a little earlier for the clocks' difference. One
    /// person's messages go out one at a time, so such a message that is not one of the
    /// person's earlier messages is this one.
    pub async fn find(
        &self,
        carrier: Carrier,
        to: &PhoneNumber,
        text: &str,
        since: SystemTime,
    ) -> Lookup {
        let from = since - CLOCK_SKEW;
        let to = to.as_str();
        match (carrier, &self.bandwidth, &self.twilio) {
            (Carrier::Bandwidth, Some(b), _) => b.find(&self.http, to, from).await,
            (Carrier::Twilio, _, Some(t)) => t.find(&self.http, to, text, from).await,
            // The terminal and the console keep nothing to ask; they never fail mid-send.
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_what_they_say_of_the_message() {
        let c = Carrier::Bandwidth;
        assert!(matches!(status_error(c, 429, ""), SendError::NotSent(_)));
        assert!(matches!(status_error(c, 503, ""), SendError::Unknown(_)));
        assert!(matches!(status_error(c, 408, ""), SendError::Unknown(_)));
        assert!(matches!(status_error(c, 400, ""), SendError::Refused(_)));
        assert!(matches!(status_error(c, 403, ""), SendError::Refused(_)));
    }

    #[test]
    fn carriers_are_spelled_as_stored() {
        for c in [Carrier::Bandwidth, Carrier::Twilio, Carrier::Chat] {
            assert_eq!(Carrier::parse(c.as_str()), Some(c));
        }
        assert_eq!(Carrier::parse("console"), None);
    }
}
