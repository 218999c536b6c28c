from __future__ import annotations

import logging
import uuid

import pytest

from gpuproxy.accounts.principal import Principal
from gpuproxy.accounts.ratelimit import RateLimiter
from gpuproxy.storage._kv_redis import RedisStore
from gpuproxy.storage.kv import KeyValueStore


def _principal(
    limit: int | None = None,
    key_limit: int | None = None,
    user_id: str | None = None,
) -> Principal:
    """A caller; with `key_limit` an API key of its own (a fresh key id each call)."""
    return Principal(
        user_id=user_id or uuid.uuid4().hex,
        email="x@example.com",
        rate_limit_per_minute=limit,
        api_key_id=None if key_limit is None else "k" + uuid.uuid4().hex,
        key_rate_limit_per_minute=key_limit,
    )


async def test_default_limit_and_unlimited(memory_kv: KeyValueStore) -> None:
    limiter = RateLimiter(memory_kv, default_per_minute=3)
    caller = _principal()
    decisions = [await limiter.check(caller) for _ in range(4)]
    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    assert decisions[-1] is not None
    assert decisions[-1].retry_after_s == 20
    assert await RateLimiter(memory_kv, default_per_minute=0).check(caller) is None


async def test_a_tighter_key_limit_applies_on_top_of_the_user_limit(
    memory_kv: KeyValueStore,
) -> None:
    limiter = RateLimiter(memory_kv, default_per_minute=1000)
    key_caller = _principal(key_limit=2)
    results = [(await limiter.check(key_caller)) for _ in range(3)]
    assert [r.allowed for r in results if r] == [True, True, False]
    assert results[0] is not None
    assert results[0].limit == 2


async def test_all_keys_of_a_user_share_the_user_limit(memory_kv: KeyValueStore) -> None:
    """Before, a key with a limit of its own counted only in its own bucket: ten keys of
    1,000/min each gave a user limited to 3/min 10,000 requests a minute."""
    limiter = RateLimiter(memory_kv, default_per_minute=1000)
    user = uuid.uuid4().hex
    keys = [_principal(limit=3, key_limit=1_000_000, user_id=user) for _ in range(3)]
    answers = []
    for key in keys:
        for _ in range(2):
            decision = await limiter.check(key)
            assert decision is not None
            answers.append(decision.allowed)
    assert answers == [True, True, True, False, False, False]
    assert limiter.buckets(keys[0]) == [(f"u:{user}", 3)], "a looser key limit adds nothing"


@pytest.mark.redis
async def test_redis_count_is_shared_by_every_limiter(
    redis_kv: KeyValueStore, redis_url: str
) -> None:
    other_store = await RedisStore.connect(redis_url)
    try:
        first = RateLimiter(redis_kv, default_per_minute=4)
        second = RateLimiter(other_store, default_per_minute=4)  # another worker/instance
        caller = _principal()
        answers = []
        for limiter in (first, second, first, second, first, second):
            decision = await limiter.check(caller)
            assert decision is not None
            answers.append(decision.allowed)
        assert answers == [True, True, True, True, False, False]
        assert not first.degraded
    finally:
        await other_store.close()


@pytest.mark.redis
async def test_redis_down_falls_back_to_local_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = await RedisStore.connect("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        limiter = RateLimiter(dead, default_per_minute=2)
        caller = _principal()
        with caplog.at_level(logging.WARNING):
            answers = [await limiter.check(caller) for _ in range(3)]
        assert [a.allowed for a in answers if a] == [True, True, False]
        assert limiter.degraded
        warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(warnings) == 1  # logged once per outage, not per request
    finally:
        await dead.close()
