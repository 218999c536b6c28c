//! What a strategy sees during one pick.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::entry::BackendEntry;
use super::ring::Ring;
use crate::tracker::EwmaParams;

/// A read-only view of the pool for one selection. Borrowed under the pool's read
/// lock, so membership cannot change during a pick.
#[derive(Debug)]
pub struct PickView<'a> {
    pub(crate) backends: &'a [Arc<BackendEntry>],
    pub(crate) ring: &'a OnceLock<Ring>,
    pub(crate) exclude: Option<&'a str>,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) now: u64,
    pub(crate) ewma: &'a EwmaParams,
    pub(crate) rotation: &'a AtomicUsize,
    pub(crate) pool_in_flight: u64,
    pub(crate) routable: usize,
}

impl<'a> PickView<'a> {
    #[inline]
    pub fn backends(&self) -> &'a [Arc<BackendEntry>] {
        self.backends
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.backends.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// Routable, below max concurrency and not the excluded backend.
    #[inline]
    pub fn eligible(&self, i: usize) -> bool {
        let b = &self.backends[i];
        b.has_capacity() && self.exclude != Some(b.id())
    }

    /// The caller's affinity key, if any.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// A pool-wide rotating counter (advanced by each call): scans start here so
    /// that ties rotate. Strategies that do not scan never touch it.
    #[inline]
    pub fn rotation(&self) -> usize {
        self.rotation.fetch_add(1, Ordering::Relaxed)
    }

    /// Peak-EWMA latency x (in-flight + 1) of backend `i`.
    #[inline]
    pub fn cost(&self, i: usize) -> f64 {
        self.backends[i].stats().cost(self.now, self.ewma)
    }

    /// In-flight requests over the whole pool.
    pub fn pool_in_flight(&self) -> u64 {
        self.pool_in_flight
    }

    /// Backends that are healthy and not draining.
    pub fn routable(&self) -> usize {
        self.routable
    }

    /// The hash ring (built on first use after each membership change).
    pub fn ring(&self) -> &'a Ring {
        self.ring.get_or_init(|| Ring::build(self.backends))
    }

    /// The index with the smallest `score` among eligible backends, scanning from the
    /// rotation offset so equal scores rotate. Linear in the pool size.
    pub fn min_by_score<S: PartialOrd>(&self, score: impl Fn(usize) -> S) -> Option<usize> {
        let n = self.backends.len();
        if n == 0 {
            return None;
        }
        let start = self.rotation() % n;
        let mut best: Option<(usize, S)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            if !self.eligible(i) {
                continue;
            }
            let s = score(i);
            if best.as_ref().is_none_or(|(_, b)| s < *b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }
}
