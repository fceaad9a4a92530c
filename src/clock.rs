//! Time as the stages read it: a [`Clock`], the system's ([`SystemClock`]) in production and
//! a [`SteppedClock`] in tests, so no test depends on the wall-clock date. Ingest reads its
//! receive time from it ([`crate::ingest::IngestState::clock`]); the rollup pass reads its
//! day and retention its cut-off from it ([`crate::rollup::job::run_once_on`],
//! [`crate::rollup::job::apply_retention_on`]). Sessions and rows follow event time, never
//! the clock.

use std::sync::atomic::{AtomicI64, Ordering};

/// Where the time is read.
pub trait Clock: Send + Sync {
    /// Now, ms since the Unix epoch (UTC).
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that stands still until it is set or stepped: a test's time.
#[derive(Debug, Default)]
pub struct SteppedClock(AtomicI64);

impl SteppedClock {
    /// A clock standing at `ms`.
    pub fn at(ms: i64) -> SteppedClock {
        SteppedClock(AtomicI64::new(ms))
    }

    /// Move to `ms` (forward or back).
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    /// Move on by `by_ms`; returns the new time.
    pub fn step(&self, by_ms: i64) -> i64 {
        self.0.fetch_add(by_ms, Ordering::SeqCst) + by_ms
    }
}

impl Clock for SteppedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stepped_clock_moves_only_when_told() {
        let c = SteppedClock::at(1_000);
        assert_eq!(c.now_ms(), 1_000);
        assert_eq!(c.step(500), 1_500);
        assert_eq!(c.now_ms(), 1_500);
        c.set(10);
        assert_eq!(c.now_ms(), 10);
        assert!(SystemClock.now_ms() > 1_600_000_000_000);
    }
}
