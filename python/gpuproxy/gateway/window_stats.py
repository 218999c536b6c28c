"""Recent-window request statistics: counts, errors, tokens, latency percentiles.

A series is a ring of time buckets (10 s wide, one hour kept); each bucket holds counters
and two sparse log-scale histograms (latency and time to first token, ~4% relative
resolution). A window summary merges the buckets it covers, so percentiles over 1, 5, 15
and 60 minutes cost a merge of at most 360 small dicts, and recording is a few dict updates.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BUCKET_S", "WINDOWS_S", "KeyedSeries", "Sample", "Series"]

BUCKET_S = 10
WINDOWS_S: tuple[int, ...] = (60, 300, 900, 3600)
_KEPT = WINDOWS_S[-1] // BUCKET_S
# Histogram index = floor(ln(microseconds) * _K): buckets ~8% wide (error within ~4%).
_K = 1 / math.log(1.08)


#: (ok, latency_s, ttft_s, prompt_tokens, completion_tokens, cost_micros, tokens_per_s)
Sample = tuple[bool, float, float | None, int, int, int, float | None]


def _index(seconds: float) -> int:
    micros = seconds * 1_000_000
    return int(math.log(micros) * _K) if micros > 1 else 0


def _value(index: int) -> float:
    """The middle of a histogram bucket, in the unit recorded (microseconds for times)."""
    return math.exp((index + 0.5) / _K)


@dataclass(slots=True)
class _Bucket:
    start: int
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_micros: int = 0
    latency: dict[int, int] = field(default_factory=dict)
    ttft: dict[int, int] = field(default_factory=dict)
    tps: dict[int, int] = field(default_factory=dict)


def _percentiles(hist: dict[int, int], scale: float = 1000) -> dict[str, float | None]:
    total = sum(hist.values())
    if total == 0:
        return {"p50": None, "p90": None, "p99": None}
    wanted = {"p50": 0.50, "p90": 0.90, "p99": 0.99}
    result: dict[str, float | None] = {}
    ordered = sorted(hist.items())
    for name, q in wanted.items():
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index, count in ordered:
            seen += count
            if seen >= rank:
                result[name] = round(_value(index) / scale, 3)
                break
    return result


class Series:
    """One key's buckets (a model, a user)."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[int, _Bucket] = {}

    def add(
        self,
        now: float,
        *,
        ok: bool,
        latency_s: float,
        ttft_s: float | None,
        prompt_tokens: int,
        tokens_per_s: float | None = None,
        completion_tokens: int,
        cost_micros: int,
    ) -> None:
        sample = (ok, latency_s, ttft_s, prompt_tokens, completion_tokens, cost_micros,
                  tokens_per_s)  # fmt: skip
        self.add_many(now, (sample,))

    def add_many(self, now: float, samples: Iterable[Sample]) -> None:
        """Samples of one moment (a drained batch): one bucket lookup for all of them."""
        start = int(now) // BUCKET_S * BUCKET_S
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = _Bucket(start)
            if len(self._buckets) > _KEPT + 1:
                self._prune(start)
        latency, ttft, tps = bucket.latency, bucket.ttft, bucket.tps
        requests = errors = prompt = completion = cost = 0
        for ok, latency_s, ttft_s, prompt_tokens, completion_tokens, cost_micros, rate in samples:
            requests += 1
            if not ok:
                errors += 1
            prompt += prompt_tokens
            completion += completion_tokens
            cost += cost_micros
            i = _index(latency_s)
            latency[i] = latency.get(i, 0) + 1
            if ttft_s is not None:
                j = _index(ttft_s)
                ttft[j] = ttft.get(j, 0) + 1
            if rate:
                # Same log-scale histogram: tokens/s recorded as if they were microseconds.
                k = _index(rate / 1_000_000)
                tps[k] = tps.get(k, 0) + 1
        bucket.requests += requests
        bucket.errors += errors
        bucket.prompt_tokens += prompt
        bucket.completion_tokens += completion
        bucket.cost_micros += cost

    def _prune(self, newest: int) -> None:
        oldest_kept = newest - _KEPT * BUCKET_S
        for start in [s for s in self._buckets if s <= oldest_kept]:
            del self._buckets[start]

    def last_activity(self) -> int:
        return max(self._buckets, default=0)

    def summary(self, now: float, window_s: int) -> dict[str, Any]:
        since = int(now) - window_s
        requests = errors = prompt = completion = cost = 0
        latency: dict[int, int] = {}
        ttft: dict[int, int] = {}
        tps: dict[int, int] = {}
        for bucket in self._buckets.values():
            if bucket.start + BUCKET_S <= since:
                continue
            requests += bucket.requests
            errors += bucket.errors
            prompt += bucket.prompt_tokens
            completion += bucket.completion_tokens
            cost += bucket.cost_micros
            for i, n in bucket.latency.items():
                latency[i] = latency.get(i, 0) + n
            for i, n in bucket.ttft.items():
                ttft[i] = ttft.get(i, 0) + n
            for i, n in bucket.tps.items():
                tps[i] = tps.get(i, 0) + n
        return {
            "requests": requests,
            "errors": errors,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cost_micros": cost,
            "latency_ms": _percentiles(latency),
            "ttft_ms": _percentiles(ttft),
            "tokens_per_s": _percentiles(tps, scale=1),
        }


class KeyedSeries:
    """Series per key, at most `max_keys` (the least recently active are forgotten)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._series: OrderedDict[str, Series] = OrderedDict()

    def get(self, key: str) -> Series:
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = Series()
            if len(self._series) > self.max_keys:
                self._series.popitem(last=False)
        else:
            self._series.move_to_end(key)
        return series

    def keys(self) -> list[str]:
        return list(self._series)

    def summaries(self, now: float, window_s: int) -> dict[str, dict[str, Any]]:
        result = {}
        for key, series in self._series.items():
            summary = series.summary(now, window_s)
            if summary["requests"]:
                result[key] = summary
        return result
