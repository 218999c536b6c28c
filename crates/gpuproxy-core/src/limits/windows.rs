//! The 17 spend windows and the bucket layout derived from them.
//!
//! Names follow the original product's public names (`"5min"`, `"60min"` in its gRPC
//! `SpendingWindow.window`, `GUARDRAILS_MAX_1440MIN_RATE` / `GUARDRAILS_MAX_72H_RATE` in
//! its settings): minutes with a `min` suffix up to one day, then hours with `h`.

/// Number of spend windows.
pub const WINDOW_COUNT: usize = 17;

/// Window lengths in minutes, shortest first.
pub const WINDOW_MINUTES: [u64; WINDOW_COUNT] = [
    5, 15, 30, 60, 90, 120, 240, 300, 360, 400, 460, 520, 640, 700, 1440, 2880, 4320,
];

/// Public window names, in the same order as [`WINDOW_MINUTES`].
pub const SPEND_WINDOW_NAMES: [&str; WINDOW_COUNT] = [
    "5min", "15min", "30min", "60min", "90min", "120min", "240min", "300min", "360min", "400min",
    "460min", "520min", "640min", "700min", "1440min", "48h", "72h",
];

/// The index of a window by name.
pub fn window_index(name: &str) -> Option<usize> {
    SPEND_WINDOW_NAMES.iter().position(|n| *n == name)
}

/// Window length in milliseconds.
pub const fn window_millis(k: usize) -> u64 {
    WINDOW_MINUTES[k] * 60_000
}

/// Bucket width of the tier that holds window `k`'s boundary, milliseconds.
///
/// Each is at most 1/60 of its window and a multiple of the previous tier's width, so
/// an aged bucket always fits inside exactly one bucket of the next tier. (A window of
/// W minutes allows W seconds; we take the largest multiple of the previous width.)
pub const GRANULARITY_MILLIS: [u64; WINDOW_COUNT] = granularities();

/// Most non-empty buckets one account can hold at once (every bucket of every tier
/// in use, e.g. spending every 5 seconds for 72 h); the sparse history stays below it.
pub const TOTAL_SLOTS: usize = total_slots();

const fn granularities() -> [u64; WINDOW_COUNT] {
    let mut g = [0u64; WINDOW_COUNT];
    // W minutes / 60 = W seconds.
    g[0] = WINDOW_MINUTES[0] * 1000;
    let mut k = 1;
    while k < WINDOW_COUNT {
        let max = WINDOW_MINUTES[k] * 1000;
        g[k] = (max / g[k - 1]) * g[k - 1];
        k += 1;
    }
    g
}

/// Most live buckets per tier: those overlapping the part of window `k` outside
/// window `k-1`, plus one straddling each end.
const fn tier_slots() -> [usize; WINDOW_COUNT] {
    let g = granularities();
    let mut s = [0usize; WINDOW_COUNT];
    // Tier 0: buckets overlapping (now - W0, now]: at most W0/g0 + 1; +1 spare.
    s[0] = (window_millis(0) / g[0]) as usize + 2;
    let mut k = 1;
    while k < WINDOW_COUNT {
        // Buckets that left window k-1 but still overlap window k.
        let span = window_millis(k) - window_millis(k - 1);
        s[k] = span.div_ceil(g[k]) as usize + 2;
        k += 1;
    }
    s
}

const fn total_slots() -> usize {
    let s = tier_slots();
    let mut t = 0;
    let mut k = 0;
    while k < WINDOW_COUNT {
        t += s[k];
        k += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_respects_the_one_sixtieth_rule_and_nests() {
        for k in 0..WINDOW_COUNT {
            assert!(GRANULARITY_MILLIS[k] * 60 <= window_millis(k), "{k}");
            assert!(GRANULARITY_MILLIS[k] > 0);
            if k > 0 {
                assert_eq!(GRANULARITY_MILLIS[k] % GRANULARITY_MILLIS[k - 1], 0);
                assert!(WINDOW_MINUTES[k] > WINDOW_MINUTES[k - 1]);
            }
        }
        assert_eq!(window_index("1440min"), Some(14));
        assert_eq!(window_index("72h"), Some(16));
        assert_eq!(window_index("24h"), None);
        // Worst case of the sparse history (limits/mod.rs, README): 446 buckets.
        assert_eq!(TOTAL_SLOTS, 446);
    }
}
