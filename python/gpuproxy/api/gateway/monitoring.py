"""Monitoring routes of the inference gateway (seed 004), for admins.

- `GET /api/monitoring/queue`: admission queues (depth per model route, oldest wait,
  priorities), counters since start and recent queued-wait percentiles.
- `GET /api/monitoring/workers`: every worker (registered agents and static upstreams)
  with health, models, GPUs and the balancer's live numbers per pool (in flight, totals,
  errors, latency EWMA).
- `GET /api/monitoring/metrics`: per-model and per-user requests, errors, tokens, cost and
  latency / time-to-first-token percentiles over the last 1, 5, 15 and 60 minutes.
- `GET /api/monitoring/metrics/prometheus`: the same per model (last minute) in the
  Prometheus text format, for `proxy/prometheus.yml`, with the background loops' state.

Figures are this process's (each proxy process routes its own traffic); the usage table
holds the durable, cluster-wide record.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get

from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.gateway.common import gateway_of
from gpuproxy.api.guards import requires_admin
from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.prometheus import CONTENT_TYPE, render_prometheus
from gpuproxy.money import micros_to_dollars

__all__ = ["MonitoringController"]


class MonitoringController(Controller):
    path = "/api/monitoring"
    guards = [requires_admin]  # noqa: RUF012 - Litestar reads class attributes
    tags = ["monitoring"]  # noqa: RUF012

    @get("/queue", summary="Admission queues: depth, waits, counters")
    async def queue(self, services: ServicesDep) -> dict[str, Any]:
        gateway = gateway_of(services)
        if gateway.data_plane is None:
            raise GatewayError(503, "the data plane is not running in this process")
        report: dict[str, Any] = gateway.data_plane.queue_report()
        return report

    @get("/workers", summary="Workers, health and live balancer statistics")
    async def workers(self, services: ServicesDep) -> dict[str, Any]:
        gateway = gateway_of(services)
        per_worker: dict[str, list[dict[str, Any]]] = {}
        pools = []
        for entry in gateway.pools.entries():
            snapshot = entry.pool.snapshot().to_dict()
            pools.append({"pool": entry.label, "shared": entry.shared, **snapshot})
            for backend in entry.pool.backends():
                stats = backend.to_dict()
                stats["pool"] = entry.label
                per_worker.setdefault(backend.id, []).append(stats)
        workers = []
        for info in gateway.all_workers():
            workers.append(
                {
                    "id": info.worker_id,
                    "owner_id": info.owner_id,
                    "instance_id": info.instance_id,
                    "address": info.address,
                    "backend": info.backend,
                    "models": info.models,
                    "healthy": info.healthy,
                    "unhealthy_reason": info.unhealthy_reason,
                    "connected": info.connected,
                    "last_heartbeat_at": info.last_heartbeat_at,
                    "reported_in_flight": info.in_flight,
                    "gpus": [msgspec.to_builtins(g) for g in info.gpus],
                    "gpu_metrics": [msgspec.to_builtins(m) for m in info.metrics],
                    "pools": per_worker.get(info.worker_id, []),
                }
            )
        healthy = sum(1 for w in workers if w["healthy"])
        return {
            "total": len(workers),
            "healthy": healthy,
            "strategy": gateway.pools.strategy,
            "workers": workers,
            "pools": pools,
        }

    @get(
        "/metrics/prometheus",
        media_type=CONTENT_TYPE,
        summary="Per-model metrics in the Prometheus text format",
    )
    async def prometheus(self, services: ServicesDep) -> Response[str]:
        gateway = gateway_of(services)
        report = gateway.metrics.report(include_users=False)
        stats = gateway.data_plane.stats() if gateway.data_plane is not None else None
        loops = services.supervisor.report()
        extra = [services.models.metrics] if services.models is not None else []
        text = render_prometheus(report, stats, loops=loops, extra=extra)
        return Response(text, media_type=CONTENT_TYPE)

    @get("/metrics", summary="Per-model and per-user request statistics over recent windows")
    async def metrics(self, services: ServicesDep) -> dict[str, Any]:
        gateway = gateway_of(services)
        report = gateway.metrics.report()
        for window in report["windows"].values():
            for group in window.values():
                for summary in group.values():
                    summary["cost"] = micros_to_dollars(summary["cost_micros"])
        usage = gateway.usage
        report["usage_writer"] = {
            "pending": usage.pending,
            "written": usage.written,
            "dropped": usage.dropped,
            "failures": usage.failures,
        }
        return report
