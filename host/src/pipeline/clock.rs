//! The time the pipeline believes it is. Production reads the system clock; tests move
//! a shifted clock forward (three hours later, the disclosure is due again).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

#[derive(Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the system clock (tests only; 0 in production).
    shift_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> SystemTime {
        let shift = self.shift_ms.load(Ordering::Relaxed);
        let now = SystemTime::now();
        if shift >= 0 {
            now + Duration::from_millis(shift as u64)
        } else {
            now - Duration::from_millis(shift.unsigned_abs())
        }
    }

    pub fn now_ms(&self) -> i64 {
        crate::store::millis(self.now())
    }

    /// Move this clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.shift_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
}
