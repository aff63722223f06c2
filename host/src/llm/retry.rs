//! When to try a provider again, and when to stop asking it at all.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// How one attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Worth another attempt (connection error, 408, 409, 429 rate limit, ≥ 500),
    /// after `retry_after` when the provider said so.
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Asking again cannot help (bad request, auth, insufficient quota, spend limit).
    Fatal { reason: String },
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Retryable { reason, .. } | Failure::Fatal { reason } => reason,
        }
    }
}

/// The providers' SDK policy: 2 retries; the server's retry-after (≤ 60 s) or
/// min(base·2ⁿ, 8 s) with jitter.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 2,
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `n` (0-based).
    pub fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(Duration::from_secs(60));
        }
        let exp = self
            .base
            .saturating_mul(1u32 << n.min(16))
            .min(self.max_delay);
        // Jitter down to 75 % so clients retrying together spread out.
        exp.mul_f64(rand::thread_rng().gen_range(0.75..=1.0))
    }
}

/// Read `retry-after-ms` or `retry-after` (seconds) from a response's headers.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    if let Some(ms) = get("retry-after-ms") {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    get("retry-after").map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// Stop calling a provider after `threshold` failures in a row, for `cooldown`; then
/// let one call through to find out whether it recovered.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<(u32, Option<Instant>)>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new((0, None)),
        }
    }

    /// Whether a call may go through now.
    pub fn allow(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.1 {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                // Half open: this call is the trial; a failure re-opens at once.
                s.0 = self.threshold - 1;
                s.1 = None;
                true
            }
            None => true,
        }
    }

    pub fn open(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        matches!(s.1, Some(until) if Instant::now() < until)
    }

    pub fn success(&self) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = (0, None);
    }

    pub fn failure(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += 1;
        if s.0 >= self.threshold {
            s.1 = Some(Instant::now() + self.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_honours_retry_after() {
        let p = RetryPolicy::default();
        let d0 = p.delay(0, None);
        assert!(d0 >= Duration::from_millis(375) && d0 <= Duration::from_millis(500));
        let d5 = p.delay(5, None);
        assert!(
            d5 >= Duration::from_secs(6) && d5 <= Duration::from_secs(8),
            "{d5:?}"
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(600))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn the_breaker_opens_after_failures_and_half_opens_after_cooldown() {
        let b = Breaker::new(3, Duration::from_millis(50));
        for _ in 0..3 {
            assert!(b.allow());
            b.failure();
        }
        assert!(!b.allow(), "open");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow(), "half open: one trial");
        b.failure();
        assert!(!b.allow(), "the trial failed: open again");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow());
        b.success();
        assert!(b.allow() && b.allow(), "closed");
    }
}
