//! The Rust governance of one request on the data plane's hot path, end to end:
//! credential digest + key-cache lookup, GCRA with the X-RateLimit figures, a hold from the
//! user's spend allowance, balancer select + guard, completion, and the settlement.
//! (Goal: <= 2 us in total.)

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use gpuproxy_core::balancer::{Backend, Pool, StrategyKind};
use gpuproxy_core::gateway::allowance::Allowances;
use gpuproxy_core::gateway::principal::{digest, KeyCache, Lookup, Principal, RateLimit};
use gpuproxy_core::gateway::ratelimit;
use gpuproxy_core::gateway::usage::UsageRing;
use gpuproxy_core::limits::{Quota, RateLimiter};

fn governance(c: &mut Criterion) {
    let cache = KeyCache::new(200_000);
    for i in 0..10_000u32 {
        let p = Principal {
            user_id: format!("user-{i}").into(),
            api_key_id: Some(format!("key-{i}").into()),
            session_id: None,
            can_infer: true,
            priority: 0,
            rate_limits: vec![RateLimit {
                bucket: format!("k:key-{i}").into(),
                per_minute: 10_000_000,
            }],
            expires_at_ms: None,
        };
        cache.insert(
            digest(format!("gpx_key_{i:08}_secretsecretsecret").as_bytes()),
            Some(Arc::new(p)),
            Duration::from_secs(3600),
        );
    }
    let limiter = RateLimiter::new(Quota::new(1.0, 1).unwrap(), 100_000);
    let ring = UsageRing::new(1 << 20);
    let allowances = Allowances::new(Arc::clone(&ring));
    let user: Arc<str> = "user-4242".into();
    allowances.install(&user, 1, u64::MAX / 4, Duration::from_secs(3600), false);
    for (name, strategy) in [
        ("round_robin", StrategyKind::RoundRobin),
        ("p2c_ewma", StrategyKind::P2cEwma),
    ] {
        let pool = Pool::new(strategy);
        for b in 0..16 {
            pool.add(Backend::new(
                format!("w{b}"),
                format!("127.0.0.1:{}", 9000 + b),
            ))
            .unwrap();
        }
        let credential = b"gpx_key_00004242_secretsecretsecret";
        c.bench_function(&format!("gateway/governance/{name}_16"), |b| {
            b.iter(|| {
                let Lookup::Hit(p) =
                    cache.lookup(&digest(black_box(credential)), Instant::now(), 0)
                else {
                    panic!("cached")
                };
                let decision = ratelimit::check(&limiter, &p.rate_limits[0]);
                let hold = allowances
                    .try_hold(&p.user_id, 1_000, Instant::now())
                    .unwrap();
                let guard = pool.select(None).unwrap();
                guard.complete(true, Duration::from_micros(200));
                hold.settle(black_box(700));
                black_box(decision)
            });
        });
    }
}

criterion_group!(benches, governance);
criterion_main!(benches);
