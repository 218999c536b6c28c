//! Hot-path counters and histograms as atomics; Python reads snapshots for Prometheus.
//!
//! Histograms use fixed buckets (seconds) so figures from several processes and
//! instances can be summed by Prometheus (quantile gauges could not).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds in seconds (plus +Inf), from 0.5 ms to 5 min.
pub const LATENCY_BUCKETS_S: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    300.0,
];

#[derive(Debug)]
pub struct Histogram {
    counts: [AtomicU64; LATENCY_BUCKETS_S.len() + 1],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe_us(&self, us: u64) {
        let s = us as f64 / 1e6;
        let i = LATENCY_BUCKETS_S
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(LATENCY_BUCKETS_S.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    /// (non-cumulative counts per bucket incl. +Inf, sum in seconds)
    pub fn snapshot(&self) -> (Vec<u64>, f64) {
        (
            self.counts.iter().map(|c| c.load(Relaxed)).collect(),
            self.sum_us.load(Relaxed) as f64 / 1e6,
        )
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub ok: AtomicU64,
    pub client_errors: AtomicU64,
    pub upstream_errors: AtomicU64,
    pub cancelled: AtomicU64,
    pub rejected: AtomicU64,
    pub in_flight: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    pub cost_micros: AtomicU64,
    pub fallback_requests: AtomicU64,
    pub latency: Histogram,
    pub ttft: Histogram,
    pub upstream: Histogram,
}
