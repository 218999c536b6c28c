"""`POST /api/v1/gpu/proxy`: the generic protocol proxy (seed 001).

Body: `{protocol: http|https|mcp|openinference, target_url, method?, headers?, body?,
timeout? (seconds, default 30, at most 300), stream? (default false)}`. Answers
`{status_code, headers, body, target: {host, address, via}}` with the target's status in
`status_code` (this route itself answers 200), or, with `stream: true`, the target's
answer as it comes (its status and content type). Targets are limited to the caller's own
workers and the admin allowlist (see `gpuproxy.gateway.ssrf`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.params import JSONBody
from litestar.response import Stream

from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.gateway.common import gateway_of
from gpuproxy.api.guards import principal_of, requires_scope
from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.protocol_proxy import build_call

__all__ = ["GpuProxyController"]

MAX_TIMEOUT_S = 300.0


class ProxyBody(msgspec.Struct, forbid_unknown_fields=True):
    protocol: str
    target_url: str
    method: str | None = None
    headers: dict[str, str] | None = None
    body: Any = None
    timeout: float = 30.0
    stream: bool = False


class GpuProxyController(Controller):
    path = "/api/v1/gpu/proxy"
    tags = ["gpu"]  # noqa: RUF012

    @post(
        "/",
        guards=[requires_scope("inference")],
        status_code=200,
        summary="Forward one request to a GPU",
    )
    async def proxy(
        self, data: JSONBody[ProxyBody], request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[Any]:
        gateway = gateway_of(services)
        if not 0 < data.timeout <= MAX_TIMEOUT_S:
            raise GatewayError(
                400, f"timeout: expected seconds in (0, {MAX_TIMEOUT_S:g}]", param="timeout"
            )
        call = build_call(
            data.protocol.lower(),
            data.target_url.strip(),
            data.method,
            data.headers,
            data.body,
            data.timeout,
        )
        principal = principal_of(request)
        own = gateway.registry.workers(owner_id=principal.user_id)
        target = await gateway.protocol_proxy.resolve(call, own)
        if target.worker_id is not None:
            # A registered worker serves its gateway only: the worker's secret replaces
            # whatever credential the caller put in the headers.
            authorization = gateway.registry.authorization(target.worker_id)
            if authorization is not None:
                call.headers = {
                    k: v for k, v in call.headers.items() if k.lower() != "authorization"
                }
                call.headers["authorization"] = authorization
        request_id = request.scope.get("state", {}).get("request_id")
        answer = await gateway.protocol_proxy.open(call, target, request_id)
        target_view = {"host": target.host, "address": target.pinned_authority, "via": target.via}
        if data.stream:
            return Stream(
                answer.chunks(),
                status_code=answer.status,
                media_type=answer.content_type or "application/octet-stream",
                headers={"x-proxy-target": target.host},
            )
        result = await answer.read()
        return Response(
            {
                "status_code": result.status_code,
                "headers": result.headers,
                "body": result.body_view(),
                "target": target_view,
            }
        )
