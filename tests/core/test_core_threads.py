"""The binding from several Python threads at once: no lost slots, no overspend."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from gpuproxy import _core
from gpuproxy.exceptions import SpendLimitExceeded

THREADS = 4


def test_pool_under_threads() -> None:
    pool = _core.Pool("least_connections")
    for i in range(4):
        pool.add_backend(f"b{i}", f"h:{i}", max_concurrency=3)
    saturated = 0
    lock = threading.Lock()

    def work(t: int) -> None:
        nonlocal saturated
        for i in range(2_000):
            g = pool.select()
            if g is None:
                with lock:
                    saturated += 1
                continue
            if i % 5 == 0:
                g.release()
            else:
                g.complete(ok=i % 7 != 0, latency_ms=1.0)
            if t == 0 and i % 200 == 0:
                pool.strategy = _core.STRATEGIES[(i // 200) % len(_core.STRATEGIES)]

    with ThreadPoolExecutor(THREADS) as ex:
        list(ex.map(work, range(THREADS)))
    snap = pool.snapshot()
    assert snap.in_flight == 0
    assert snap.total + saturated == THREADS * 2_000
    for b in pool.backends():
        assert b.in_flight == 0
        assert b.total == b.ok + b.errors + b.cancelled


def test_spend_windows_under_threads_never_overspend() -> None:
    w = _core.SpendWindows({"60min": 50_000})
    held: list[_core.Reservation] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(1_000):
            try:
                r = w.reserve("shared", 10 + (t + i) % 17)
            except SpendLimitExceeded:
                continue
            if i % 2:
                r.commit(r.amount_micros)
            else:
                with lock:
                    held.append(r)

    with ThreadPoolExecutor(THREADS) as ex:
        list(ex.map(work, range(THREADS)))
    s = {x.window: x for x in w.status("shared")}["60min"]
    assert s.spent + s.reserved <= 50_000
    assert s.spent + s.reserved > 50_000 - 27  # saturated to within one reservation
    for r in held:
        r.release()
    assert s.limit == 50_000
    assert {x.window: x for x in w.status("shared")}["60min"].reserved == 0


def test_rate_limiter_under_threads_admits_exactly_the_burst() -> None:
    rl = _core.RateLimiter(0.001, 100, clock=_core.ManualClock(0))
    allowed = 0
    lock = threading.Lock()

    def work(_: int) -> None:
        nonlocal allowed
        for _ in range(100):
            if rl.check("k") == 0:
                with lock:
                    allowed += 1

    with ThreadPoolExecutor(THREADS) as ex:
        list(ex.map(work, range(THREADS)))
    assert allowed == 100
