//! `weighted_round_robin`: smooth weighted round robin (the nginx algorithm).
//!
//! Each pick adds every eligible backend's weight to its running value, takes the
//! largest, and subtracts the total weight from the winner. Picks interleave (weights
//! 5:1:1 give a a b a c a a, not a a a a a b c) and every cycle of `sum(weights)` picks
//! gives each backend exactly its weight. Weights default to the GPU-derived ones
//! (see `gpu_weights`) and can be overridden per backend at run time.

use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::strategy::Strategy;
use super::view::PickView;

/// The running values live on the backends; the lock makes one pick's
/// read-modify-write of all of them atomic.
#[derive(Debug, Default)]
pub struct WeightedRoundRobin {
    lock: Mutex<()>,
}

impl Strategy for WeightedRoundRobin {
    fn name(&self) -> &'static str {
        "weighted_round_robin"
    }

    fn pick(&self, view: &PickView<'_>) -> Option<usize> {
        let backends = view.backends();
        let _g = self.lock.lock();
        let mut total: i64 = 0;
        let mut best: Option<(usize, i64)> = None;
        for (i, b) in backends.iter().enumerate() {
            if !view.eligible(i) {
                continue;
            }
            let w = i64::from(b.weight());
            let cw = b.wrr_current.load(Ordering::Relaxed) + w;
            b.wrr_current.store(cw, Ordering::Relaxed);
            total += w;
            if best.is_none_or(|(_, c)| cw > c) {
                best = Some((i, cw));
            }
        }
        let (i, cw) = best?;
        backends[i].wrr_current.store(cw - total, Ordering::Relaxed);
        Some(i)
    }
}
