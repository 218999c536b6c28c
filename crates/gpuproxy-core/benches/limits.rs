//! Spend-window reserve + commit and GCRA check.

use std::hint::black_box;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use gpuproxy_core::clock::ManualClock;
use gpuproxy_core::limits::{Quota, RateLimiter, SpendWindows, WINDOW_COUNT};

fn windows(c: &mut Criterion) {
    let w = SpendWindows::default();
    for k in 0..WINDOW_COUNT {
        w.set_default_limit(k, Some(u64::MAX / 4));
    }
    let accounts: Vec<String> = (0..1000).map(|i| format!("acct-{i}")).collect();
    let mut group = c.benchmark_group("spend_windows");
    group.bench_function("reserve_commit/1_account", |b| {
        b.iter(|| {
            let r = w.reserve(black_box("acct-0"), 1_500).unwrap();
            r.commit(1_200);
        });
    });
    let mut i = 0usize;
    group.bench_function("reserve_commit/1000_accounts", |b| {
        b.iter(|| {
            i = (i + 1) % accounts.len();
            let r = w.reserve(&accounts[i], 1_500).unwrap();
            r.commit(1_200);
        });
    });
    group.bench_function("status/1_account", |b| {
        b.iter(|| black_box(w.status(black_box("acct-0"))));
    });
    dense(&mut group);
    group.finish();
}

/// An account with a full history (one spend per minute for 72 h, ~317 buckets) whose
/// clock moves 1 s per call: includes the ageing passes a busy account pays for.
fn dense(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    const MIN_MS: u64 = 60_000;
    let clock = Arc::new(ManualClock::new(1_750_000_123_457 * 1_000_000));
    let w = SpendWindows::new(clock.clone());
    for k in 0..WINDOW_COUNT {
        w.set_default_limit(k, Some(u64::MAX / 4));
    }
    for _ in 0..72 * 60 {
        w.record("dense", 5_000);
        clock.advance_millis(MIN_MS);
    }
    group.bench_function("reserve_commit/dense_account_1s_steps", |b| {
        b.iter(|| {
            clock.advance_millis(1_000);
            let r = w.reserve(black_box("dense"), 1_500).unwrap();
            r.commit(1_200);
        });
    });
}

fn gcra(c: &mut Criterion) {
    let rl = RateLimiter::new(Quota::new(1e9, 1_000_000).unwrap(), 1_000_000);
    let keys: Vec<String> = (0..10_000).map(|i| format!("key-{i}")).collect();
    let mut group = c.benchmark_group("gcra");
    group.bench_function("check/1_key", |b| {
        b.iter(|| black_box(rl.check(black_box("key-0"), 1)));
    });
    let mut i = 0usize;
    group.bench_function("check/10000_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(rl.check(&keys[i], 1))
        });
    });
    group.finish();
}

criterion_group!(benches, windows, gcra);
criterion_main!(benches);
