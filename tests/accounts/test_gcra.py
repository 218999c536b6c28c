from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from gpuproxy.accounts.ratelimit.gcra import GCRA_SCRIPT, PERIOD_US, gcra_step
from gpuproxy.accounts.ratelimit.local import CoreGcraLimiter
from gpuproxy.storage.kv import KeyValueStore


def test_burst_then_one_per_interval() -> None:
    limit = 60  # one per second, burst 60
    interval = PERIOD_US // limit
    tat, now = None, 10_000_000_000
    for i in range(limit):
        allowed, tat, remaining, retry, _ = gcra_step(tat, now, limit, limit)
        assert allowed
        assert retry == 0
        assert remaining == limit - 1 - i
    allowed, tat, remaining, retry, reset = gcra_step(tat, now, limit, limit)
    assert not allowed
    assert remaining == 0
    assert retry == interval  # exactly one emission interval until the next slot
    assert reset == limit * interval
    allowed, *_ = gcra_step(tat, now + retry - 1, limit, limit)
    assert not allowed
    allowed, *_ = gcra_step(tat, now + retry, limit, limit)
    assert allowed


@given(
    limit=st.integers(1, 10_000),
    burst=st.integers(1, 100),
    gaps=st.lists(st.integers(0, 5_000_000), max_size=60),
)
def test_never_more_than_burst_plus_rate(limit: int, burst: int, gaps: list[int]) -> None:
    """Over any run, allowed <= burst + elapsed / interval (the GCRA guarantee)."""
    interval = max(1, PERIOD_US // limit)
    tat, now, start, allowed_count = None, 1_000_000_000, 1_000_000_000, 0
    for gap in gaps:
        now += gap
        allowed, tat, _, retry, _ = gcra_step(tat, now, limit, burst)
        if allowed:
            allowed_count += 1
        else:
            assert retry > 0
    assert allowed_count <= burst + (now - start) // interval


async def test_lua_script_and_python_twin_agree(any_kv: KeyValueStore) -> None:
    """The Redis script and its in-memory twin give the same answers for a burst."""
    key = f"gpx:test:rl:{uuid.uuid4().hex}"
    answers = [await any_kv.run_script(GCRA_SCRIPT, [key], [30, 5, PERIOD_US]) for _ in range(7)]
    allowed = [int(a[0]) for a in answers]
    remaining = [int(a[1]) for a in answers]
    assert allowed == [1, 1, 1, 1, 1, 0, 0]
    assert remaining[:5] == [4, 3, 2, 1, 0]
    retry_us = int(answers[5][2])
    assert 1_000_000 < retry_us <= 2_000_000  # interval 2 s, minus the time the calls took
    assert await any_kv.ttl(key) is not None  # the bucket expires by itself


def test_local_limiter_keys_are_independent() -> None:
    limiter = CoreGcraLimiter()
    assert all(limiter.check("a", 60, 2).allowed for _ in range(2))
    denied = limiter.check("a", 60, 2)
    assert not denied.allowed
    assert denied.retry_after_s == 1
    assert limiter.check("b", 60, 2).allowed


def test_local_limiter_counts_remaining_like_the_shared_script() -> None:
    """The Rust limiter's decisions and headers match the GCRA arithmetic of the script."""
    limiter = CoreGcraLimiter()
    decisions = [limiter.check("k", 30, 5) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    assert 2_000 <= decisions[0].reset_after_ms <= 2_001  # one interval (2 s) ahead
    assert 10_000 - 50 <= decisions[4].reset_after_ms <= 10_001
    refused = decisions[5]
    assert 2_000 - 50 <= refused.retry_after_ms <= 2_000
    assert refused.retry_after_s == 2
    assert 10_000 - 50 <= refused.reset_after_ms <= 10_001


def test_local_limiter_memory_is_bounded() -> None:
    limiter = CoreGcraLimiter(max_keys=64)
    for i in range(1_000):
        limiter.check(f"k{i}", 1, 1)
    assert len(limiter) <= 64
