"""Per-model and per-user request statistics over recent windows (monitoring endpoint).

In-process and in-memory: each proxy process reports its own traffic (the usage table in
the database is the durable, cluster-wide record).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from gpuproxy.gateway.window_stats import WINDOWS_S, KeyedSeries, Sample

__all__ = ["GatewayMetrics"]


class GatewayMetrics:
    def __init__(self, *, max_users: int = 10_000) -> None:
        self.by_model = KeyedSeries(max_keys=1_000)
        self.by_user = KeyedSeries(max_keys=max_users)
        self.started_at = time.time()
        self.total_requests = 0
        self.total_errors = 0

    def record_many(
        self, rows: Iterable[tuple[str, str, Sample]], now: float | None = None
    ) -> None:
        """(model, user_id, sample) of one drained batch, grouped so each series is touched
        once per batch (the data plane's settlements arrive by the hundred)."""
        now = time.time() if now is None else now
        by_model: dict[str, list[Sample]] = {}
        by_user: dict[str, list[Sample]] = {}
        for model, user_id, sample in rows:
            self.total_requests += 1
            if not sample[0]:
                self.total_errors += 1
            by_model.setdefault(model, []).append(sample)
            by_user.setdefault(user_id, []).append(sample)
        for model, samples in by_model.items():
            self.by_model.get(model).add_many(now, samples)
        for user_id, samples in by_user.items():
            self.by_user.get(user_id).add_many(now, samples)

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
