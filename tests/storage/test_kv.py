from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from tests.helpers import unique

from gpuproxy.storage._kv_memory import MemoryStore
from gpuproxy.storage.kv import KeyValueStore, LocalState, Script


async def test_get_set_delete_ttl(any_kv: KeyValueStore) -> None:
    key = unique()
    assert await any_kv.get(key) is None
    assert await any_kv.set(key, b"v1", ttl=30)
    assert await any_kv.get(key) == b"v1"
    ttl = await any_kv.ttl(key)
    assert ttl is not None
    assert 0 < ttl <= 30
    assert not await any_kv.set(key, b"v2", only_if_absent=True)
    assert await any_kv.get(key) == b"v1"
    assert await any_kv.delete(key)
    assert not await any_kv.delete(key)


async def test_expiry(any_kv: KeyValueStore) -> None:
    key = unique()
    await any_kv.set(key, b"x", ttl=0.05)
    await asyncio.sleep(0.15)
    assert await any_kv.get(key) is None


async def test_incr_is_atomic_under_concurrency(any_kv: KeyValueStore) -> None:
    key = unique()
    results = await asyncio.gather(*(any_kv.incr(key, 2, ttl=30) for _ in range(50)))
    assert sorted(results) == list(range(2, 102, 2))
    assert await any_kv.get(key) == b"100"


def _take_local(state: LocalState, keys: Sequence[str], args: Sequence[Any]) -> int:
    current = int(state.get_now(keys[0]) or b"0")
    cost, limit = int(args[0]), int(args[1])
    if current + cost > limit:
        return -1
    state.set_now(keys[0], str(current + cost).encode(), state.ttl_now(keys[0]))
    return current + cost


TAKE = Script(
    lua="""
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if current + cost > limit then return -1 end
redis.call('SET', KEYS[1], current + cost, 'KEEPTTL')
return current + cost
""",
    local=_take_local,
)


async def test_scripts_behave_the_same_everywhere(any_kv: KeyValueStore) -> None:
    key = unique()
    outcomes = await asyncio.gather(*(any_kv.run_script(TAKE, [key], [3, 10]) for _ in range(5)))
    assert sorted(int(o) for o in outcomes) == [-1, -1, 3, 6, 9]


async def test_pubsub_delivers_to_subscribers(any_kv: KeyValueStore) -> None:
    channel = unique("chan")
    received: list[bytes] = []
    ready = asyncio.Event()

    async def listen() -> None:
        stream = any_kv.subscribe(channel)
        iterator = stream.__aiter__()
        first = asyncio.ensure_future(iterator.__anext__())
        ready.set()
        received.append(await first)
        received.append(await iterator.__anext__())
        await stream.aclose()  # type: ignore[attr-defined]

    task = asyncio.create_task(listen())
    await ready.wait()
    for _ in range(100):  # bounded: publish until the subscription is live
        await asyncio.sleep(0.02)
        await any_kv.publish(channel, b"hello")
        if received:
            break
    await any_kv.publish(channel, b"second")
    await asyncio.wait_for(task, 5)
    assert received[0] == b"hello"
    assert received[1] in {b"hello", b"second"}


async def test_memory_store_sweeps_expired_keys() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    for i in range(5000):
        await store.set(f"k{i}", b"x", ttl=1)
    now[0] = 2.0
    for i in range(5000):
        await store.set(f"n{i}", b"y")
    assert len(store._data) < 10_000  # the sweep on writes dropped expired keys
    assert await store.get("k1") is None
