"""Overview: credits, the spend windows and the traffic (`traffic`) of the signed-in
account and, for administrators, every model's traffic and the data plane's live counters
(queue depth, workers). The page listens to `/dashboard/overview/stream` (server-sent
events, dashboard.js) so the numbers move without a reload; `/dashboard/overview.json` is
the same numbers once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import QueryParameter
from litestar.response import Stream

from gpuproxy.accounts.principal import Principal
from gpuproxy.api.billing.common import billing_of
from gpuproxy.api.billing.guardrails import spending_view
from gpuproxy.api.deps import ServicesDep
from gpuproxy.dashboard.render import SECURITY_HEADERS, page
from gpuproxy.dashboard.session import DASHBOARD_PREFIX
from gpuproxy.dashboard.traffic import RANGES, parse_range, traffic
from gpuproxy.dashboard.usage_chart import TRENDS, parse_trend, usage_trend
from gpuproxy.dashboard.web import DashboardController, signed_in
from gpuproxy.dashboard.workers_view import workers_table
from gpuproxy.services import Services

__all__ = [
    "STREAM_INTERVAL_S",
    "STREAM_LIFETIME_S",
    "DashboardOverviewController",
    "overview_numbers",
]

STREAM_INTERVAL_S = 2.0
STREAM_LIFETIME_S = 300.0
_encode = msgspec.json.Encoder().encode

#: ?range=1m|5m|15m|60m: the traffic table's window (checked by `parse_range`, 400 naming it).
_Range = Annotated[str | None, QueryParameter(name="range", max_length=8)]


def _gateway_numbers(services: Services) -> dict[str, Any]:
    """Operator numbers: only for administrators (they span every account)."""
    gateway = services.gateway
    if gateway is None:
        return {}
    numbers: dict[str, Any] = {"workers": len(gateway.registry.workers())}
    data_plane = gateway.data_plane
    if data_plane is not None:
        stats = data_plane.stats()
        numbers.update({k: v for k, v in stats.items() if isinstance(v, int | float)})
    return numbers


async def overview_numbers(
    services: Services, principal: Principal, chosen_range: str
) -> dict[str, Any]:
    billing = billing_of(services)
    spending = await spending_view(billing, principal.user_id)
    return {
        "credits": await billing.credits_view(principal.user_id),
        "windows": spending["windows"],
        "total_spent_24h": spending["total_spent_24h"],
        "gateway": _gateway_numbers(services) if principal.is_admin else None,
        "traffic": traffic(services, principal, chosen_range),
        "workers": workers_table(services) if principal.is_admin else None,
    }


class DashboardOverviewController(DashboardController):
    path = DASHBOARD_PREFIX

    @get("/overview")
    async def overview(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        chosen_range: _Range = None,
        trend: Annotated[str | None, QueryParameter(max_length=8)] = None,
    ) -> Response[str]:
        principal = signed_in(request)
        chosen = parse_range(chosen_range)
        numbers = await overview_numbers(services, principal, chosen)
        usage = await usage_trend(services.db, principal, parse_trend(trend))
        return page(
            request,
            "overview.html",
            numbers=numbers,
            ranges=list(RANGES),
            usage=usage,
            trends=list(TRENDS),
        )

    @get("/overview.json")
    async def overview_json(
        self, request: Request[Any, Any, Any], services: ServicesDep, chosen_range: _Range = None
    ) -> Response[dict[str, Any]]:
        principal = signed_in(request)
        numbers = await overview_numbers(services, principal, parse_range(chosen_range))
        return Response(numbers, headers=SECURITY_HEADERS)

    @get("/overview/stream")
    async def overview_stream(
        self, request: Request[Any, Any, Any], services: ServicesDep, chosen_range: _Range = None
    ) -> Stream:
        """The same numbers pushed as server-sent events every 2 s. A stream lasts at most
        `STREAM_LIFETIME_S`: the browser's EventSource then reconnects, and that request is
        authenticated afresh, so a signed-out session stops receiving numbers."""
        principal = signed_in(request)
        chosen = parse_range(chosen_range)

        async def events() -> AsyncIterator[bytes]:
            deadline = time.monotonic() + STREAM_LIFETIME_S
            while time.monotonic() < deadline:
                numbers = await overview_numbers(services, principal, chosen)
                yield b"event: numbers\ndata: " + _encode(numbers) + b"\n\n"
                await asyncio.sleep(STREAM_INTERVAL_S)

        headers = {**SECURITY_HEADERS, "cache-control": "no-cache", "x-accel-buffering": "no"}
        return Stream(events(), media_type="text/event-stream", headers=headers)
