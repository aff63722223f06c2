//! Sending SMS: Bandwidth and Twilio per their APIs, or the console carrier (prints
//! replies) when no carrier is configured. A failed send says whether trying again
//! can help (429, 5xx, network) or not (the carrier refused the message).

mod bandwidth;
mod twilio;

use std::time::Duration;

pub use self::bandwidth::BandwidthOut;
pub use self::twilio::TwilioOut;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    Retryable(String),
    Refused(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Retryable(r) => write!(f, "{r} (will retry)"),
            SendError::Refused(r) => write!(f, "{r} (refused)"),
        }
    }
}

/// Classify an HTTP answer of a carrier API.
fn status_error(carrier: &str, status: u16, body: &str) -> SendError {
    let body: String = body.chars().take(300).collect();
    let reason = format!("{carrier} {status}: {body}");
    if status == 429 || status >= 500 || status == 408 {
        SendError::Retryable(reason)
    } else {
        SendError::Refused(reason)
    }
}

fn transport_error(carrier: &str, e: &reqwest::Error) -> SendError {
    SendError::Retryable(format!("{carrier}: {e}"))
}

/// The carriers this host can send through, by name (`bandwidth`, `twilio`; `chat`
/// for `jules chat`; anything else prints to the console). A reply goes out through the carrier its message came in on.
pub struct Carriers {
    http: reqwest::Client,
    pub bandwidth: Option<BandwidthOut>,
    pub twilio: Option<TwilioOut>,
}

/// What the console carrier shows of a number: enough to tell people apart.
pub fn masked(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let tail = &digits[digits.len().saturating_sub(4)..];
    format!("…{tail}")
}

impl Carriers {
    pub fn new(bandwidth: Option<BandwidthOut>, twilio: Option<TwilioOut>) -> Carriers {
        Carriers {
            http: crate::net::client(Duration::from_secs(15)),
            bandwidth,
            twilio,
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

    /// Send `text` to `to` through `carrier`; the carrier's message id on success.
    pub async fn send(
        &self,
        carrier: &str,
        to: &str,
        text: &str,
    ) -> Result<Option<String>, SendError> {
        match (carrier, &self.bandwidth, &self.twilio) {
            ("bandwidth", Some(b), _) => b.send(&self.http, to, text).await.map(Some),
            ("twilio", _, Some(t)) => t.send(&self.http, to, text).await.map(Some),
            ("chat", _, _) => {
                println!("jules> {text}");
                Ok(None)
            }
            _ => {
                println!("[sms → {} via console] {text}", masked(to));
                Ok(None)
            }
        }
    }
}
