"""Raw ASGI middleware: a request id on every request, log line and response.

A caller's `X-Request-ID` is kept when it is short and printable; otherwise a new one is
made. Written as raw ASGI (not Litestar middleware classes) because it runs on the hot path.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from gpuproxy.asgi_types import ASGIApp, Message, Receive, Scope, Send
from gpuproxy.logs import REQUEST_ID

__all__ = ["RequestIdMiddleware", "valid_request_id"]

_VALID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_HEADER = b"x-request-id"

access_log = logging.getLogger("gpuproxy.access")


def valid_request_id(value: bytes) -> bool:
    """A caller's X-Request-ID is kept when short and printable (else a new one is made)."""
    return _VALID.match(value) is not None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, *, log_requests: bool = False) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == _HEADER:
                if _VALID.match(value):
                    request_id = value.decode()
                break
        if not request_id:
            request_id = uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder: list[int] = [0]
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (_HEADER, encoded)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.log_requests:
                # Method, path and status only: query strings and headers can carry secrets.
                access_log.debug(
                    "%s %s -> %s in %.1f ms",
                    scope.get("method", "WS"),
                    scope.get("path", ""),
                    status_holder[0],
                    (time.perf_counter() - started) * 1000,
                )
            REQUEST_ID.reset(token)
