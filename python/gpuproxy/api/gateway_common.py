"""Shared bits of the gateway's Litestar controllers: the Gateway dependency and the
OpenAI-shaped error answer for `GatewayError`."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.service import Gateway
from gpuproxy.services import Services

__all__ = ["GATEWAY_EXCEPTION_HANDLERS", "gateway_of"]


def gateway_of(services: Services) -> Gateway:
    """`services.gateway`, or 503 while it is not running."""
    gateway = services.gateway
    if gateway is None:
        raise GatewayError(503, "the inference gateway is not running", code="not_ready")
    return gateway


def _gateway_error(request: Request[Any, Any, Any], exc: GatewayError) -> Response[bytes]:
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in exc.headers}
    return Response(
        exc.body(), status_code=exc.status, headers=headers, media_type="application/json"
    )


GATEWAY_EXCEPTION_HANDLERS: dict[Any, Any] = {GatewayError: _gateway_error}
