//! `consistent_hash`: affinity on a caller-given key (user, session, prompt prefix) so
//! that repeat requests reach the backend holding their KV cache, with bounded loads
//! (Mirrokni, Thorup, Zadimoghaddam 2018): walking clockwise from the key's point, the
//! first eligible backend whose in-flight count is below
//! `ceil(1.25 x (pool in-flight + 1) / routable backends)` wins, so no request is placed
//! on a backend that would then exceed 1.25x the mean load (rounded up to a whole
//! request). Requests are never moved, so after others finish a backend can sit above
//! the new mean until its own requests end. Without a key it behaves like `p2c_ewma`.

use super::p2c_ewma::P2cEwma;
use super::ring::stable_hash;
use super::strategy::Strategy;
use super::view::PickView;

/// The load bound as a fraction: 5/4 = 1.25.
const LOAD_NUM: u64 = 5;
const LOAD_DEN: u64 = 4;

#[derive(Debug, Default)]
pub struct ConsistentHash;

/// The most in-flight requests a backend may already have to accept one more.
pub fn load_cap(pool_in_flight: u64, routable: usize) -> u64 {
    let n = routable.max(1) as u64;
    ((pool_in_flight + 1) * LOAD_NUM).div_ceil(LOAD_DEN * n)
}

impl Strategy for ConsistentHash {
    fn name(&self) -> &'static str {
        "consistent_hash"
    }

    fn pick(&self, view: &PickView<'_>) -> Option<usize> {
        let Some(key) = view.key() else {
            return P2cEwma.pick(view);
        };
        if view.is_empty() {
            return None;
        }
        let cap = load_cap(view.pool_in_flight(), view.routable());
        let backends = view.backends();
        view.ring()
            .walk(stable_hash(key))
            .find(|&i| view.eligible(i) && u64::from(backends[i].stats().in_flight()) < cap)
    }
}
