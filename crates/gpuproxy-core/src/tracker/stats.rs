//! Lock-free counters of one backend and of one pool.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::ewma::{EwmaParams, PeakEwma};

/// Counters of one backend. `in_flight` doubles as the concurrency slot count.
#[derive(Debug)]
pub struct BackendStats {
    in_flight: AtomicU32,
    /// Requests handed to this backend (counted at selection).
    total: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    /// Guards dropped without an outcome (client disconnect, cancellation, panic).
    cancelled: AtomicU64,
    /// Sum of completed requests' latencies (count = ok + errors).
    latency_sum_nanos: AtomicU64,
    ewma: PeakEwma,
}

impl BackendStats {
    pub(crate) fn new(params: &EwmaParams, now: u64) -> Self {
        Self {
            in_flight: AtomicU32::new(0),
            total: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            latency_sum_nanos: AtomicU64::new(0),
            ewma: PeakEwma::new(params.default_rtt_nanos, now),
        }
    }

    /// Takes a concurrency slot if fewer than `max` are in use. The compare-and-swap
    /// is what makes `max_concurrency` hold under concurrent selections.
    #[inline]
    pub(crate) fn try_acquire(&self, max: u32) -> bool {
        let ok = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |v| {
                (v < max).then_some(v + 1)
            })
            .is_ok();
        if ok {
            self.total.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    #[inline]
    pub(crate) fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn record(&self, ok: bool, latency_nanos: u64, now: u64, params: &EwmaParams) {
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_sum_nanos
            .fetch_add(latency_nanos, Ordering::Relaxed);
        self.ewma.observe(latency_nanos as f64, now, params);
    }

    pub(crate) fn record_cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    #[inline]
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Mean latency of completed requests, nanoseconds (0 without samples).
    pub fn mean_latency_nanos(&self) -> u64 {
        let n = self.ok() + self.errors();
        self.latency_sum_nanos
            .load(Ordering::Relaxed)
            .checked_div(n)
            .unwrap_or(0)
    }

    /// Peak-EWMA latency at `now`, nanoseconds.
    #[inline]
    pub fn ewma_nanos(&self, now: u64, params: &EwmaParams) -> f64 {
        self.ewma.get(now, params)
    }

    /// The load score used by `p2c_ewma` and `least_response_time`:
    /// latency estimate times (in-flight + 1).
    #[inline]
    pub fn cost(&self, now: u64, params: &EwmaParams) -> f64 {
        self.ewma.get(now, params) * f64::from(self.in_flight() + 1)
    }
}

/// Pool-wide counters: the sum of the backends' in-flight (kept separately so that
/// bounded-load hashing reads it in O(1)) and the refusals. Totals are summed from the
/// backends when a snapshot is taken, which keeps one atomic off the hot path.
#[derive(Debug, Default)]
pub struct PoolStats {
    in_flight: AtomicU64,
    saturated: AtomicU64,
    unavailable: AtomicU64,
}

impl PoolStats {
    #[inline]
    pub(crate) fn on_acquire(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    #[inline]
    pub(crate) fn on_release(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn on_saturated(&self) {
        self.saturated.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn on_unavailable(&self) {
        self.unavailable.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Selections answered "saturated" (every eligible backend at max concurrency).
    pub fn saturated(&self) -> u64 {
        self.saturated.load(Ordering::Relaxed)
    }

    /// Selections answered "no healthy backend".
    pub fn unavailable(&self) -> u64 {
        self.unavailable.load(Ordering::Relaxed)
    }
}
