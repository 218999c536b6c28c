//! Peak-EWMA latency estimate (Finagle / linkerd / tower style) stored in two atomics.
//!
//! * A sample above the current estimate replaces it at once ("peak"), so a backend
//!   that slows down is avoided immediately.
//! * A sample below it pulls the estimate down with weight `1 - exp(-elapsed / tau)`,
//!   so recovery is gradual and time-based rather than count-based.
//! * Between samples the estimate decays towards the pool's `default_rtt` (the prior),
//!   computed at read time. Decaying towards the prior rather than towards zero keeps
//!   a backend whose requests are all long-running (LLM streams) from looking free.

use std::sync::atomic::{AtomicU64, Ordering};

/// Parameters of the latency estimate, shared by all backends of a pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EwmaParams {
    /// Decay time constant, nanoseconds.
    pub tau_nanos: f64,
    /// Prior estimate for a backend without samples (and the decay target), nanoseconds.
    pub default_rtt_nanos: f64,
}

impl Default for EwmaParams {
    fn default() -> Self {
        Self {
            tau_nanos: 10e9,
            default_rtt_nanos: 50e6,
        }
    }
}

/// The estimate: `f64` nanoseconds as bits, plus the time of the last update.
///
/// The two words are not updated as one; a reader racing a writer may pair a new
/// estimate with an old stamp, which only changes the decay by one sample's worth.
#[derive(Debug)]
pub(crate) struct PeakEwma {
    estimate_bits: AtomicU64,
    stamp_nanos: AtomicU64,
}

impl PeakEwma {
    pub(crate) fn new(initial_nanos: f64, now: u64) -> Self {
        Self {
            estimate_bits: AtomicU64::new(initial_nanos.to_bits()),
            stamp_nanos: AtomicU64::new(now),
        }
    }

    /// The estimate at `now`, decayed towards the prior since the last sample.
    #[inline]
    pub(crate) fn get(&self, now: u64, p: &EwmaParams) -> f64 {
        let est = f64::from_bits(self.estimate_bits.load(Ordering::Relaxed));
        let stamp = self.stamp_nanos.load(Ordering::Relaxed);
        let elapsed = now.saturating_sub(stamp) as f64;
        if elapsed <= 0.0 {
            return est;
        }
        let w = (-elapsed / p.tau_nanos).exp();
        p.default_rtt_nanos + (est - p.default_rtt_nanos) * w
    }

    /// Records one latency sample observed at `now`.
    pub(crate) fn observe(&self, sample_nanos: f64, now: u64, p: &EwmaParams) {
        let stamp = self.stamp_nanos.load(Ordering::Relaxed);
        let elapsed = now.saturating_sub(stamp) as f64;
        let current = self.get(now, p);
        let next = if sample_nanos > current {
            sample_nanos
        } else {
            let w = (-elapsed / p.tau_nanos).exp();
            current * w + sample_nanos * (1.0 - w)
        };
        self.estimate_bits.store(next.to_bits(), Ordering::Relaxed);
        if now > stamp {
            self.stamp_nanos.store(now, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: EwmaParams = EwmaParams {
        tau_nanos: 1e9,
        default_rtt_nanos: 10e6,
    };

    #[test]
    fn peak_is_taken_immediately() {
        let e = PeakEwma::new(P.default_rtt_nanos, 0);
        e.observe(500e6, 0, &P);
        assert!((e.get(0, &P) - 500e6).abs() < 1.0);
    }

    #[test]
    fn lower_samples_pull_down_gradually_and_idle_decays_to_prior() {
        let e = PeakEwma::new(P.default_rtt_nanos, 0);
        e.observe(500e6, 0, &P);
        // One tau later a 1 ms sample moves it most (1 - 1/e) of the way.
        e.observe(1e6, 1_000_000_000, &P);
        let v = e.get(1_000_000_000, &P);
        assert!(v < 500e6 && v > 1e6, "{v}");
        // Long idle: back to the prior.
        let far = e.get(100_000_000_000, &P);
        assert!((far - P.default_rtt_nanos).abs() < 1.0, "{far}");
    }
}
