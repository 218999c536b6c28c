"""The overview's worker table (administrators only): each worker's models, health, the
age of its last heartbeat, requests in flight and the GPU utilisation it reports, from the
gateway's registry (the same source as GET /api/monitoring/workers)."""

from __future__ import annotations

import time
from typing import Any

from gpuproxy.services import Services

__all__ = ["workers_table"]


def _utilisation(metrics: list[Any]) -> str:
    if not metrics:
        return "not reported"
    return " / ".join(f"{m.utilization_pct:.0f}%" for m in metrics)


def workers_table(services: Services) -> list[dict[str, Any]]:
    gateway = services.gateway
    if gateway is None:
        return []
    now = time.time()
    return [
        {
            "id": info.worker_id,
            "models": ", ".join(info.models),
            "health": "healthy" if info.healthy else f"unhealthy: {info.unhealthy_reason}",
            "heartbeat_age_s": round(max(now - info.last_heartbeat_at, 0.0), 1),
            "in_flight": info.in_flight,
            "gpu_utilisation": _utilisation(info.metrics),
        }
        for info in gateway.all_workers()
    ]
