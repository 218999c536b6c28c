//! Sliding-window spend history of one account: a sparse cascade of buckets.
//!
//! Tier `k` holds the buckets that have left window `k-1` but still overlap window
//! `k`, at a width `g_k <= W_k / 60` that is a multiple of `g_{k-1}`. So:
//!
//! * window `k`'s spend is the sum of tiers `0..=k` (17 additions of per-tier sums);
//! * a bucket leaves tier `k` exactly when it stops overlapping window `k` (its end
//!   `<= now - W_k`) and merges into the one tier-`k+1` bucket that contains it;
//! * only the oldest bucket of tier `k` can straddle window `k`'s start, so the sum
//!   never under-counts spending inside the window and over-counts at most one bucket
//!   (`<= W_k / 60`) of spending just before it.
//!
//! Storage is sparse: only non-empty buckets exist, as one `Vec<u64>` ordered oldest
//! first. Older buckets always sit in higher (coarser) tiers, so every tier is a
//! contiguous run (tier 16 first, tier 0 last): a new spend appends to or adds into the
//! last entry, and ageing is one in-place pass that relabels, merges and drops entries
//! (see [`Cascade::expire`]). An entry packs the bucket start in 5-second units modulo
//! 2^16 (every live bucket starts less than 72 h + 48 min = 52,416 units before the
//! last time seen, so it decodes unambiguously) and the amount in 48 bits (an amount
//! that does not fit is split over several entries of the same bucket).

use super::windows::{window_millis, GRANULARITY_MILLIS, TOTAL_SLOTS, WINDOW_COUNT};

/// Time unit of an entry's start: the finest bucket width (every width is a multiple).
const UNIT: u64 = GRANULARITY_MILLIS[0];
const AMOUNT_BITS: u32 = 48;
const AMOUNT_MAX: u64 = (1 << AMOUNT_BITS) - 1;
/// Tier boundaries are `u16` indices; past this many entries a bucket saturates
/// instead of splitting (only reachable with total spend near `u64::MAX`).
const MAX_ENTRIES: usize = u16::MAX as usize;

// Every live bucket must decode unambiguously from 16 bits of 5-second units.
const _: () = assert!(
    (window_millis(WINDOW_COUNT - 1) + GRANULARITY_MILLIS[WINDOW_COUNT - 1]) / UNIT < 1 << 16
);

#[inline]
fn pack(pos: u16, amount: u64) -> u64 {
    (u64::from(pos) << AMOUNT_BITS) | amount
}

#[inline]
fn pos_of(e: u64) -> u16 {
    (e >> AMOUNT_BITS) as u16
}

#[inline]
fn amount_of(e: u64) -> u64 {
    e & AMOUNT_MAX
}

/// Absolute start (in units) of a bucket stored as `pos`, given a reference time (in
/// units) less than 2^16 units after it.
#[inline]
fn decode(reference: u64, pos: u16) -> u64 {
    #[allow(clippy::cast_possible_truncation)] // modulo 2^16 on purpose
    let age = (reference as u16).wrapping_sub(pos);
    reference - u64::from(age)
}

#[inline]
#[allow(clippy::cast_possible_truncation)] // modulo 2^16 on purpose
fn encode(units: u64) -> u16 {
    units as u16
}

/// When a bucket of tier `tier` starting at `start` (ms) stops overlapping its window.
#[inline]
fn expiry(tier: usize, start: u64) -> u64 {
    let g = GRANULARITY_MILLIS[tier];
    (start / g + 1) * g + window_millis(tier)
}

#[derive(Debug, Clone)]
pub(crate) struct Cascade {
    /// Non-empty buckets, oldest first, packed (`pack`).
    entries: Vec<u64>,
    /// Per tier: sum of its buckets.
    sums: [u64; WINDOW_COUNT],
    /// Per tier: index of its first entry; tier `t` is `first[t]..first[t-1]` (tier 0
    /// ends at `entries.len()`, tier 16 starts at 0).
    first: [u16; WINDOW_COUNT],
    last_now: u64,
    /// Earliest time at which some tier's oldest bucket leaves its window; until then
    /// `advance` is a comparison.
    next_check: u64,
}

impl Cascade {
    pub(crate) fn new(now: u64) -> Self {
        Self {
            entries: Vec::new(),
            sums: [0; WINDOW_COUNT],
            first: [0; WINDOW_COUNT],
            last_now: now,
            next_check: u64::MAX,
        }
    }

    /// Inline + heap bytes of this history (its `Box` included).
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.entries.capacity() * std::mem::size_of::<u64>()
    }

    /// Number of stored (non-empty) buckets.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Ages buckets out as of `now` (clamped to be monotonic); returns the time used.
    #[inline]
    pub(crate) fn advance(&mut self, now: u64) -> u64 {
        let prev = self.last_now;
        let now = now.max(prev);
        self.last_now = now;
        if now >= self.next_check {
            self.expire(prev, now);
        }
        now
    }

    /// Records `amount` spent at `now`.
    #[inline]
    pub(crate) fn add(&mut self, now: u64, amount: u64) {
        if amount == 0 {
            return;
        }
        let now = self.advance(now);
        let pos = encode(now / UNIT);
        let len = self.entries.len();
        let tier0_empty = usize::from(self.first[0]) == len;
        if !tier0_empty {
            let last = &mut self.entries[len - 1];
            // The last tier-0 bucket is younger than 5 min + 5 s: no aliasing.
            if pos_of(*last) == pos && amount_of(*last) + amount <= AMOUNT_MAX {
                *last += amount;
                self.sums[0] = self.sums[0].saturating_add(amount);
                return;
            }
        }
        self.append(pos, amount);
        self.sums[0] = self.sums[0].saturating_add(amount);
        if tier0_empty {
            self.next_check = self.next_check.min(expiry(0, now));
        }
    }

    #[cold]
    fn append(&mut self, pos: u16, mut amount: u64) {
        while amount > 0 {
            let len = self.entries.len();
            if len >= MAX_ENTRIES {
                // Unreachable below a total of ~2^63: keep the sum by saturating.
                let last = &mut self.entries[len - 1];
                *last = pack(pos_of(*last), AMOUNT_MAX);
                return;
            }
            if len == self.entries.capacity() {
                // Grow by an eighth (appends are at most one per 5 s, so the copies
                // are rare), never past the most buckets an account can hold without
                // split amounts, so a saturated history is not rounded up.
                let extra = (len / 8).max(4);
                let extra = if len < TOTAL_SLOTS {
                    extra.min(TOTAL_SLOTS - len)
                } else {
                    extra
                };
                self.entries.reserve_exact(extra);
            }
            let part = amount.min(AMOUNT_MAX);
            self.entries.push(pack(pos, part));
            amount -= part;
        }
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

    /// Entry range of tier `t`.
    #[inline]
    fn range(&self, t: usize) -> std::ops::Range<usize> {
        let hi = if t == 0 {
            self.entries.len()
        } else {
            usize::from(self.first[t - 1])
        };
        usize::from(self.first[t])..hi
    }

    /// When tier `t`'s oldest bucket leaves its window (`None`: tier empty).
    fn oldest_expiry(&self, t: usize, reference: u64) -> Option<u64> {
        let r = self.range(t);
        (!r.is_empty()).then(|| expiry(t, decode(reference, pos_of(self.entries[r.start])) * UNIT))
    }

    /// One in-place pass, oldest first, from the highest tier with an expired bucket
    /// (older tiers sit in front and stay as they are, so a busy account mostly
    /// rewrites only its short-window tail): each bucket moves to the first tier (at
    /// or above its own) whose window it still overlaps, re-aligned to that tier's
    /// width, merging with the previous entry when they land in the same bucket; a
    /// bucket past the last window is dropped. Positions decode against `prev`, the
    /// time of the last call, which every live bucket is less than 2^16 units before.
    #[cold]
    fn expire(&mut self, prev: u64, now: u64) {
        let reference = prev / UNIT;
        let top = (0..WINDOW_COUNT)
            .rev()
            .find(|&t| self.oldest_expiry(t, reference).is_some_and(|e| e <= now));
        if let Some(top) = top {
            self.rewrite(reference, top, now);
        }
        // Every live bucket is now less than 2^16 units before `now` as well.
        self.next_check = (0..WINDOW_COUNT)
            .filter_map(|t| self.oldest_expiry(t, reference))
            .min()
            .unwrap_or(u64::MAX);
    }

    /// The pass of `expire` over tiers `top..=0`.
    fn rewrite(&mut self, reference: u64, top: usize, now: u64) {
        let len = self.entries.len();
        let mut counts = [0usize; WINDOW_COUNT];
        for (t, c) in counts.iter_mut().enumerate().skip(top + 1) {
            *c = self.range(t).len();
        }
        let mut sums = self.sums;
        sums[..=top].fill(0);
        let mut write = usize::from(self.first[top]);
        // Tier of the last written entry (tiers never increase along the vector).
        let mut last_tier = (top + 1..WINDOW_COUNT)
            .find(|&t| counts[t] > 0)
            .unwrap_or(WINDOW_COUNT);
        for t in (0..=top).rev() {
            for read in self.range(t) {
                let e = self.entries[read];
                let start = decode(reference, pos_of(e)) * UNIT;
                let Some(u) = (t..WINDOW_COUNT).find(|&u| expiry(u, start) > now) else {
                    continue; // older than the longest window
                };
                debug_assert!(u <= last_tier || last_tier == WINDOW_COUNT);
                let g = GRANULARITY_MILLIS[u];
                let pos = encode(start / g * g / UNIT);
                let amount = amount_of(e);
                sums[u] = sums[u].saturating_add(amount);
                if write > 0 && last_tier == u {
                    let prev_entry = &mut self.entries[write - 1];
                    if pos_of(*prev_entry) == pos && amount_of(*prev_entry) + amount <= AMOUNT_MAX {
                        *prev_entry += amount;
                        continue;
                    }
                }
                self.entries[write] = pack(pos, amount);
                write += 1;
                counts[u] += 1;
                last_tier = u;
            }
        }
        debug_assert!(write <= len);
        self.entries.truncate(write);
        if self.entries.capacity() >= write + write / 4 + 8 {
            self.entries.shrink_to(write + write / 8);
        }
        let mut at = 0usize;
        for t in (0..WINDOW_COUNT).rev() {
            // `write <= len <= MAX_ENTRIES`, checked at every append.
            self.first[t] = u16::try_from(at).unwrap_or(u16::MAX);
            at += counts[t];
        }
        self.sums = sums;
    }
}
