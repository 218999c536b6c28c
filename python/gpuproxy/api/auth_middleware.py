"""Raw ASGI authentication and rate-limit middleware (it runs on every request).

Resolves `Authorization: Bearer <jwt | api key>` or `X-API-Key` into `scope["user"]`
(a Principal); requests without valid credentials pass on without a user and the route's
guards answer 401. An authenticated request is counted by the rate limiter: over the limit
it is answered 429 here with Retry-After; otherwise the response carries
X-RateLimit-Limit/Remaining/Reset. The decision itself is `gpuproxy.accounts.admission`.
Raw ASGI rather than a Litestar middleware class because it sits on the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from gpuproxy.accounts.admission import Refusal, admit
from gpuproxy.asgi_types import ASGIApp, Message, Receive, Scope, Send
from gpuproxy.dashboard.session import dashboard_credential_headers
from gpuproxy.error_types import error_body
from gpuproxy.services import Services

if TYPE_CHECKING:
    from gpuproxy.accounts.service import AccountsService

__all__ = ["AuthMiddleware", "accounts_from_scope", "send_json", "send_refusal"]

_encode = msgspec.json.Encoder().encode
_JSON = (b"content-type", b"application/json")


def accounts_from_scope(scope: Scope) -> AccountsService | None:
    """The AccountsService of the app serving `scope` (None before startup finished)."""
    services = getattr(getattr(scope.get("app"), "state", None), "services", None)
    return services.accounts if isinstance(services, Services) else None


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    head = [_JSON, (b"content-length", str(len(body)).encode())]
    if headers:
        head.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


async def send_refusal(send: Send, refusal: Refusal, extra: list[tuple[bytes, bytes]]) -> None:
    """Answer a refusal as a JSON error (`extra` headers after the refusal's own)."""
    status, message, code, headers = refusal
    body = _encode(error_body(status, message, code=code))
    await send_json(send, status, body, [*headers, *extra])


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_limits)
