from __future__ import annotations

import uuid

import pytest

from gpuproxy.accounts.errors import LoginThrottled
from gpuproxy.accounts.throttle import LoginThrottle
from gpuproxy.storage._kv_redis import RedisStore
from gpuproxy.storage.kv import KeyValueStore


def _email() -> str:
    return f"{uuid.uuid4().hex}@example.com"


async def test_per_account_limit(any_kv: KeyValueStore) -> None:
    throttle = LoginThrottle(any_kv, max_per_account=3, max_per_ip=100, window_s=60)
    email, ip = _email(), uuid.uuid4().hex
    for _ in range(3):
        await throttle.attempt(email, ip)
    with pytest.raises(LoginThrottled) as caught:
        await throttle.attempt(email, ip)
    assert 1 <= caught.value.retry_after_s <= 61
    await throttle.attempt(_email(), ip)  # another account from the same IP is fine


async def test_per_ip_limit_across_accounts(any_kv: KeyValueStore) -> None:
    throttle = LoginThrottle(any_kv, max_per_account=100, max_per_ip=4, window_s=60)
    ip = uuid.uuid4().hex
    for _ in range(4):
        await throttle.attempt(_email(), ip)
    with pytest.raises(LoginThrottled):
        await throttle.attempt(_email(), ip)


async def test_success_clears_the_account(any_kv: KeyValueStore) -> None:
    throttle = LoginThrottle(any_kv, max_per_account=2, max_per_ip=100, window_s=60)
    email, ip = _email(), uuid.uuid4().hex
    await throttle.attempt(email, ip)
    await throttle.attempt(email, ip)
    await throttle.succeeded(email, ip)
    await throttle.attempt(email, ip)
    await throttle.attempt(email, ip)
    with pytest.raises(LoginThrottled):
        await throttle.attempt(email, ip)


@pytest.mark.redis
async def test_counts_locally_when_redis_is_down() -> None:
    dead = await RedisStore.connect("redis://127.0.0.1:1/0")
    try:
        throttle = LoginThrottle(dead, max_per_account=2, max_per_ip=100, window_s=60)
        email = _email()
        await throttle.attempt(email, "ip")
        await throttle.attempt(email, "ip")
        with pytest.raises(LoginThrottled):
            await throttle.attempt(email, "ip")
    finally:
        await dead.close()
