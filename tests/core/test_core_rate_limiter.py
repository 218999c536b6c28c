"""GCRA rate limiting through the binding."""

from __future__ import annotations

import pytest

from gpuproxy import _core
from gpuproxy.exceptions import RateLimited


def test_burst_then_retry_after() -> None:
    clock = _core.ManualClock(0)
    rl = _core.RateLimiter(10.0, 5, clock=clock)
    assert (rl.rate_per_second, rl.burst) == (10.0, 5)
    assert [rl.check("k") for _ in range(5)] == [0] * 5
    assert rl.check("k") == 100
    with pytest.raises(RateLimited) as exc:
        rl.acquire("k")
    assert exc.value.retry_after_ms == 100
    clock.advance_ms(100)
    rl.acquire("k")
    assert rl.check("other", 5) == 0
    assert len(rl) == 2
    clock.advance_ms(10_000)
    assert rl.purge_expired() == 2


def test_per_call_quota_and_cost() -> None:
    rl = _core.RateLimiter(1.0, 1, clock=_core.ManualClock(0))
    assert rl.check("plan", 3, rate_per_second=100.0, burst=3) == 0
    assert rl.check("plan", 1, rate_per_second=100.0, burst=3) == 10
    with pytest.raises(ValueError, match="exceeds the burst"):
        rl.check("k", 2)
    with pytest.raises(ValueError, match="rate"):
        _core.RateLimiter(0.0, 1)
    with pytest.raises(ValueError, match="burst"):
        _core.RateLimiter(1.0, 0)


def test_memory_is_bounded() -> None:
    rl = _core.RateLimiter(1.0, 10, max_keys=64, clock=_core.ManualClock(0))
    for i in range(5_000):
        assert rl.check(f"k{i}") == 0
    assert len(rl) <= 64
