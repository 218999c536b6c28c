//! Properties of the strategies (proptest).

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;

use super::tests::pool_with;
use super::*;

fn pick_ids(pool: &Pool, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| pool.select(None).unwrap().backend_id().to_owned())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Round robin: in every contiguous window of picks, the healthy backends' counts
    /// differ by at most one (and unhealthy ones get nothing).
    #[test]
    fn round_robin_is_even_over_every_window(
        n in 1usize..8, unhealthy in prop::collection::vec(any::<bool>(), 8), picks in 1usize..50,
    ) {
        let (pool, _) = pool_with(StrategyKind::RoundRobin, n);
        let healthy: Vec<String> = (0..n)
            .filter(|&i| !(unhealthy[i] && i > 0))
            .map(|i| format!("b{i}"))
            .collect();
        for (i, &down) in unhealthy.iter().enumerate().take(n).skip(1) {
            if down {
                pool.set_healthy(&format!("b{i}"), false).unwrap();
            }
        }
        let seq = pick_ids(&pool, picks);
        for a in 0..seq.len() {
            let mut counts: HashMap<&str, usize> = healthy.iter().map(|h| (h.as_str(), 0)).collect();
            for id in &seq[a..] {
                *counts.get_mut(id.as_str()).expect("picked an unhealthy backend") += 1;
                let max = counts.values().max().unwrap();
                let min = counts.values().min().unwrap();
                prop_assert!(max - min <= 1, "{seq:?}");
            }
        }
    }

    /// Smooth WRR: after every prefix of picks each backend's count is within 1 of its
    /// weighted share, and every full cycle gives exactly the weights.
    #[test]
    fn smooth_wrr_tracks_weights_within_one(weights in prop::collection::vec(1u32..12, 1..6)) {
        let (pool, _) = pool_with(StrategyKind::WeightedRoundRobin, 0);
        for (i, &w) in weights.iter().enumerate() {
            pool.add(Backend::new(format!("b{i}"), "x:1").with_weight(w)).unwrap();
        }
        let total: u32 = weights.iter().sum();
        let seq = pick_ids(&pool, 2 * total as usize);
        let mut counts = vec![0f64; weights.len()];
        for (t, id) in seq.iter().enumerate() {
            counts[id[1..].parse::<usize>().unwrap()] += 1.0;
            for (i, &w) in weights.iter().enumerate() {
                let ideal = (t + 1) as f64 * f64::from(w) / f64::from(total);
                prop_assert!((counts[i] - ideal).abs() < 1.0, "b{i} {} vs {ideal} {seq:?}", counts[i]);
            }
            if (t + 1) % total as usize == 0 {
                let cycles = ((t + 1) / total as usize) as f64;
                for (i, &w) in weights.iter().enumerate() {
                    prop_assert!((counts[i] - cycles * f64::from(w)).abs() < 1e-9);
                }
            }
        }
    }

    /// Least connections never picks a backend with more in flight than another
    /// eligible one, whatever mix of holds, completions and limits.
    #[test]
    fn least_connections_picks_a_minimum(
        n in 1usize..6,
        ops in prop::collection::vec((any::<bool>(), any::<prop::sample::Index>()), 1..80),
        limits in prop::collection::vec(1u32..5, 6),
    ) {
        let (pool, _) = pool_with(StrategyKind::LeastConnections, 0);
        for (i, &max) in limits.iter().enumerate().take(n) {
            pool.add(Backend::new(format!("b{i}"), "x:1").with_max_concurrency(max)).unwrap();
        }
        let mut held = Vec::new();
        for (select, which) in ops {
            if select || held.is_empty() {
                let before: Vec<(String, u32, u32)> = pool.backend_snapshots().into_iter()
                    .map(|s| (s.id, s.in_flight, s.max_concurrency.unwrap())).collect();
                let min = before.iter().filter(|b| b.1 < b.2).map(|b| b.1).min();
                match pool.select(None) {
                    Ok(g) => {
                        let chosen = before.iter().find(|b| b.0 == g.backend_id()).unwrap();
                        prop_assert_eq!(Some(chosen.1), min);
                        held.push(g);
                    }
                    Err(e) => {
                        prop_assert!(e.is_saturated());
                        prop_assert_eq!(min, None);
                    }
                }
            } else {
                held.swap_remove(which.index(held.len())).complete(true, Duration::ZERO);
            }
        }
    }

    /// Bounded-load consistent hashing: a request is only ever placed on a backend that
    /// then holds at most ceil(1.25 x mean). (Departures can leave a backend above the
    /// new mean until its requests finish; requests are never moved.)
    #[test]
    fn consistent_hash_bounds_loads(
        n in 1usize..10,
        keys in prop::collection::vec(0u8..6, 1..120),
        releases in prop::collection::vec(any::<bool>(), 120),
    ) {
        let (pool, _) = pool_with(StrategyKind::ConsistentHash, n);
        let mut held = Vec::new();
        let mut no_release_max = 0;
        for (i, k) in keys.iter().enumerate() {
            let g = pool.select(Some(&[*k])).unwrap();
            let total = held.len() as u64 + 1;
            let cap = (total * 5).div_ceil(4 * n as u64);
            let load = g.backend().stats().in_flight();
            prop_assert!(u64::from(load) <= cap, "{load} > {cap}");
            held.push(g);
            if releases[i] && held.len() > 1 {
                held.remove(0);
            } else {
                no_release_max = no_release_max.max(load);
            }
        }
        // Without departures the bound holds for every backend at every moment.
        if releases.iter().take(keys.len()).all(|r| !r) {
            let cap = (keys.len() as u64 * 5).div_ceil(4 * n as u64);
            prop_assert!(u64::from(no_release_max) <= cap);
        }
    }

    /// Guards always release: completed, released, dropped, or dropped by a panic.
    #[test]
    fn guards_always_release(
        kind in 0usize..7,
        ops in prop::collection::vec(0u8..5, 1..60),
    ) {
        let (pool, _) = pool_with(StrategyKind::ALL[kind], 3);
        let mut held = Vec::new();
        for op in ops {
            match op {
                0 | 1 => held.extend(pool.select(Some(&[op])).ok()),
                2 => if let Some(g) = held.pop() { g.complete(op % 2 == 0, Duration::from_millis(3)) },
                3 => if let Some(g) = held.pop() { g.release() },
                _ => if let Some(g) = held.pop() {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                        let _g = g;
                        panic!("handler panicked");
                    }));
                    prop_assert!(r.is_err());
                },
            }
            prop_assert_eq!(pool.snapshot().in_flight, held.len() as u64);
        }
        held.clear();
        prop_assert_eq!(pool.snapshot().in_flight, 0);
        for s in pool.backend_snapshots() {
            prop_assert_eq!(s.in_flight, 0);
            prop_assert_eq!(s.total, s.ok + s.errors + s.cancelled);
        }
    }
}
