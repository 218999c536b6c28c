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
from gpuproxy.accounts.principal import Principal
from gpuproxy.accounts.ratelimit import RateDecision
from gpuproxy.api.errors import error_body
from gpuproxy.dashboard.session import dashboard_credential_headers
from gpuproxy.gateway.asgi_io import send_json

__all__ = ["AuthMiddleware", "Refusal", "accounts_from_scope", "admit", "send_refusal"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
ASGIApp = Any
_encode = msgspec.json.Encoder().encode


def accounts_from_scope(scope: Scope) -> Any:
    """The AccountsService of the app serving `scope` (None before startup finished)."""
    app = scope.get("app")
    services = getattr(getattr(app, "state", None), "services", None)
    return getattr(services, "accounts", None)


Refusal = tuple[int, str, str, list[tuple[bytes, bytes]]]
"""An answer instead of the route: (status, message, error code, headers)."""


async def admit(
    accounts: Any, headers: list[tuple[bytes, bytes]]
) -> tuple[Principal | None, Refusal | None, list[tuple[bytes, bytes]]]:
    """Authenticate and rate-limit one request: (caller, refusal, rate-limit headers).

    The one place both the middleware and the inference fast path decide this. No or bad
    credentials give (None, None, []): the route answers 401 itself. The memory-only
    lookup runs first so a cached key costs no await.
    """
    principal = accounts.authenticate_cached(headers)
    if not (principal is None or isinstance(principal, Principal)):
        try:
            principal = await accounts.authenticate(headers)
        except AuthUnavailable as exc:
            log.error("authentication unavailable: %s", exc)
            return None, (503, str(exc), "auth_unavailable", [(b"retry-after", b"1")]), []
    if principal is None:
        return None, None, []
    decision: RateDecision | None = await accounts.rate_limit(principal)
    if decision is None:
        return principal, None, []
    if not decision.allowed:
        message = f"rate limit of {decision.limit} requests per minute exceeded"
        return principal, (429, message, "rate_limited", decision.headers()), []
    return principal, None, decision.headers()


async def send_refusal(send: Any, refusal: Refusal, extra: list[tuple[bytes, bytes]]) -> None:
    """Answer a refusal as a JSON error (`extra` headers after the refusal's own)."""
    status, message, code, headers = refusal
    body = _encode(error_body(status, message, code=code))
    await send_json(send, status, body, [*headers, *extra])


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        accounts = accounts_from_scope(scope) if kind in ("http", "websocket") else None
        if accounts is None:
            await self.app(scope, receive, send)
            return
        # The dashboard's session cookie counts on /dashboard paths only (gpuproxy.dashboard).
        headers = dashboard_credential_headers(scope) if kind == "http" else scope["headers"]
        principal, refusal, extra = await admit(accounts, headers)
        if principal is not None:
            scope["user"] = principal
        if refusal is not None:
            if kind == "websocket":  # 1013 try again later, 1008 policy (rate limit)
                await send({"type": "websocket.close", "code": 1013 if refusal[0] == 503 else 1008})
                return
            await send_refusal(send, refusal, [])
            return
        if kind == "websocket" or not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_limits)
