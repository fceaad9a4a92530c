//! Time as the stages read it: a [`Clock`], the system's ([`SystemClock`]) in production and
//! a [`SteppedClock`] in tests, so no test depends on the wall-clock date. Ingest reads its
//! receive time from it ([`crate::ingest::IngestState::clock`]); the rollup pass reads its
//! day and retention its cut-off from it ([`crate::rollup::job::run_once_on`],
//! [`crate::rollup::job::apply_retention_on`]). Sessions and rows follow event time, never
//! the clock.
//!
//! The handlers read it from `AppState` (a query's default range, an overlay grant's expiry,
//! the day of `POST /v1/admin/rollup/run`, the rollup freshness on `/metrics`, an erasure's
//! time, which hides what was received up to it), and `sightline retention run`, `site
//! delete` and `gdpr delete` from [`from_env`]. What stays on the system clock are stamps of
//! when a record was written, which no number or analytics decision reads: a site's and a
//! token's `created_at`, revocations, the sink's dead letters' `at`, the embedded log's
//! chunk times (and its 7-day clean-up of chunks every group has committed, measured on
//! them), ClickHouse row versions and migration times.
//!
//! A spawned `sightline` reads [`SystemClock`] moved by `SIGHTLINE_TEST_CLOCK_OFFSET_MS`
//! ([`OffsetClock`], [`TEST_CLOCK_OFFSET_ENV`]): a hook for the test suite only, which pins
//! the binaries it starts to 12:00 UTC so that no run crosses a midnight.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The environment variable of the test clock hook: ms added to the system clock. For the
/// test suite only (`tests/common`); production leaves it unset.
pub const TEST_CLOCK_OFFSET_ENV: &str = "SIGHTLINE_TEST_CLOCK_OFFSET_MS";

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

/// The system clock moved by a fixed offset: the tests' pinned time, which runs like the
/// system's.
#[derive(Debug, Clone, Copy, Default)]
pub struct OffsetClock {
    /// Added to the system clock, ms.
    pub offset_ms: i64,
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset_ms
    }
}

/// The process's clock: [`SystemClock`], or an [`OffsetClock`] when the test hook
/// [`TEST_CLOCK_OFFSET_ENV`] holds a number of ms (anything else is an error).
pub fn from_env() -> Result<Arc<dyn Clock>, String> {
    match std::env::var(TEST_CLOCK_OFFSET_ENV) {
        Err(_) => Ok(Arc::new(SystemClock)),
        Ok(v) => {
            let offset_ms: i64 = v
                .trim()
                .parse()
                .map_err(|_| format!("{TEST_CLOCK_OFFSET_ENV}={v:?}: give a whole number of ms"))?;
            tracing::warn!(
                offset_ms,
                "test clock hook: the clock runs {offset_ms} ms off the system clock"
            );
            Ok(Arc::new(OffsetClock { offset_ms }))
        }
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

    #[test]
    fn an_offset_clock_runs_the_offset_ahead_of_the_system() {
        let ahead = OffsetClock { offset_ms: 86_400_000 };
        let d = ahead.now_ms() - SystemClock.now_ms();
        assert!((86_399_000..=86_400_000).contains(&d), "{d}");
    }
}
