"""The admission queue: priority order, FIFO within a priority, deadlines, bounds, hand-over."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from gpuproxy.gateway.admission import AdmissionQueue, AdmissionRejected


class Slots:
    """A fake route with `free` slots; acquire returns a token, release frees it."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.issued = 0

    def try_acquire(self) -> int | None:
        if self.free <= 0:
            return None
        self.free -= 1
        self.issued += 1
        return self.issued

    def release(self, queue: AdmissionQueue[int], key: Hashable) -> None:
        self.free += 1
        queue.notify(key)


async def test_fast_path_takes_a_free_slot_without_queueing() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10)
    slots = Slots(2)
    assert await queue.admit("m", slots.try_acquire, priority=0, timeout_s=1) == 1
    assert await queue.admit("m", slots.try_acquire, priority=0, timeout_s=1) == 2
    assert queue.stats.admitted_immediately == 2
    assert queue.depth == 0


async def test_waiters_are_served_by_priority_then_arrival() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10, recheck_interval_s=10)
    slots = Slots(0)
    order: list[str] = []

    async def request(name: str, priority: int) -> None:
        await queue.admit("m", slots.try_acquire, priority=priority, timeout_s=5)
        order.append(name)

    tasks = []
    for name, priority in [("low1", 1), ("high1", 200), ("low2", 1), ("mid", 50), ("high2", 200)]:
        tasks.append(asyncio.create_task(request(name, priority)))
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert queue.depth == 5
    for _ in range(5):
        slots.release(queue, "m")
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["high1", "high2", "mid", "low1", "low2"]
    assert queue.stats.admitted_after_wait == 5
    assert queue.depth == 0


async def test_new_arrivals_queue_behind_waiters_even_when_a_slot_is_free() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10, recheck_interval_s=10)
    slots = Slots(0)
    first = asyncio.create_task(queue.admit("m", slots.try_acquire, priority=0, timeout_s=5))
    await asyncio.sleep(0.01)
    slots.free = 1  # freed without a notification: the arrival must not take it
    second = asyncio.create_task(queue.admit("m", slots.try_acquire, priority=0, timeout_s=5))
    await asyncio.sleep(0.01)
    assert not first.done()
    assert not second.done()
    queue.notify("m")
    await asyncio.sleep(0.01)
    assert first.done()
    assert not second.done()
    slots.release(queue, "m")
    assert await second == 2
    assert await first == 1


async def test_deadline_gives_503_reason_and_leaves_no_waiter() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10)
    slots = Slots(0)
    started = asyncio.get_running_loop().time()
    with pytest.raises(AdmissionRejected) as info:
        await queue.admit("m", slots.try_acquire, priority=0, timeout_s=0.1)
    waited = asyncio.get_running_loop().time() - started
    assert info.value.reason == "timeout"
    assert info.value.retry_after_s >= 1
    assert 0.09 <= waited < 1.0
    assert queue.depth == 0
    assert queue.stats.timed_out == 1
    # A slot freed later goes to nobody (the timed-out waiter is gone).
    slots.free = 1
    queue.notify("m")
    assert slots.free == 1


async def test_zero_timeout_refuses_at_once_when_saturated() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10)
    with pytest.raises(AdmissionRejected):
        await queue.admit("m", Slots(0).try_acquire, priority=0, timeout_s=0)


async def test_full_queue_refuses_equal_priority_and_evicts_lower_for_higher() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=2, recheck_interval_s=10)
    slots = Slots(0)
    low = asyncio.create_task(queue.admit("m", slots.try_acquire, priority=1, timeout_s=5))
    mid = asyncio.create_task(queue.admit("m", slots.try_acquire, priority=5, timeout_s=5))
    await asyncio.sleep(0.01)
    with pytest.raises(AdmissionRejected) as full:
        await queue.admit("m", slots.try_acquire, priority=1, timeout_s=5)
    assert full.value.reason == "full"
    high = asyncio.create_task(queue.admit("m", slots.try_acquire, priority=9, timeout_s=5))
    await asyncio.sleep(0.01)
    with pytest.raises(AdmissionRejected) as evicted:
        await low
    assert evicted.value.reason == "evicted"
    assert queue.depth == 2
    slots.release(queue, "m")
    slots.release(queue, "m")
    assert await high == 1
    assert await mid == 2
    assert queue.stats.rejected_full == 1
    assert queue.stats.evicted == 1


async def test_cancelled_waiter_leaves_and_next_one_is_served() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10, recheck_interval_s=10)
    slots = Slots(0)
    gone = asyncio.create_task(queue.admit("m", slots.try_acquire, priority=9, timeout_s=5))
    stay = asyncio.create_task(queue.admit("m", slots.try_acquire, priority=0, timeout_s=5))
    await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert queue.depth == 1
    slots.release(queue, "m")
    assert await stay == 1
    assert queue.stats.cancelled == 1


async def test_slot_handed_to_a_waiter_cancelled_in_the_same_tick_goes_to_the_next() -> None:
    queue: AdmissionQueue[object] = AdmissionQueue(max_depth=10, recheck_interval_s=10)
    released: list[object] = []

    class Guard:
        def release(self) -> None:
            released.append(self)

    free = [0]

    def acquire() -> object | None:
        if free[0] <= 0:
            return None
        free[0] -= 1
        return Guard()

    first = asyncio.create_task(queue.admit("m", acquire, priority=0, timeout_s=5))
    second = asyncio.create_task(queue.admit("m", acquire, priority=0, timeout_s=5))
    await asyncio.sleep(0.01)
    free[0] = 1
    queue.notify("m")  # first is handed the guard ...
    first.cancel()  # ... and cancelled before it resumes
    await asyncio.gather(first, return_exceptions=True)
    assert len(released) == 1  # the abandoned guard was released
    free[0] = 1  # (the fake does not count releases itself)
    queue.notify("m")
    assert isinstance(await second, Guard)


async def test_recheck_ticker_admits_without_notification() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10, recheck_interval_s=0.02)
    slots = Slots(0)
    waiter = asyncio.create_task(queue.admit("m", slots.try_acquire, priority=0, timeout_s=2))
    await asyncio.sleep(0.05)
    slots.free = 1  # e.g. a worker became healthy; nobody calls notify
    assert await asyncio.wait_for(waiter, 1) == 1
    await queue.close()


async def test_queues_per_key_are_independent_and_snapshot_reports_them() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10, recheck_interval_s=10)
    busy, idle = Slots(0), Slots(1)
    waiting = asyncio.create_task(
        queue.admit(("u1", "a"), busy.try_acquire, priority=3, timeout_s=5)
    )
    await asyncio.sleep(0.01)
    assert await queue.admit(("u1", "b"), idle.try_acquire, priority=0, timeout_s=5) == 1
    snap = queue.snapshot()
    assert [(s.key, s.depth, s.by_priority) for s in snap] == [("u1/a", 1, {3: 1})]
    assert snap[0].oldest_wait_ms >= 5
    busy.release(queue, ("u1", "a"))
    await waiting
    assert queue.snapshot() == []
    assert queue.wait_percentiles_ms()["samples"] == 1


async def test_close_fails_waiters() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10, recheck_interval_s=10)
    waiter = asyncio.create_task(queue.admit("m", Slots(0).try_acquire, priority=0, timeout_s=5))
    await asyncio.sleep(0.01)
    await queue.close()
    with pytest.raises(AdmissionRejected):
        await waiter


async def test_priority_order_holds_across_routes_sharing_a_pool() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10, recheck_interval_s=10)
    shared = Slots(0)
    order: list[str] = []

    async def request(key: str, name: str, priority: int) -> None:
        await queue.admit(key, shared.try_acquire, priority=priority, timeout_s=5)
        order.append(name)

    tasks = [
        asyncio.create_task(request("alice/m", "a-low", 1)),
        asyncio.create_task(request("bob/m", "b-high", 9)),
        asyncio.create_task(request("alice/m", "a-high", 9)),
    ]
    await asyncio.sleep(0.01)
    for _ in range(3):
        shared.free += 1
        queue.notify_all()
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert order == ["b-high", "a-high", "a-low"]


async def test_a_full_route_does_not_block_a_route_with_room() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(max_depth=10, recheck_interval_s=10)
    full, roomy = Slots(0), Slots(0)
    stuck = asyncio.create_task(queue.admit("a", full.try_acquire, priority=9, timeout_s=5))
    served = asyncio.create_task(queue.admit("b", roomy.try_acquire, priority=0, timeout_s=5))
    await asyncio.sleep(0.01)
    roomy.free = 1
    queue.notify_all()
    assert await asyncio.wait_for(served, 1) == 1
    assert not stuck.done()
    await queue.close()
    with pytest.raises(AdmissionRejected):
        await stuck
