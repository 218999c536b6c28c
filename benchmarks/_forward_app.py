"""Raw ASGI apps for benchmarks/forward_overhead.py, served by Granian.

`forward`: forwards every request through `gpuproxy._core.Forwarder` to FWD_UPSTREAM and
streams the answer back (the minimum a gateway route does around the forwarder).
`static`: answers a fixed body without forwarding (Granian + ASGI cost alone).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from gpuproxy._core import Forwarder

__all__ = ["forward", "static"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

UPSTREAM = os.environ.get("FWD_UPSTREAM", "127.0.0.1:9000")
STATIC_BODY = os.environ.get("FWD_STATIC_BODY", '{"ok":true}').encode()
_forwarder: Forwarder | None = None


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    while message.get("more_body"):
        message = await receive()
        body += message.get("body", b"")
    return body


async def forward(scope: Scope, receive: Receive, send: Send) -> None:
    global _forwarder
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if _forwarder is None:
        _forwarder = Forwarder(runtime_threads=int(os.environ.get("FWD_THREADS", "1")))
    body = await _body(receive)
    path = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
    client = scope.get("client")
    resp = await _forwarder.forward_to(
        UPSTREAM,
        scope["method"],
        path,
        scope["headers"],
        body,
        client_ip=client[0] if client else None,
    )
    await send({"type": "http.response.start", "status": resp.status, "headers": resp.headers})
    async for chunk in resp:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def static(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await _body(receive)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": STATIC_BODY, "more_body": False})
