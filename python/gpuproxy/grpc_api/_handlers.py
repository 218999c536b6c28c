"""What every RPC handler shares: the services, and one place that turns exceptions into
statuses (decorators for unary and streaming handlers)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from gpuproxy.grpc_api.errors import abort_with
from gpuproxy.services import Services

__all__ = ["RpcBase", "streaming", "unary"]

Self = TypeVar("Self", bound="RpcBase")
Req = TypeVar("Req")
Resp = TypeVar("Resp")


class RpcBase:
    """State of the servicer; the RPC mixins read `services` only."""

    def __init__(self, services: Services) -> None:
        self.services = services


def _passes(exc: BaseException) -> bool:
    # Cancellation (client gone, deadline) and grpc's own abort must propagate untouched.
    return isinstance(exc, asyncio.CancelledError) or type(exc).__name__ == "AbortError"


def unary(
    handler: Callable[[Self, Req, Any], Awaitable[Resp]],
) -> Callable[[Self, Req, Any], Awaitable[Resp]]:
    @functools.wraps(handler)
    async def wrapped(self: Self, request: Req, context: Any) -> Resp:
        try:
            return await handler(self, request, context)
        except BaseException as exc:
            if _passes(exc) or not isinstance(exc, Exception):
                raise
            await abort_with(context, exc)

    return wrapped


def streaming(
    handler: Callable[[Self, Any, Any], AsyncIterator[Resp]],
) -> Callable[[Self, Any, Any], AsyncIterator[Resp]]:
    @functools.wraps(handler)
    async def wrapped(self: Self, request: Any, context: Any) -> AsyncIterator[Resp]:
        try:
            async for item in handler(self, request, context):
                yield item
        except BaseException as exc:
            if _passes(exc) or not isinstance(exc, Exception):
                raise
            await abort_with(context, exc)

    return wrapped
