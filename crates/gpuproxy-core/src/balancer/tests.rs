//! Unit tests of the pool and every strategy.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::tracker::EwmaParams;

pub(crate) fn pool_with(kind: StrategyKind, n: usize) -> (Pool, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000_000));
    let pool = Pool::with_options(PoolOptions {
        strategy: kind,
        clock: clock.clone(),
        ewma: EwmaParams::default(),
    });
    for i in 0..n {
        pool.add(Backend::new(format!("b{i}"), format!("10.0.0.{i}:8000")))
            .unwrap();
    }
    (pool, clock)
}

#[test]
fn pool_is_send_sync_and_guard_is_static() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Pool>();
    assert_send_sync::<ConnectionGuardAlias>();
}

type ConnectionGuardAlias = crate::tracker::ConnectionGuard;

#[test]
fn every_strategy_selects_and_releases() {
    for kind in StrategyKind::ALL {
        let (pool, _) = pool_with(kind, 3);
        let mut guards = Vec::new();
        for k in 0..9u8 {
            guards.push(
                pool.select(Some(&[k]))
                    .unwrap_or_else(|e| panic!("{kind}: {e}")),
            );
        }
        assert_eq!(pool.snapshot().in_flight, 9, "{kind}");
        guards.clear();
        assert_eq!(pool.snapshot().in_flight, 0, "{kind}");
        for s in pool.backend_snapshots() {
            assert_eq!(s.in_flight, 0);
            assert_eq!(s.cancelled, s.total, "{kind}");
        }
    }
}

#[test]
fn empty_and_unhealthy_pools_say_no_healthy_backend() {
    let (pool, _) = pool_with(StrategyKind::P2cEwma, 0);
    assert_eq!(
        pool.select(None).unwrap_err(),
        SelectError::NoHealthyBackend
    );
    pool.add(Backend::new("a", "x:1")).unwrap();
    pool.set_healthy("a", false).unwrap();
    assert_eq!(
        pool.select(None).unwrap_err(),
        SelectError::NoHealthyBackend
    );
    pool.set_healthy("a", true).unwrap();
    pool.drain("a").unwrap();
    assert_eq!(
        pool.select(None).unwrap_err(),
        SelectError::NoHealthyBackend
    );
    assert_eq!(pool.snapshot().routable, 0);
    pool.undrain("a").unwrap();
    assert_eq!(pool.snapshot().routable, 1);
    assert!(pool.select(None).is_ok());
}

#[test]
fn max_concurrency_gives_saturated_not_error() {
    for kind in StrategyKind::ALL {
        let (pool, _) = pool_with(kind, 0);
        pool.add(Backend::new("a", "x:1").with_max_concurrency(2))
            .unwrap();
        pool.add(Backend::new("b", "x:2").with_max_concurrency(1))
            .unwrap();
        let g: Vec<_> = (0..3).map(|_| pool.select(Some(b"k")).unwrap()).collect();
        let err = pool.select(Some(b"k")).unwrap_err();
        assert!(err.is_saturated(), "{kind}");
        drop(g);
        assert!(pool.select(None).is_ok());
        assert_eq!(pool.snapshot().saturated, 1);
    }
}

#[test]
fn select_excluding_never_returns_the_excluded() {
    for kind in StrategyKind::ALL {
        let (pool, _) = pool_with(kind, 2);
        for _ in 0..20 {
            let g = pool.select_excluding(Some(b"user"), "b0").unwrap();
            assert_eq!(g.backend_id(), "b1", "{kind}");
        }
        pool.remove("b1").unwrap();
        assert_eq!(
            pool.select_excluding(None, "b0").unwrap_err(),
            SelectError::NoHealthyBackend
        );
    }
}

#[test]
fn membership_errors() {
    let (pool, _) = pool_with(StrategyKind::RoundRobin, 1);
    assert_eq!(
        pool.add(Backend::new("b0", "y:1")).unwrap_err(),
        BalancerError::DuplicateBackend("b0".into())
    );
    assert!(matches!(
        pool.remove("nope"),
        Err(BalancerError::BackendNotFound(_))
    ));
    assert!(pool.set_healthy("nope", true).is_err());
    assert!(pool.add(Backend::new("", "y:1")).is_err());
    assert!(pool.add(Backend::new("z", "y:1").with_weight(0)).is_err());
    assert!(pool.set_weight("b0", Some(0)).is_err());
}

#[test]
fn removed_backend_guard_still_completes() {
    let (pool, _) = pool_with(StrategyKind::RoundRobin, 1);
    let g = pool.select(None).unwrap();
    let entry = pool.remove("b0").unwrap();
    assert_eq!(entry.stats().in_flight(), 1);
    g.complete(true, Duration::from_millis(5));
    assert_eq!(entry.stats().in_flight(), 0);
    assert_eq!(entry.stats().ok(), 1);
    assert_eq!(pool.snapshot().in_flight, 0);
}

#[test]
fn complete_records_outcome_and_latency() {
    let (pool, clock) = pool_with(StrategyKind::RoundRobin, 1);
    let g = pool.select(None).unwrap();
    clock.advance_millis(300);
    g.complete(false, Duration::from_millis(300));
    let g = pool.select(None).unwrap();
    clock.advance_millis(40);
    g.finish(crate::tracker::Outcome::Ok);
    let s = pool.backend_snapshot("b0").unwrap();
    assert_eq!((s.total, s.ok, s.errors, s.cancelled), (2, 1, 1, 0));
    assert_eq!(s.mean_latency_nanos, 170_000_000);
    // Peak taken at once; the later fast sample pulls it down only by 1 - exp(-40ms/10s).
    let e = s.ewma_latency_nanos;
    assert!((290_000_000..300_000_000).contains(&e), "{e}");
}

#[test]
fn round_robin_skips_unhealthy_without_doubling_neighbour() {
    let (pool, _) = pool_with(StrategyKind::RoundRobin, 3);
    pool.set_healthy("b1", false).unwrap();
    let ids: Vec<String> = (0..6)
        .map(|_| pool.select(None).unwrap().backend_id().to_owned())
        .collect();
    assert_eq!(ids, ["b0", "b2", "b0", "b2", "b0", "b2"]);
}

#[test]
fn smooth_wrr_interleaves() {
    let (pool, _) = pool_with(StrategyKind::WeightedRoundRobin, 0);
    pool.add(Backend::new("a", "x:1").with_weight(5)).unwrap();
    pool.add(Backend::new("b", "x:2").with_weight(1)).unwrap();
    pool.add(Backend::new("c", "x:3").with_weight(1)).unwrap();
    let seq: String = (0..7)
        .map(|_| pool.select(None).unwrap().backend_id().to_owned())
        .collect();
    assert_eq!(seq, "aabacaa");
}

#[test]
fn wrr_default_weights_follow_gpu_specs() {
    let (pool, _) = pool_with(StrategyKind::WeightedRoundRobin, 0);
    let gpu = |m: &str| BackendLabels {
        gpu_model: Some(m.into()),
        ..BackendLabels::default()
    };
    pool.add(Backend::new("h100", "x:1").with_labels(gpu("H100")))
        .unwrap();
    pool.add(Backend::new("t4", "x:2").with_labels(gpu("T4")))
        .unwrap();
    let mut h = 0;
    for _ in 0..160 {
        if pool.select(None).unwrap().backend_id() == "h100" {
            h += 1;
        }
    }
    assert_eq!(h, 150);
    pool.set_weight("h100", Some(1)).unwrap();
    assert_eq!(pool.backend_snapshot("h100").unwrap().weight, 1);
}

#[test]
fn least_connections_ties_rotate() {
    let (pool, _) = pool_with(StrategyKind::LeastConnections, 3);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        seen.insert(pool.select(None).unwrap().backend_id().to_owned());
    }
    assert_eq!(seen.len(), 3);
}

#[test]
fn equal_weighted_evens_out_totals() {
    let (pool, _) = pool_with(StrategyKind::EqualWeighted, 2);
    for _ in 0..10 {
        pool.select(None)
            .unwrap()
            .complete(true, Duration::from_millis(1));
    }
    pool.add(Backend::new("late", "x:9")).unwrap();
    let ids: Vec<String> = (0..5)
        .map(|_| pool.select(None).unwrap().backend_id().to_owned())
        .collect();
    assert!(ids.iter().all(|i| i == "late"), "{ids:?}");
}

#[test]
fn latency_strategies_avoid_the_slow_backend() {
    for kind in [StrategyKind::LeastResponseTime, StrategyKind::P2cEwma] {
        let (pool, _) = pool_with(kind, 2);
        // Teach b0 to be slow and b1 to be fast (exclusion targets each one).
        let g = pool.select_excluding(None, "b1").unwrap();
        g.complete(true, Duration::from_millis(900));
        let g = pool.select_excluding(None, "b0").unwrap();
        g.complete(true, Duration::from_millis(5));
        for _ in 0..50 {
            let g = pool.select(None).unwrap();
            assert_eq!(g.backend_id(), "b1", "{kind}");
            g.complete(true, Duration::from_millis(5));
        }
    }
}

#[test]
fn consistent_hash_is_sticky_and_spreads() {
    let (pool, _) = pool_with(StrategyKind::ConsistentHash, 8);
    let first = pool
        .select(Some(b"session-42"))
        .unwrap()
        .backend_id()
        .to_owned();
    for _ in 0..20 {
        assert_eq!(
            pool.select(Some(b"session-42")).unwrap().backend_id(),
            first
        );
    }
    let mut seen = std::collections::HashSet::new();
    for k in 0..200u32 {
        seen.insert(
            pool.select(Some(&k.to_le_bytes()))
                .unwrap()
                .backend_id()
                .to_owned(),
        );
    }
    assert_eq!(seen.len(), 8);
}

#[test]
fn strategy_switch_keeps_statistics() {
    let (pool, _) = pool_with(StrategyKind::RoundRobin, 2);
    let held = pool.select(None).unwrap();
    pool.select(None)
        .unwrap()
        .complete(false, Duration::from_millis(1));
    pool.set_strategy(StrategyKind::LeastConnections);
    assert_eq!(pool.strategy(), StrategyKind::LeastConnections);
    let snap = pool.snapshot();
    assert_eq!(
        (snap.in_flight, snap.total, snap.strategy),
        (1, 2, "least_connections")
    );
    // The held backend has one in flight; least_connections picks the other.
    let other = pool.select(None).unwrap();
    assert_ne!(other.backend_id(), held.backend_id());
    assert_eq!(
        pool.backend_snapshots()
            .iter()
            .map(|s| s.errors)
            .sum::<u64>(),
        1
    );
}

#[test]
fn concurrent_membership_changes_and_selects() {
    let (pool, _) = pool_with(StrategyKind::P2cEwma, 4);
    let pool = Arc::new(pool);
    std::thread::scope(|s| {
        for t in 0..4 {
            let pool = pool.clone();
            s.spawn(move || {
                for i in 0..2_000 {
                    match pool.select(Some(&[t, (i % 7) as u8])) {
                        Ok(g) => g.complete(i % 3 != 0, Duration::from_micros(i)),
                        Err(e) => assert!(!e.is_saturated()),
                    }
                }
            });
        }
        let pool = pool.clone();
        s.spawn(move || {
            for i in 0..300 {
                let id = format!("x{}", i % 5);
                let _ = pool.add(Backend::new(id.clone(), "y:1"));
                let _ = pool.set_healthy("b1", i % 2 == 0);
                let _ = pool.drain("b2");
                let _ = pool.undrain("b2");
                let _ = pool.remove(&id);
                if i % 50 == 0 {
                    pool.set_strategy(StrategyKind::ALL[i % 7]);
                }
            }
        });
    });
    assert_eq!(pool.snapshot().in_flight, 0);
    pool.set_healthy("b1", true).unwrap();
    assert_eq!(pool.snapshot().routable, pool.len());
}
