"""Liveness and readiness."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from gpuproxy.api.deps import ServicesDep
from gpuproxy.services import Services

__all__ = ["HealthController", "readiness_checks"]


async def readiness_checks(services: Services) -> dict[str, str]:
    """What readiness depends on, each "ok" or what is wrong (HTTP and gRPC health)."""
    checks: dict[str, str] = {
        "database": "ok" if await services.db.ping() else "down",
    }
    if services.kv.kind == "redis":
        checks["redis"] = "ok" if await services.kv.ping() else "down"
    # A loop restarting once is self-healing; one that keeps failing is not.
    checks["background"] = "failing" if services.supervisor.failing() else "ok"
    return checks


class HealthController(Controller):
    path = "/health"
    tags = ["health"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", summary="Liveness: the process answers", exclude_from_auth=True)
    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "timestamp": int(time.time())}

    @get(
        "/ready",
        summary="Readiness: database and Redis answer, no background loop keeps failing",
        exclude_from_auth=True,
        # Not ready answers the same report (not an error body), with status "unavailable".
        responses={
            503: ResponseSpec(dict[str, Any], description="Not ready", generate_examples=False)
        },
    )
    async def ready(self, services: ServicesDep) -> Response[dict[str, Any]]:
        checks = await readiness_checks(services)
        healthy = all(v == "ok" for v in checks.values())
        return Response(
            {
                "status": "ok" if healthy else "unavailable",
                "checks": checks,
                "background": services.supervisor.report(),
            },
            status_code=HTTP_200_OK if healthy else HTTP_503_SERVICE_UNAVAILABLE,
        )
