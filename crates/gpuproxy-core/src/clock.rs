//! Injectable time source, so every time-dependent structure (latency EWMAs, spend
//! windows, GCRA) can be driven deterministically by tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of "now" in nanoseconds since the UNIX epoch.
///
/// Implementations must never go backwards: spend-window buckets and GCRA arrival
/// times assume a monotonic clock (consumers still clamp, to be safe).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Nanoseconds since 1970-01-01 UTC (approximately; monotonic is what matters).
    fn now_nanos(&self) -> u64;

    /// Milliseconds since the UNIX epoch.
    fn now_millis(&self) -> u64 {
        self.now_nanos() / 1_000_000
    }
}

/// The production clock: wall time read once at construction, then advanced by a
/// monotonic `Instant`, so it tracks real time but never jumps backwards when NTP
/// adjusts the system clock.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    start: Instant,
    start_unix_nanos: u64,
}

impl MonotonicClock {
    pub fn new() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            start: Instant::now(),
            start_unix_nanos: since.as_nanos() as u64,
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now_nanos(&self) -> u64 {
        self.start_unix_nanos + self.start.elapsed().as_nanos() as u64
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    pub fn new(start_nanos: u64) -> Self {
        Self {
            nanos: AtomicU64::new(start_nanos),
        }
    }

    /// Sets the time; a value earlier than the current one is ignored (monotonic).
    pub fn set_nanos(&self, nanos: u64) {
        self.nanos.fetch_max(nanos, Ordering::SeqCst);
    }

    pub fn advance_nanos(&self, delta: u64) {
        self.nanos.fetch_add(delta, Ordering::SeqCst);
    }

    pub fn advance_millis(&self, delta: u64) {
        self.advance_nanos(delta.saturating_mul(1_000_000));
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

/// The default shared clock.
pub fn system_clock() -> std::sync::Arc<dyn Clock> {
    std::sync::Arc::new(MonotonicClock::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_moves_forward() {
        let c = MonotonicClock::new();
        let a = c.now_nanos();
        let b = c.now_nanos();
        assert!(b >= a);
        // Sanity: after 2020-01-01.
        assert!(c.now_millis() > 1_577_836_800_000);
    }

    #[test]
    fn manual_clock_never_goes_back() {
        let c = ManualClock::new(1_000);
        c.set_nanos(10);
        assert_eq!(c.now_nanos(), 1_000);
        c.advance_millis(2);
        assert_eq!(c.now_nanos(), 2_001_000);
        assert_eq!(c.now_millis(), 2);
    }
}
