"""The overview's traffic table: requests, rate, errors, latency and TTFT percentiles and
cost over a chosen recent window, from the gateway's in-process metrics (the same numbers
as GET /api/monitoring/metrics). Admins see every model (the model distribution); a user
sees their own traffic only."""

from __future__ import annotations

import time
from typing import Any

from gpuproxy.accounts.principal import Principal
from gpuproxy.exceptions import ApiError
from gpuproxy.gateway.window_stats import WINDOWS_S
from gpuproxy.money import micros_to_dollars
from gpuproxy.services import Services

__all__ = ["RANGES", "parse_range", "traffic"]

#: The selectable ranges ("1m", "5m", "15m", "60m") -> seconds.
RANGES: dict[str, int] = {f"{s // 60}m": s for s in WINDOWS_S}


def parse_range(raw: str | None) -> str:
    """The chosen range, "5m" by default; 400 naming `range` for anything else."""
    chosen = raw or "5m"
    if chosen not in RANGES:
        raise ApiError(f"range must be one of {', '.join(RANGES)}", param="range")
    return chosen


def _row(name: str, summary: dict[str, Any], window_s: int) -> dict[str, Any]:
    latency, ttft = summary["latency_ms"], summary["ttft_ms"]
    return {
        "name": name,
        "requests": summary["requests"],
        "per_second": round(summary["requests"] / window_s, 3),
        "errors": summary["errors"],
        "latency_p50": latency["p50"],
        "latency_p99": latency["p99"],
        "ttft_p50": ttft["p50"],
        "ttft_p99": ttft["p99"],
        "cost": micros_to_dollars(summary["cost_micros"]),
    }


def traffic(services: Services, principal: Principal, chosen: str) -> dict[str, Any]:
    window_s = RANGES[chosen]
    gateway = services.gateway
    rows: list[dict[str, Any]] = []
    if gateway is not None:
        metrics = gateway.metrics
        now = time.time()
        if principal.is_admin:
            summaries = metrics.by_model.summaries(now, window_s)
            rows = [_row(model, s, window_s) for model, s in sorted(summaries.items())]
        elif principal.user_id in metrics.by_user.keys():  # noqa: SIM118 - a KeyedSeries, no dict
            summary = metrics.by_user.get(principal.user_id).summary(now, window_s)
            if summary["requests"]:
                rows = [_row("all models (yours)", summary, window_s)]
    return {"range": chosen, "rows": rows, "total": sum(r["requests"] for r in rows)}
