"""Health over gRPC: the seed's HealthCheck RPC and the standard `grpc.health.v1` service.

Both reflect the same readiness as GET /health/ready (database, Redis, background loops).
The standard service's status (for "" and "gpuproxy.GPUProxyService") is refreshed every
`INTERVAL_S` by a supervised loop, so Watch streams see changes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from grpc_health.v1 import health, health_pb2

from gpuproxy.api.health import readiness_checks
from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api._handlers import RpcBase, unary
from gpuproxy.services import Services

__all__ = ["INTERVAL_S", "SERVICE_NAME", "HealthRpcs", "watch_readiness"]

SERVICE_NAME = "gpuproxy.GPUProxyService"
INTERVAL_S = 2.0
#: A check that does not answer within this is reported as down (never blocks the RPC).
_CHECK_TIMEOUT_S = 2.0


async def _checks(services: Services) -> dict[str, str]:
    try:
        return await asyncio.wait_for(readiness_checks(services), _CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"readiness": "timeout"}


class HealthRpcs(RpcBase):
    @unary
    async def HealthCheck(
        self, request: pb.HealthCheckRequest, context: Any
    ) -> pb.HealthCheckResponse:
        checks = await _checks(self.services)
        healthy = all(v == "ok" for v in checks.values())
        return pb.HealthCheckResponse(
            status="healthy" if healthy else "degraded",
            timestamp=int(time.time()),
            details=checks,
        )


async def watch_readiness(services: Services, servicer: health.aio.HealthServicer) -> None:
    """Keep the standard health service's status current (runs for the app's lifetime)."""
    while True:
        checks = await _checks(services)
        serving = all(v == "ok" for v in checks.values())
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            await servicer.set(name, status)
        await asyncio.sleep(INTERVAL_S)
