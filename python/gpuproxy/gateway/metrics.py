"""Per-model and per-user request statistics over recent windows (monitoring endpoint).

In-process and in-memory: each proxy process reports its own traffic (the usage table in
the database is the durable, cluster-wide record).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gpuproxy.gateway.window_stats import WINDOWS_S, KeyedSeries

__all__ = ["GatewayMetrics", "RequestSample"]


@dataclass(slots=True)
class RequestSample:
    model: str
    user_id: str
    ok: bool
    latency_s: float
    ttft_s: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    tokens_per_s: float | None = None


class GatewayMetrics:
    def __init__(self, *, max_users: int = 10_000) -> None:
        self.by_model = KeyedSeries(max_keys=1_000)
        self.by_user = KeyedSeries(max_keys=max_users)
        self.started_at = time.time()
        self.total_requests = 0
        self.total_errors = 0

    def record(self, sample: RequestSample, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.total_requests += 1
        if not sample.ok:
            self.total_errors += 1
        for series in (self.by_model.get(sample.model), self.by_user.get(sample.user_id)):
            series.add(
                now,
                ok=sample.ok,
                latency_s=sample.latency_s,
                ttft_s=sample.ttft_s,
                prompt_tokens=sample.prompt_tokens,
                completion_tokens=sample.completion_tokens,
                cost_micros=sample.cost_micros,
                tokens_per_s=sample.tokens_per_s,
            )

    def report(self, *, include_users: bool = True, now: float | None = None) -> dict[str, Any]:
        """Windows -> {models: {...}, users: {...}}; only keys with traffic in the window."""
        now = time.time() if now is None else now
        windows: dict[str, Any] = {}
        for window in WINDOWS_S:
            entry: dict[str, Any] = {"models": self.by_model.summaries(now, window)}
            if include_users:
                entry["users"] = self.by_user.summaries(now, window)
            windows[f"{window // 60}m"] = entry
        return {
            "since": int(self.started_at),
            "total_requests": self.total_requests,
            "total_errors": self.total_errors,
            "windows": windows,
        }
