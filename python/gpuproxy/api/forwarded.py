"""The client address of requests the data plane hands to the control plane.

Behind the Rust listener the app is served on a Unix socket only the listener can reach,
so every request's peer is the listener; it appends the real client address to
`X-Forwarded-For`. This wrapper puts that last hop into `scope["client"]` (what login
throttling, audit lines and the generic proxy read). Only the last entry is trusted:
anything before it came from the client.
"""

from __future__ import annotations

from gpuproxy.asgi_types import ASGIApp, Receive, Scope, Send

__all__ = ["ForwardedClient", "last_forwarded_for"]


def last_forwarded_for(headers: list[tuple[bytes, bytes]]) -> str | None:
    value: bytes | None = None
    for name, raw in headers:
        if name == b"x-forwarded-for":
            value = raw  # several headers: the last one is the listener's
    if value is None:
        return None
    last = value.rsplit(b",", 1)[-1].strip()
    return last.decode("latin-1") or None


class ForwardedClient:
    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = last_forwarded_for(scope["headers"])
            if client is not None:
                scope["client"] = (client, 0)
        await self.app(scope, receive, send)
