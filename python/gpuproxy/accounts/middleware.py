"""Raw ASGI authentication and rate-limit middleware (it runs on every request).

Resolves `Authorization: Bearer <jwt | api key>` or `X-API-Key` into `scope["user"]`
(a Principal); requests without valid credentials pass on without a user and the route's
guards answer 401. An authenticated request is counted by the rate limiter: over the limit
it is answered 429 here with Retry-After; otherwise the response carries
X-RateLimit-Limit/Remaining/Reset. Raw ASGI rather than a Litestar middleware class
because it sits on the hot path.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from gpuproxy.accounts.errors import AuthUnavailable
from gpuproxy.accounts.ratelimit import RateDecision
from gpuproxy.api.errors import error_body

__all__ = ["AuthMiddleware", "accounts_from_scope"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
ASGIApp = Any
_encode = msgspec.json.Encoder().encode


def accounts_from_scope(scope: Scope) -> Any:
    """The AccountsService of the app serving `scope` (None before startup finished)."""
    app = scope.get("app")
    services = getattr(getattr(app, "state", None), "services", None)
    return getattr(services, "accounts", None)


async def _send_error(
    send: Any, status: int, message: str, code: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = _encode(error_body(status, message, code=code))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        accounts = accounts_from_scope(scope) if kind in ("http", "websocket") else None
        if accounts is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = await accounts.authenticate(scope["headers"])
        except AuthUnavailable as exc:
            log.error("authentication unavailable: %s", exc)
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1013})
                return
            await _send_error(send, 503, str(exc), "auth_unavailable", [(b"retry-after", b"1")])
            return
        if principal is None:
            await self.app(scope, receive, send)
            return
        scope["user"] = principal
        decision: RateDecision | None = await accounts.rate_limit(principal)
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            message = f"rate limit of {decision.limit} requests per minute exceeded"
            await _send_error(send, 429, message, "rate_limited", decision.headers())
            return
        if kind == "websocket":
            await self.app(scope, receive, send)
            return
        extra = decision.headers()

        async def send_with_limits(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_limits)
