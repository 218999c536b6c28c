//! Selection cost per strategy and pool size (select + complete of the guard).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gpuproxy_core::balancer::{Backend, Pool, StrategyKind};

fn pool(kind: StrategyKind, n: usize) -> Pool {
    let pool = Pool::new(kind);
    for i in 0..n {
        pool.add(Backend::new(
            format!("gpu-{i}"),
            format!("10.0.{}.{}:8000", i / 250, i % 250),
        ))
        .unwrap();
    }
    pool
}

fn select(c: &mut Criterion) {
    let keys: Vec<String> = (0..1024).map(|i| format!("user-{i}")).collect();
    let mut group = c.benchmark_group("select");
    for kind in StrategyKind::ALL {
        for n in [2usize, 16, 1000] {
            let pool = pool(kind, n);
            let mut k = 0usize;
            group.bench_with_input(BenchmarkId::new(kind.name(), n), &n, |b, _| {
                b.iter(|| {
                    k = (k + 1) & 1023;
                    let g = pool.select(Some(keys[k].as_bytes())).unwrap();
                    black_box(g.backend_id());
                    g.complete(true, Duration::from_micros(900));
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);
