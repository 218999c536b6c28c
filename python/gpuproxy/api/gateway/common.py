"""Shared bits of the gateway's Litestar controllers: the Gateway dependency.

(`GatewayError` is an `ApiError`: the app's one handler answers it in the OpenAI shape.)"""

from __future__ import annotations

from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.service import Gateway
from gpuproxy.services import Services

__all__ = ["gateway_of"]


def gateway_of(services: Services) -> Gateway:
    """`services.gateway`, or 503 while it is not running."""
    gateway = services.gateway
    if gateway is None:
        raise GatewayError(503, "the inference gateway is not running", code="not_ready")
    return gateway
