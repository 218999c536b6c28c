//! Unit tests and properties of spend windows and GCRA.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::clock::{Clock, ManualClock};

const MIN: u64 = 60_000;
/// A realistic start time (ms since the epoch), not aligned to any bucket.
const T0: u64 = 1_750_000_123_457;

fn windows() -> (SpendWindows, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0 * 1_000_000));
    (SpendWindows::new(clock.clone()), clock)
}

fn idx(name: &str) -> usize {
    SpendWindows::window(name).unwrap()
}

#[test]
fn reserve_is_all_or_nothing_and_names_windows() {
    let (w, _) = windows();
    w.set_default_limit(idx("5min"), Some(1_000));
    w.set_default_limit(idx("60min"), Some(1_500));
    let r = w.reserve("acct", 900).unwrap();
    let err = w.reserve("acct", 700).unwrap_err();
    assert_eq!(
        err,
        LimitsError::SpendLimitExceeded {
            windows: vec!["5min", "60min"]
        }
    );
    // Nothing was booked by the failed attempt.
    assert_eq!(w.status("acct")[0].reserved, 900);
    r.commit(400);
    let s = w.status("acct");
    assert_eq!(
        (s[0].spent, s[0].reserved, s[0].remaining),
        (400, 0, Some(600))
    );
    assert_eq!(s[3].remaining, Some(1_100));
    assert_eq!(s[16].limit, None);
    assert!(w.check("acct", 600).is_empty());
    assert_eq!(w.check("acct", 601), vec!["5min"]);
}

#[test]
fn dropped_reservation_is_released() {
    let (w, _) = windows();
    w.set_default_limit(0, Some(100));
    {
        let _r = w.reserve("a", 100).unwrap();
        assert!(w.reserve("a", 1).is_err());
    }
    w.reserve("a", 100).unwrap().release();
    assert_eq!(w.status("a")[0].reserved, 0);
    assert_eq!(w.status("a")[0].spent, 0);
}

#[test]
fn commit_above_estimate_is_booked_and_reported_exceeded() {
    let (w, _) = windows();
    w.set_default_limit(0, Some(100));
    w.reserve("a", 50).unwrap().commit(150);
    let s = w.status("a")[0];
    assert!(s.exceeded);
    assert_eq!((s.spent, s.remaining), (150, Some(0)));
    assert!(w.reserve("a", 0).is_err());
}

#[test]
fn spending_ages_out_of_each_window() {
    let (w, clock) = windows();
    w.record("a", 1_000);
    clock.advance_millis(6 * MIN);
    let s = w.status("a");
    assert_eq!(s[idx("5min")].spent, 0);
    assert_eq!(s[idx("15min")].spent, 1_000);
    clock.advance_millis(72 * 60 * MIN);
    assert!(w.status("a").iter().all(|s| s.spent == 0));
    assert_eq!(w.purge_idle(), 1);
    assert!(w.is_empty());
}

#[test]
fn per_account_limits_override_and_reset() {
    let (w, _) = windows();
    w.set_default_limit(idx("1440min"), Some(10));
    w.set_limits(
        "vip",
        &[(idx("1440min"), Some(1_000)), (idx("72h"), Some(2_000))],
    );
    assert!(w.reserve("vip", 500).is_ok());
    assert!(w.reserve("pleb", 500).is_err());
    w.set_limits("vip", &[(idx("1440min"), None)]);
    assert_eq!(w.status("vip")[idx("1440min")].limit, None);
    w.clear_limits("vip");
    assert_eq!(w.status("vip")[idx("1440min")].limit, Some(10));
    w.record("pleb", 5);
    w.reset_spent("pleb");
    assert_eq!(w.status("pleb")[idx("1440min")].spent, 0);
    assert!(SpendWindows::window("24h").is_err());
}

#[test]
fn concurrent_reservations_never_exceed_a_limit() {
    let (w, _) = windows();
    w.set_default_limit(idx("60min"), Some(10_000));
    let w = Arc::new(w);
    let held = Arc::new(parking_lot::Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (w, held) = (w.clone(), held.clone());
            s.spawn(move || {
                for i in 0..500u64 {
                    if let Ok(r) = w.reserve("shared", 7 + (t + i) % 13) {
                        if i % 3 == 0 {
                            let a = r.amount();
                            r.commit(a);
                        } else {
                            held.lock().push(r);
                        }
                    }
                }
            });
        }
    });
    let s = w.status("shared")[idx("60min")];
    assert!(s.spent + s.reserved <= 10_000, "{s:?}");
    // Saturated: within one smallest reservation of the limit.
    assert!(s.spent + s.reserved > 10_000 - 19, "{s:?}");
    held.lock().clear();
    assert_eq!(w.status("shared")[0].reserved, 0);
}

/// Bytes of one account (`memory_bytes`, id included) after spending `amount` every
/// `every` ms for `for_ms`: (at the end, peak along the way).
fn pattern_bytes(every: u64, for_ms: u64) -> (usize, usize) {
    let (w, clock) = windows();
    w.set_limits("acct-0000", &[]);
    let mut peak = w.memory_bytes();
    let mut t = 0;
    let mut i = 0u64;
    while t < for_ms {
        // Realistic LLM request costs: 0.1 to 2 cents.
        w.record("acct-0000", 1_000 + (i * 7_919) % 19_000);
        peak = peak.max(w.memory_bytes());
        clock.advance_millis(every);
        t += every;
        i += 1;
    }
    (w.memory_bytes(), peak)
}

/// The figures in limits/mod.rs and the crate README.
#[test]
fn memory_per_account_matches_the_docs() {
    let (w, _) = windows();
    for i in 0..1_000 {
        w.status(&format!("idle-{i}")); // queries do not create accounts
        w.set_limits(&format!("acct-{i:04}"), &[]);
    }
    assert_eq!(w.len(), 1_000);
    let idle = w.memory_bytes() / 1_000;
    let before = w.memory_bytes();
    w.record("acct-0000", 1);
    let one = idle + w.memory_bytes() - before;
    let (hour, hour_peak) = pattern_bytes(MIN, 60 * MIN);
    let (day, day_peak) = pattern_bytes(MIN, 24 * 60 * MIN);
    let (three, three_peak) = pattern_bytes(MIN, 72 * 60 * MIN);
    let (dense, dense_peak) = pattern_bytes(5_000, 72 * 60 * MIN);
    eprintln!(
        "bytes per account: idle {idle}, one spend {one}, 1/min for 1 h {hour} (peak \
         {hour_peak}), 24 h {day} (peak {day_peak}), 72 h {three} (peak {three_peak}); \
         every 5 s for 72 h {dense} (peak {dense_peak})"
    );
    assert!(idle <= 90, "{idle} bytes per idle account");
    assert!(one <= 350, "{one} bytes with one spend");
    assert!(hour_peak <= 900, "{hour_peak} bytes after an hour of 1/min");
    assert!(day_peak <= 2_600, "{day_peak} bytes after a day of 1/min");
    assert!(
        three_peak <= 3_200,
        "{three_peak} bytes after 72 h of 1/min"
    );
    // The worst case (every bucket of every tier in use) stays at the old dense cost.
    assert!(
        dense_peak <= 3_900,
        "{dense_peak} bytes after 72 h of 1 per 5 s"
    );
}

#[test]
fn history_survives_long_idle_gaps() {
    // Positions are stored modulo 2^16 5-second units (91 h): gaps longer than that
    // must neither resurrect nor lose spending.
    let (w, clock) = windows();
    w.record("a", 5);
    clock.advance_millis(50 * 60 * MIN);
    w.record("a", 7);
    clock.advance_millis(40 * 60 * MIN); // first spend 90 h old, second 40 h
    let s = w.status("a");
    assert_eq!((s[idx("1440min")].spent, s[idx("48h")].spent), (0, 7));
    assert_eq!(s[idx("72h")].spent, 7);
    clock.advance_millis(1_000 * 60 * MIN);
    assert!(w.status("a").iter().all(|s| s.spent == 0));
    w.record("a", 3);
    clock.advance_millis(91 * 60 * MIN + 20_000);
    w.record("a", 4);
    let s = w.status("a");
    assert_eq!((s[0].spent, s[16].spent), (4, 4));
}

#[test]
fn amounts_beyond_48_bits_split_without_loss() {
    let (w, clock) = windows();
    let big = u64::MAX / 8;
    w.record("a", big);
    w.record("a", big);
    w.record("a", 1);
    assert_eq!(w.status("a")[0].spent, 2 * big + 1);
    clock.advance_millis(2 * 60 * MIN);
    w.record("a", big);
    let s = w.status("a");
    assert_eq!((s[0].spent, s[idx("240min")].spent), (big, 3 * big + 1));
    clock.advance_millis(25 * 60 * MIN);
    let s = w.status("a");
    assert_eq!((s[idx("1440min")].spent, s[16].spent), (0, 3 * big + 1));
}

#[test]
fn gcra_allows_burst_then_paces() {
    let clock = Arc::new(ManualClock::new(T0 * 1_000_000));
    let rl = RateLimiter::with_clock(Quota::new(10.0, 5).unwrap(), 1_000, clock.clone());
    for _ in 0..5 {
        rl.check("k", 1).unwrap();
    }
    assert_eq!(
        rl.check("k", 1),
        Err(LimitsError::RateLimited {
            retry_after_ms: 100
        })
    );
    assert!(rl.check("other", 5).is_ok());
    clock.advance_millis(100);
    rl.check("k", 1).unwrap();
    assert!(rl.check("k", 1).is_err());
    assert!(matches!(
        rl.check("k", 6),
        Err(LimitsError::CostExceedsBurst { cost: 6, burst: 5 })
    ));
    clock.advance_millis(10_000);
    assert_eq!(rl.purge_expired(), 2);
    assert!(Quota::new(0.0, 1).is_err() && Quota::new(1.0, 0).is_err());
}

#[test]
fn gcra_memory_is_bounded() {
    let clock = Arc::new(ManualClock::new(0));
    let rl = RateLimiter::with_clock(Quota::new(1.0, 10).unwrap(), 320, clock);
    for i in 0..10_000 {
        rl.check(&format!("k{i}"), 1).unwrap();
    }
    assert!(rl.len() <= 320, "{}", rl.len());
}

/// Exact reference: every spend with its time.
fn reference_sum(events: &[(u64, u64)], now: u64, k: usize) -> u64 {
    let w = window_millis(k);
    events
        .iter()
        .filter(|&&(t, _)| t + w > now)
        .map(|&(_, a)| a)
        .sum()
}

/// Spend in the bucket just before window k: the allowed over-count.
fn slack(events: &[(u64, u64)], now: u64, k: usize) -> u64 {
    let w = window_millis(k);
    let g = GRANULARITY_MILLIS[k];
    events
        .iter()
        .filter(|&&(t, _)| t + w <= now && t + w + g > now)
        .map(|&(_, a)| a)
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Against an exact model: never under-count; over-count only spending within one
    /// bucket width (<= W/60) before the window.
    #[test]
    fn windows_match_reference(
        steps in prop::collection::vec((0u64..4, 0u64..3_000, 0u64..1_000), 1..120),
    ) {
        let (w, clock) = windows();
        let mut events = Vec::new();
        for (scale, dt, amount) in steps {
            // Mix of sub-second, minute, hour and day steps.
            let dt = dt * [1, 1_000, 60_000, 3_600_000][scale as usize] / 10;
            clock.advance_millis(dt);
            let now = clock.now_millis();
            w.record("a", amount);
            events.push((now, amount));
            let status = w.status("a");
            for (k, s) in status.iter().enumerate() {
                let exact = reference_sum(&events, now, k);
                prop_assert!(s.spent >= exact, "window {} under-counts: {} < {}", s.name, s.spent, exact);
                prop_assert!(s.spent <= exact + slack(&events, now, k),
                    "window {} over-counts: {} > {} + {}", s.name, s.spent, exact, slack(&events, now, k));
            }
        }
    }

    /// The sparse history never holds more buckets than the dense layout had, and its
    /// allocation never outgrows that either (bursts of any rate, any pauses).
    #[test]
    fn history_memory_is_bounded(
        bursts in prop::collection::vec((1u64..40, 0u64..2_000, 0u64..600), 1..60),
    ) {
        let mut h = cascade::Cascade::new(T0);
        let mut now = T0;
        for (count, gap_ms, pause_min) in bursts {
            for _ in 0..count {
                now += gap_ms;
                h.add(now, 1_234);
                prop_assert!(h.len() <= TOTAL_SLOTS, "{} buckets", h.len());
                prop_assert!(h.bytes() <= 256 + TOTAL_SLOTS * 8, "{} bytes", h.bytes());
            }
            now += pause_min * MIN;
            h.advance(now);
            // After a pause the history holds at most one bucket per spend still
            // inside 72 h, and never more than the dense layout.
            prop_assert!(h.len() <= TOTAL_SLOTS);
        }
    }
}
