//! Sliding-window spend history of one account: a cascade of bucket rings.
//!
//! Tier `k` holds the buckets that have left window `k-1` but still overlap window
//! `k`, at a width `g_k <= W_k / 60` that is a multiple of `g_{k-1}`. So:
//!
//! * window `k`'s spend is the sum of tiers `0..=k` (17 additions);
//! * a bucket leaves tier `k` exactly when it stops overlapping window `k` (its end
//!   `<= now - W_k`) and merges into the one tier-`k+1` bucket that contains it;
//! * only the oldest bucket of tier `k` can straddle window `k`'s start, so the sum
//!   never under-counts spending inside the window and over-counts at most one bucket
//!   (`<= W_k / 60`) of spending just before it.
//!
//! Buckets in a tier arrive in time order, so a tier's live buckets fit a ring of
//! `(W_k - W_{k-1}) / g_k + 2` slots; all 17 rings share one allocation of
//! [`TOTAL_SLOTS`] `u64`s.

use super::windows::{
    window_millis, GRANULARITY_MILLIS, TIER_OFFSETS, TIER_SLOTS, TOTAL_SLOTS, WINDOW_COUNT,
};

#[derive(Debug, Clone)]
pub(crate) struct Cascade {
    buckets: Box<[u64]>,
    /// Per tier: index (in the tier's width) of the oldest bucket that may be non-zero.
    lo: [u64; WINDOW_COUNT],
    /// Per tier: sum of its buckets.
    sums: [u64; WINDOW_COUNT],
    last_now: u64,
    /// Earliest time at which some tier's oldest bucket leaves its window; until then
    /// `advance` is a comparison.
    next_check: u64,
}

impl Cascade {
    pub(crate) fn new(now: u64) -> Self {
        Self {
            buckets: vec![0; TOTAL_SLOTS].into_boxed_slice(),
            lo: [0; WINDOW_COUNT],
            sums: [0; WINDOW_COUNT],
            last_now: now,
            next_check: u64::MAX,
        }
    }

    /// Heap + inline bytes of one active history.
    pub(crate) const BYTES: usize = std::mem::size_of::<Self>() + TOTAL_SLOTS * 8;

    pub(crate) fn is_empty(&self) -> bool {
        self.sums.iter().all(|&s| s == 0)
    }

    /// Ages buckets out as of `now` (clamped to be monotonic); returns the time used.
    #[inline]
    pub(crate) fn advance(&mut self, now: u64) -> u64 {
        let now = now.max(self.last_now);
        self.last_now = now;
        if now >= self.next_check {
            self.expire(now);
        }
        now
    }

    /// Records `amount` spent at `now` (call `advance` first).
    #[inline]
    pub(crate) fn add(&mut self, now: u64, amount: u64) {
        if amount == 0 {
            return;
        }
        let now = self.advance(now);
        self.insert(0, now / GRANULARITY_MILLIS[0], amount);
    }

    /// Spend inside each window, shortest first (call `advance` first).
    #[inline]
    pub(crate) fn window_sums(&self) -> [u64; WINDOW_COUNT] {
        let mut out = [0u64; WINDOW_COUNT];
        let mut acc = 0u64;
        for (o, s) in out.iter_mut().zip(&self.sums) {
            acc = acc.saturating_add(*s);
            *o = acc;
        }
        out
    }

    fn insert(&mut self, tier: usize, b: u64, amount: u64) {
        let slots = TIER_SLOTS[tier] as u64;
        if self.sums[tier] == 0 {
            self.lo[tier] = b;
        }
        debug_assert!(
            b >= self.lo[tier] && b < self.lo[tier] + slots,
            "tier {tier}: bucket {b} outside [{}, +{slots})",
            self.lo[tier]
        );
        // Unreachable by construction (see module docs); clamping forward only ever
        // keeps spending longer, i.e. over-counts, never under-counts.
        let b = b.max(self.lo[tier]);
        let slot = TIER_OFFSETS[tier] + (b % slots) as usize;
        self.buckets[slot] = self.buckets[slot].saturating_add(amount);
        self.sums[tier] = self.sums[tier].saturating_add(amount);
        self.next_check = self.next_check.min(self.expiry(tier));
    }

    /// When tier `tier`'s oldest bucket stops overlapping its window.
    fn expiry(&self, tier: usize) -> u64 {
        (self.lo[tier] + 1) * GRANULARITY_MILLIS[tier] + window_millis(tier)
    }

    #[cold]
    fn expire(&mut self, now: u64) {
        // Top tier first, so a tier has been trimmed before older buckets reach it.
        for t in (0..WINDOW_COUNT).rev() {
            if self.sums[t] == 0 {
                continue;
            }
            let g = GRANULARITY_MILLIS[t];
            let w = window_millis(t);
            // Bucket b is out of window t when (b + 1) * g <= now - w.
            let Some(limit) = now.checked_sub(w).map(|x| x / g) else {
                continue;
            };
            if limit <= self.lo[t] {
                continue;
            }
            let slots = TIER_SLOTS[t] as u64;
            let end = limit.min(self.lo[t] + slots);
            for b in self.lo[t]..end {
                let slot = TIER_OFFSETS[t] + (b % slots) as usize;
                let v = std::mem::take(&mut self.buckets[slot]);
                if v > 0 {
                    self.sums[t] -= v;
                    self.promote(t, b * g, v, now);
                    if self.sums[t] == 0 {
                        break;
                    }
                }
            }
            self.lo[t] = limit;
        }
        self.next_check = (0..WINDOW_COUNT)
            .filter(|&t| self.sums[t] > 0)
            .map(|t| self.expiry(t))
            .min()
            .unwrap_or(u64::MAX);
    }

    /// Moves `v` spent in a bucket starting at `start` into the first higher tier whose
    /// window it still overlaps; beyond the last window it is forgotten.
    fn promote(&mut self, from: usize, start: u64, v: u64, now: u64) {
        for (u, &g) in GRANULARITY_MILLIS.iter().enumerate().skip(from + 1) {
            let b = start / g;
            if (b + 1) * g + window_millis(u) > now {
                self.insert(u, b, v);
                return;
            }
        }
    }
}
