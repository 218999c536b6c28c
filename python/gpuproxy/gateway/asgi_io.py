"""Small raw-ASGI helpers for the control plane's middleware (no framework objects)."""

from __future__ import annotations

from typing import Any

__all__ = ["Receive", "Scope", "Send", "send_json"]

Scope = dict[str, Any]
Receive = Any
Send = Any

_JSON = (b"content-type", b"application/json")


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    head = [_JSON, (b"content-length", str(len(body)).encode())]
    if headers:
        head.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
