"""Small raw-ASGI helpers for the gateway's hot routes (no framework objects per request)."""

from __future__ import annotations

from typing import Any

from gpuproxy.gateway.errors import GatewayError

__all__ = ["Receive", "Scope", "Send", "read_body", "send_error", "send_json"]

Scope = dict[str, Any]
Receive = Any
Send = Any

_JSON = (b"content-type", b"application/json")


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; 413 past `limit` bytes."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise GatewayError(413, f"request body is larger than {limit} bytes")
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError(499, "client disconnected while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise GatewayError(413, f"request body is larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    head = [_JSON, (b"content-length", str(len(body)).encode())]
    if headers:
        head.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: GatewayError) -> None:
    await send_json(send, error.status, error.body(), error.headers)
