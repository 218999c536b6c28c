"""The overview's usage trend: requests and cost per time bucket over a chosen range, and
how they split between models, from the durable usage table (`gateway_usage`, every
instance's requests) rather than one process's memory. Admins see every account's usage;
a user sees their own.

The chart is drawn here as SVG geometry (bar positions and heights) so the template only
places rectangles: no chart library and no script."""

from __future__ import annotations

import time
from typing import Any

from gpuproxy.accounts.principal import Principal
from gpuproxy.clock import now_ms
from gpuproxy.exceptions import ApiError
from gpuproxy.gateway.usage_queries import usage_buckets
from gpuproxy.money import micros_to_dollars
from gpuproxy.storage.database import Database

__all__ = ["TRENDS", "parse_trend", "usage_trend"]

#: range -> (bucket width in ms, number of buckets)
TRENDS: dict[str, tuple[int, int]] = {
    "1h": (300_000, 12),
    "24h": (3_600_000, 24),
    "7d": (86_400_000, 7),
}
#: The drawing area of the SVG (viewBox units), bars with a gap between them.
CHART_WIDTH, CHART_HEIGHT = 600, 160


def parse_trend(raw: str | None) -> str:
    chosen = raw or "24h"
    if chosen not in TRENDS:
        raise ApiError(f"trend must be one of {', '.join(TRENDS)}", param="trend")
    return chosen


def _bars(counts: list[int], width_ms: int, start_ms: int) -> list[dict[str, Any]]:
    tallest = max(counts, default=0) or 1
    slot = CHART_WIDTH / len(counts)
    bars = []
    for index, count in enumerate(counts):
        height = round(CHART_HEIGHT * count / tallest, 1)
        begins = time.strftime("%Y-%m-%d %H:%M", time.gmtime((start_ms + index * width_ms) / 1000))
        bars.append(
            {
                "x": round(index * slot + slot * 0.1, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(slot * 0.8, 1),
                "height": height,
                "label": f"{begins} UTC: {count} requests",
            }
        )
    return bars


async def usage_trend(db: Database, principal: Principal, chosen: str) -> dict[str, Any]:
    width_ms, buckets = TRENDS[chosen]
    now = now_ms()
    # Whole buckets ending with the current one, so a bar always covers the same span.
    start_ms = (now // width_ms - buckets + 1) * width_ms
    rows = await usage_buckets(
        db,
        start_ms=start_ms,
        width_ms=width_ms,
        user_id=None if principal.is_admin else principal.user_id,
    )
    counts = [0] * buckets
    models: dict[str, list[int]] = {}
    for row in rows:
        if 0 <= row.bucket < buckets:
            counts[row.bucket] += row.requests
        total = models.setdefault(row.model, [0, 0])
        total[0] += row.requests
        total[1] += row.cost_micros
    distribution = [
        {"model": model, "requests": n, "cost": micros_to_dollars(cost)}
        for model, (n, cost) in sorted(models.items(), key=lambda item: -item[1][0])
    ]
    return {
        "trend": chosen,
        "bars": _bars(counts, width_ms, start_ms),
        "total": sum(counts),
        "models": distribution,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
    }
