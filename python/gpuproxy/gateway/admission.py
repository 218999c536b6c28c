"""Admission queue: requests wait for a free backend slot in priority order.

When every worker of a route is at its concurrency limit (the balancer says "saturated",
which is not an error), the request waits here instead of failing. Per route key there is
one bounded queue ordered by priority (0-255, higher first, from the API key) and, within a
priority, by arrival (FIFO). A waiter gives up at its deadline (`X-Timelimit` or the
default) and the caller answers 503 with Retry-After.

Slots are handed over, not raced for: when a request finishes, `notify(key)` runs the head
waiter's `try_acquire` (a synchronous, cheap balancer select) and gives it the result, so a
new arrival can never overtake someone already waiting (arrivals queue behind waiters).
A low-frequency ticker re-checks non-empty queues too, for slots freed by paths that do not
notify (a worker becoming healthy, a limit raised).

The fast path (queue empty, a slot free) is one dict lookup and one `try_acquire` call.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gpuproxy.exceptions import GpuProxyError

__all__ = [
    "AdmissionQueue",
    "AdmissionRejected",
    "QueueSnapshot",
    "QueueStats",
]

T = TypeVar("T")

#: How often non-empty queues are re-checked without a notification (seconds).
RECHECK_INTERVAL_S = 0.05
#: Recent queued waits kept for percentiles and the Retry-After estimate.
_RECENT_WAITS = 1024


class AdmissionRejected(GpuProxyError):
    """No slot within the deadline (`reason` = "timeout"), the queue is full ("full"), or a
    higher-priority arrival took this waiter's place in a full queue ("evicted").

    `retry_after_s` is the caller's hint for the Retry-After header (whole seconds, >= 1).
    """

    def __init__(self, reason: str, retry_after_s: int, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(eq=False, slots=True)
class _Waiter(Generic[T]):
    priority: int
    seq: int
    try_acquire: Callable[[], T | None]
    future: asyncio.Future[T]
    enqueued_at: float
    user_id: str

    def sort_key(self) -> tuple[int, int]:
        # heapq pops the smallest: higher priority first, then earlier arrival.
        return (-self.priority, self.seq)

    def __lt__(self, other: _Waiter[Any]) -> bool:
        return self.sort_key() < other.sort_key()


@dataclass(slots=True)
class QueueStats:
    """Counters since start (monotonic; cheap to keep)."""

    admitted_immediately: int = 0
    admitted_after_wait: int = 0
    timed_out: int = 0
    rejected_full: int = 0
    evicted: int = 0
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """One route's queue as the monitoring endpoint shows it."""

    key: str
    depth: int
    oldest_wait_ms: float
    by_priority: dict[int, int]


@dataclass(eq=False)
class _Queue(Generic[T]):
    heap: list[_Waiter[T]] = field(default_factory=list)


class AdmissionQueue(Generic[T]):
    """Bounded priority queues of waiters, one per route key.

    `max_depth` bounds each key's queue; a full queue refuses new arrivals unless the
    arrival's priority is higher than the lowest waiter's, which is then evicted (so a
    flood of low-priority traffic cannot lock out high-priority keys).
    """

    def __init__(self, *, max_depth: int, recheck_interval_s: float = RECHECK_INTERVAL_S) -> None:
        if max_depth < 0:
            raise ValueError("max_depth must be >= 0")
        self.max_depth = max_depth
        self.recheck_interval_s = recheck_interval_s
        self.stats = QueueStats()
        self._queues: dict[Hashable, _Queue[T]] = {}
        self._seq = itertools.count()
        self._recent_waits: deque[float] = deque(maxlen=_RECENT_WAITS)
        self._ticker: asyncio.Task[None] | None = None

    # -- the request path ----------------------------------------------------------------

    async def admit(
        self,
        key: Hashable,
        try_acquire: Callable[[], T | None],
        *,
        priority: int,
        timeout_s: float,
        user_id: str = "",
    ) -> T:
        """A slot from `try_acquire`, now or after waiting at most `timeout_s` seconds.

        `try_acquire` must be synchronous and return None when no slot is free.
        Raises AdmissionRejected (timeout / full / evicted).
        """
        queue = self._queues.get(key)
        if queue is None or not queue.heap:
            slot = try_acquire()
            if slot is not None:
                self.stats.admitted_immediately += 1
                return slot
            if queue is None:
                queue = self._queues[key] = _Queue()
        if timeout_s <= 0:
            self.stats.timed_out += 1
            raise AdmissionRejected(
                "timeout", self.retry_after_s(), "no worker is free for this model"
            )
        if len(queue.heap) >= self.max_depth:
            self._make_room(queue, priority)
        loop = asyncio.get_running_loop()
        waiter: _Waiter[T] = _Waiter(
            priority=max(0, min(255, priority)),
            seq=next(self._seq),
            try_acquire=try_acquire,
            future=loop.create_future(),
            enqueued_at=time.monotonic(),
            user_id=user_id,
        )
        heapq.heappush(queue.heap, waiter)
        self._ensure_ticker()
        try:
            async with asyncio.timeout(timeout_s):
                slot = await asyncio.shield(waiter.future)
        except TimeoutError:
            if waiter.future.done() and not waiter.future.cancelled():
                # Handed a slot at the very moment the deadline passed: take it.
                return self._admitted(waiter)
            waiter.future.cancel()
            self._forget(key, queue)
            self.stats.timed_out += 1
            raise AdmissionRejected(
                "timeout",
                self.retry_after_s(),
                f"no worker became free for this model within {timeout_s:g} s",
            ) from None
        except asyncio.CancelledError:
            # The client went away. A slot handed over just now goes back to the queue
            # (dropping our reference releases it) and the next waiter is tried.
            handed = waiter.future.done() and not waiter.future.cancelled()
            waiter.future.cancel()
            self._forget(key, queue)
            if handed:
                self._release_abandoned(waiter)
                self.notify(key)
            else:
                self.stats.cancelled += 1
            raise
        except AdmissionRejected:
            self._forget(key, queue)
            raise
        self.stats.admitted_after_wait += 1
        self._recent_waits.append(time.monotonic() - waiter.enqueued_at)
        return slot

    def _admitted(self, waiter: _Waiter[T]) -> T:
        self.stats.admitted_after_wait += 1
        self._recent_waits.append(time.monotonic() - waiter.enqueued_at)
        return waiter.future.result()

    @staticmethod
    def _release_abandoned(waiter: _Waiter[T]) -> None:
        slot: Any = waiter.future.result()
        release = getattr(slot, "release", None)
        if callable(release):
            release()

    def _make_room(self, queue: _Queue[T], priority: int) -> None:
        lowest = max(queue.heap, key=_Waiter.sort_key) if queue.heap else None
        if lowest is None or lowest.priority >= priority:
            self.stats.rejected_full += 1
            raise AdmissionRejected(
                "full", self.retry_after_s(), "the request queue for this model is full"
            )
        queue.heap.remove(lowest)
        heapq.heapify(queue.heap)
        self.stats.evicted += 1
        lowest.future.set_exception(
            AdmissionRejected(
                "evicted",
                self.retry_after_s(),
                "the request queue for this model is full (higher-priority requests waiting)",
            )
        )

    def _forget(self, key: Hashable, queue: _Queue[T]) -> None:
        """Drop finished waiters from the heap (lazy deletion happens in notify too)."""
        if any(w.future.done() for w in queue.heap):
            queue.heap[:] = [w for w in queue.heap if not w.future.done()]
            heapq.heapify(queue.heap)
        if not queue.heap and self._queues.get(key) is queue:
            del self._queues[key]

    # -- slot hand-over -------------------------------------------------------------------

    def notify(self, key: Hashable) -> None:
        """A slot may have freed on `key`'s route: hand slots to head waiters while any."""
        queue = self._queues.get(key)
        if queue is None:
            return
        heap = queue.heap
        while heap:
            head = heap[0]
            if head.future.done():
                heapq.heappop(heap)
                continue
            try:
                slot = head.try_acquire()
            except Exception as exc:
                # A broken route (pool removed) fails the waiter rather than the notifier.
                heapq.heappop(heap)
                head.future.set_exception(exc)
                continue
            if slot is None:
                break
            heapq.heappop(heap)
            head.future.set_result(slot)
        if not heap:
            del self._queues[key]

    def notify_all(self) -> None:
        """Slots may have freed anywhere: hand them out in global priority order.

        Routes of different callers can compete for the same pool (a shared pool), so the
        best waiter across every queue goes first (priority, then arrival); a queue whose
        head finds no slot is skipped for the rest of this round (its pools are full), so
        it does not block queues whose pools have room.
        """
        queues = self._queues
        if not queues:
            return
        blocked: set[Hashable] = set()
        while True:
            best_key: Hashable = None
            best: _Waiter[T] | None = None
            for key, queue in queues.items():
                if key in blocked:
                    continue
                heap = queue.heap
                while heap and heap[0].future.done():
                    heapq.heappop(heap)
                if heap and (best is None or heap[0] < best):
                    best_key, best = key, heap[0]
            if best is None:
                break
            heap = queues[best_key].heap
            try:
                slot = best.try_acquire()
            except Exception as exc:
                heapq.heappop(heap)
                best.future.set_exception(exc)
                continue
            if slot is None:
                blocked.add(best_key)
                continue
            heapq.heappop(heap)
            best.future.set_result(slot)
        for key in [k for k, q in queues.items() if not q.heap]:
            del queues[key]

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick(), name="admission-recheck"
            )

    async def _tick(self) -> None:
        while self._queues:
            await asyncio.sleep(self.recheck_interval_s)
            self.notify_all()

    async def close(self) -> None:
        """Fail every waiter (shutdown) and stop the ticker."""
        for queue in self._queues.values():
            for waiter in queue.heap:
                if not waiter.future.done():
                    waiter.future.set_exception(
                        AdmissionRejected("timeout", 1, "the server is shutting down")
                    )
        self._queues.clear()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)

    # -- observation ----------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return sum(sum(1 for w in q.heap if not w.future.done()) for q in self._queues.values())

    def retry_after_s(self) -> int:
        """A Retry-After hint: the median recent queued wait, at least one second."""
        if not self._recent_waits:
            return 1
        waits = sorted(self._recent_waits)
        return max(1, math.ceil(waits[len(waits) // 2]))

    def wait_percentiles_ms(self) -> dict[str, float]:
        """p50/p95/p99/max of recent queued waits (requests admitted immediately excluded)."""
        if not self._recent_waits:
            return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "samples": 0.0}
        waits = sorted(self._recent_waits)
        n = len(waits)

        def at(q: float) -> float:
            return round(waits[min(n - 1, int(q * n))] * 1000, 3)

        return {
            "p50": at(0.50),
            "p95": at(0.95),
            "p99": at(0.99),
            "max": round(waits[-1] * 1000, 3),
            "samples": float(n),
        }

    def snapshot(self) -> list[QueueSnapshot]:
        now = time.monotonic()
        result: list[QueueSnapshot] = []
        for key, queue in self._queues.items():
            live = [w for w in queue.heap if not w.future.done()]
            if not live:
                continue
            by_priority: dict[int, int] = {}
            for w in live:
                by_priority[w.priority] = by_priority.get(w.priority, 0) + 1
            oldest = min(w.enqueued_at for w in live)
            result.append(
                QueueSnapshot(
                    key=_key_text(key),
                    depth=len(live),
                    oldest_wait_ms=round((now - oldest) * 1000, 3),
                    by_priority=dict(sorted(by_priority.items(), reverse=True)),
                )
            )
        return result


def _key_text(key: Hashable) -> str:
    if isinstance(key, tuple):
        return "/".join(str(part) for part in key)
    return str(key)
