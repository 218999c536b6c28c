"""Cost of each synchronous `gpuproxy._core` call from Python (goal: <= 1 us per call).

Each figure is the best of several `timeit` repeats, in nanoseconds per call (or per
pair, where a call only makes sense with its partner, e.g. select + complete). Prints a
table, then one JSON line; `--json FILE` also writes the JSON there.

    .venv/bin/python benchmarks/core_calls.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

from gpuproxy import _core

__all__ = ["main"]

GOAL_NS = 1_000.0


def make_pool(strategy: str, n: int) -> _core.Pool:
    pool = _core.Pool(strategy)
    for i in range(n):
        pool.add_backend(f"gpu-{i}", f"10.0.0.{i % 250}:8000", gpu_model="H100")
    return pool


def cases() -> dict[str, Callable[[], object]]:
    p2c = make_pool("p2c_ewma", 1000)
    chash = make_pool("consistent_hash", 16)
    rr = make_pool("round_robin", 16)
    windows = _core.SpendWindows(dict.fromkeys(_core.SPEND_WINDOWS, 10**15))
    limiter = _core.RateLimiter(1e9, 1_000_000)

    def select_complete() -> None:
        g = p2c.select()
        assert g is not None
        g.complete(True, 12.5)

    def select_drop() -> None:
        rr.select()

    def select_key() -> None:
        g = chash.select("user-42")
        assert g is not None
        g.complete()

    def guard_with() -> None:
        g = rr.select()
        assert g is not None
        with g:
            pass

    def reserve_commit() -> None:
        windows.reserve("acct-1", 1_500).commit(1_200)

    return {
        "pool.select+complete (p2c_ewma, 1000 backends)": select_complete,
        "pool.select+drop (round_robin, 16)": select_drop,
        "pool.select(key)+complete (consistent_hash, 16)": select_key,
        "pool.select + with guard (round_robin, 16)": guard_with,
        "pool.snapshot()": p2c.snapshot,
        "windows.reserve+commit": reserve_commit,
        "windows.check": lambda: windows.check("acct-1", 10),
        "windows.status (17 objects)": lambda: windows.status("acct-1"),
        "limiter.check": lambda: limiter.check("key-1"),
        "baseline: empty python call": lambda: None,
    }


def measure(fn: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer iterations (seconds, not tens)")
    ap.add_argument("--json", type=Path, help="also write the JSON result to this file")
    args = ap.parse_args(argv)
    number, repeat = (20_000, 3) if args.quick else (200_000, 5)
    results: dict[str, float] = {}
    for name, fn in cases().items():
        results[name] = round(measure(fn, number, repeat), 1)
        mark = "" if results[name] <= GOAL_NS else "  (over the 1 us goal)"
        print(f"{name:52s} {results[name]:9.1f} ns{mark}")
    doc = {
        "unit": "ns per call (best of repeats)",
        "goal_ns": GOAL_NS,
        "number": number,
        "repeat": repeat,
        "python": sys.version.split()[0],
        "results": results,
    }
    line = json.dumps(doc)
    if args.json:
        args.json.write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
