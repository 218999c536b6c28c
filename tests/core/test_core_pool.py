"""The load balancer through the binding: every strategy, guards, errors, snapshots."""

from __future__ import annotations

import gc
from collections import Counter

import pytest

from gpuproxy import _core
from gpuproxy.exceptions import BackendNotFound, NoBackendAvailable


def make_pool(strategy: str, n: int = 3, max_concurrency: int | None = None) -> _core.Pool:
    pool = _core.Pool(strategy, clock=_core.ManualClock(1_000))
    for i in range(n):
        pool.add_backend(f"b{i}", f"127.0.0.1:{8000 + i}", max_concurrency=max_concurrency)
    return pool


def test_constants() -> None:
    assert _core.STRATEGIES == (
        "round_robin",
        "equal_weighted",
        "weighted_round_robin",
        "least_connections",
        "least_response_time",
        "p2c_ewma",
        "consistent_hash",
    )
    assert _core.DEFAULT_STRATEGY == "p2c_ewma"
    assert _core.Pool().strategy == "p2c_ewma"


@pytest.mark.parametrize("strategy", _core.STRATEGIES)
def test_every_strategy_selects_and_releases(strategy: str) -> None:
    pool = make_pool(strategy)
    guards = [pool.select(f"user-{i}") for i in range(30)]
    assert all(g is not None for g in guards)
    assert pool.snapshot().in_flight == 30
    seen = Counter(g.backend_id for g in guards if g is not None)
    if strategy != "consistent_hash":
        assert set(seen) == {"b0", "b1", "b2"}
    for g in guards:
        assert g is not None
        g.complete(ok=True, latency_ms=5.0)
    snap = pool.snapshot()
    assert (snap.in_flight, snap.total, snap.strategy) == (0, 30, strategy)
    assert sum(b.ok for b in pool.backends()) == 30


def test_round_robin_order_and_unhealthy_skip() -> None:
    pool = make_pool("round_robin")
    pool.set_healthy("b1", False)
    order = []
    for _ in range(4):
        g = pool.select()
        assert g is not None
        order.append(g.backend_id)
        g.release()
    assert order == ["b0", "b2", "b0", "b2"]


def test_weighted_round_robin_uses_gpu_specs_and_overrides() -> None:
    pool = _core.Pool("weighted_round_robin")
    pool.add_backend("big", "h:1", gpu_model="NVIDIA H100 80GB")
    pool.add_backend("small", "h:2", gpu_model="Tesla T4")
    assert (pool.backend("big").weight, pool.backend("small").weight) == (15, 1)
    picks: Counter[str] = Counter()
    for _ in range(16):
        g = pool.select()
        assert g is not None
        picks[g.backend_id] += 1
        g.complete()
    assert picks == {"big": 15, "small": 1}
    pool.set_weight("big", 1)
    assert pool.backend("big").weight == 1
    pool.set_weight("big", None)
    assert pool.backend("big").weight == 15


def test_least_connections_prefers_idle_backend() -> None:
    pool = make_pool("least_connections", n=2)
    held = pool.select()
    assert held is not None
    for _ in range(5):
        g = pool.select()
        assert g is not None
        assert g.backend_id != held.backend_id
        g.complete()


def test_latency_strategies_avoid_slow_backend() -> None:
    for strategy in ("least_response_time", "p2c_ewma"):
        pool = make_pool(strategy, n=2)
        for bid, other, ms in (("b0", "b1", 900.0), ("b1", "b0", 5.0)):
            # Teach each backend its latency (excluding the other targets it).
            g = pool.select(exclude=other)
            assert g is not None
            assert g.backend_id == bid
            g.complete(latency_ms=ms)
        for _ in range(20):
            g = pool.select()
            assert g is not None
            assert g.backend_id == "b1", strategy
            g.complete(latency_ms=5.0)


def test_consistent_hash_affinity_with_str_and_bytes() -> None:
    pool = make_pool("consistent_hash", n=5)
    first = pool.select("session-1")
    assert first is not None
    first.complete()
    for key in ("session-1", b"session-1"):
        g = pool.select(key)
        assert g is not None
        assert g.backend_id == first.backend_id
        g.complete()
    with pytest.raises(ValueError, match="affinity_key"):
        pool.select(42)  # type: ignore[arg-type]


def test_saturated_returns_none_and_unhealthy_raises() -> None:
    pool = make_pool("p2c_ewma", n=2, max_concurrency=1)
    a, b = pool.select(), pool.select()
    assert a is not None
    assert b is not None
    assert pool.select() is None
    assert pool.snapshot().saturated == 1
    a.release()
    assert pool.select() is not None  # the slot came back (returned guard is dropped)
    pool.set_healthy("b0", False)
    pool.drain("b1")
    with pytest.raises(NoBackendAvailable):
        pool.select()
    pool.undrain("b1")
    pool.set_healthy("b0", True)
    assert pool.snapshot().routable == 2


def test_select_excluding_for_retry() -> None:
    pool = make_pool("round_robin", n=2)
    for _ in range(4):
        g = pool.select(exclude="b0")
        assert g is not None
        assert g.backend_id == "b1"
        g.release()
    pool.remove_backend("b1")
    with pytest.raises(NoBackendAvailable):
        pool.select(exclude="b0")


def test_guard_context_manager_and_gc_release() -> None:
    pool = make_pool("round_robin", n=1)
    g = pool.select()
    assert g is not None
    with g:
        assert not g.done
    assert g.done
    g.complete()  # a second completion does nothing
    with pytest.raises(RuntimeError), pool.select() as g2:
        raise RuntimeError("handler failed")
    assert g2.done
    pool.select()  # dropped at once
    g3 = pool.select()
    del g3
    gc.collect()
    snap = pool.backend("b0")
    assert (snap.in_flight, snap.total, snap.ok, snap.errors, snap.cancelled) == (0, 4, 1, 1, 2)


def test_membership_errors() -> None:
    pool = make_pool("round_robin", n=1)
    with pytest.raises(ValueError, match="already"):
        pool.add_backend("b0", "x:1")
    with pytest.raises(BackendNotFound):
        pool.remove_backend("nope")
    with pytest.raises(KeyError):
        pool.drain("nope")
    with pytest.raises(ValueError, match="weight"):
        pool.add_backend("w", "x:1", weight=0)
    with pytest.raises(ValueError, match="price_per_hour_micros"):
        pool.add_backend("p", "x:1", price_per_hour_micros=-1)
    with pytest.raises(ValueError, match="unknown strategy"):
        _core.Pool("fastest")
    with pytest.raises(ValueError, match="unknown strategy"):
        pool.strategy = "fastest"
    with pytest.raises(ValueError, match="ewma_tau_ms"):
        _core.Pool(ewma_tau_ms=0)
    assert "b0" in pool
    assert "zz" not in pool
    assert 3 not in pool
    assert len(pool) == 1
    assert pool.ids() == ["b0"]


def test_strategy_switch_keeps_statistics() -> None:
    pool = make_pool("round_robin", n=2)
    held = pool.select()
    assert held is not None
    pool.strategy = "least_connections"
    assert pool.strategy == "least_connections"
    assert pool.snapshot().in_flight == 1
    g = pool.select()
    assert g is not None
    assert g.backend_id != held.backend_id


def test_snapshot_dicts() -> None:
    pool = _core.Pool("round_robin")
    pool.add_backend(
        "a",
        "h:1",
        gpu_model="A100",
        gpu_count=2,
        vram_gb=80,
        price_per_hour_micros=1_500_000,
        provider="vast.ai",
        region="eu",
        max_concurrency=4,
    )
    d = pool.backend("a").to_dict()
    assert d["gpu_model"] == "A100"
    assert d["gpu_count"] == 2
    assert d["max_concurrency"] == 4
    assert d["weight"] == 10
    assert d["provider"] == "vast.ai"
    assert d["healthy"] is True
    assert pool.snapshot().to_dict()["backends"] == 1
    assert 'BackendSnapshot(id="a"' in repr(pool.backend("a"))
