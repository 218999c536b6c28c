"""The served ASGI app: OpenAI inference routes straight to the gateway, the rest to Litestar.

A Litestar route costs about three times a raw ASGI callable before any work is done, and
even a raw `@asgi` handler inside the app still pays for Litestar's router, CORS and
exception middleware and the request-id and auth middleware wrapping (~60 us a request
here, profile in benchmarks/results/). `FastPathApp` sits in front of the Litestar app and
sends the exact hot paths (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
`/v1/models` and their `/api/v1/...` twins) to the gateway handlers directly, doing inline
what the middleware would do, with the same results:

- request id: the caller's `X-Request-ID` when short and printable, else a new one; set in
  `scope["state"]["request_id"]`, the logging context, and the response header;
- authentication through `services.accounts` (memory cache first; a miss awaits the same
  loader the middleware uses) and the per-user rate limit, answering 503/429 the same way
  and adding the X-RateLimit-* headers;
- an unexpected exception becomes a 500 in the OpenAI error shape, as Litestar would.

Everything else goes to Litestar unchanged: other paths, the lifespan (startup hooks),
websockets, CORS preflights and any request carrying an `Origin` header (browsers get the
CORS middleware's headers), and every request before startup has finished. The Litestar
registrations of these routes stay: they document them in the OpenAPI schema and serve
the fallback cases.
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Litestar

from gpuproxy.accounts.middleware import admit, send_refusal
from gpuproxy.api.errors import error_body
from gpuproxy.api.openai_routes import OPENAI_RAW_ROUTES
from gpuproxy.api.request_id import valid_request_id
from gpuproxy.gateway.asgi_io import Receive, Scope, Send, send_json
from gpuproxy.logs import REQUEST_ID

__all__ = ["FAST_PATHS", "FastPathApp"]

log = logging.getLogger(__name__)
access_log = logging.getLogger("gpuproxy.access")

_Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
#: (status, message, code, headers): an answer the middleware would have given itself.
_encode = msgspec.json.Encoder().encode


#: Exact path -> the raw handler (the Litestar registrations document the same paths).
FAST_PATHS: dict[str, _Handler] = dict(OPENAI_RAW_ROUTES)
_REQUEST_ID = b"x-request-id"
_ORIGIN = b"origin"


def _freeze_after_startup(send: Send) -> Send:
    async def send_lifespan(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            # What startup built (the app, routes, services) lives as long as the process:
            # move it out of the collector's generations, so the collections that
            # per-request garbage triggers do not walk it each time (~14% of the loop's time
            # under load before this).
            gc.collect()
            gc.freeze()
        await send(message)

    return send_lifespan


class _AddHeaders:
    """The server's `send`, adding `extra` to the response head and noting its status.

    (A slotted object rather than a closure: smaller for each held stream.)"""

    __slots__ = ("extra", "send", "status")

    def __init__(self, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        self.send = send
        self.extra: list[tuple[bytes, bytes]] | None = extra
        self.status = 0

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), *(self.extra or ())]
            self.extra = None  # sent: not held for the rest of a long stream
        await self.send(message)


class FastPathApp:
    """ASGI app: `FAST_PATHS` handled here, everything else by `litestar`."""

    __slots__ = ("downstream", "freeze_gc", "litestar", "log_requests")

    def __init__(
        self, litestar: Litestar, *, log_requests: bool = False, freeze_gc: bool = False
    ) -> None:
        self.litestar = litestar
        #: gc.freeze() once startup completes (the server process; not in-process tests)
        self.freeze_gc = freeze_gc
        #: the same app as an untyped ASGI callable (Litestar types its scopes narrowly)
        self.downstream: Any = litestar
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] != "OPTIONS":
            handler = FAST_PATHS.get(scope["path"])
            if handler is not None:
                services = getattr(self.litestar.state, "services", None)
                accounts = getattr(services, "accounts", None)
                if accounts is not None:
                    await self._serve(handler, accounts, scope, receive, send)
                    return
        elif scope["type"] == "lifespan" and self.freeze_gc:
            await self.downstream(scope, receive, _freeze_after_startup(send))
            return
        await self.downstream(scope, receive, send)

    async def _serve(
        self, handler: _Handler, accounts: Any, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request_id = ""
        seen_id = False
        for name, value in scope["headers"]:
            if name == _REQUEST_ID and not seen_id:
                seen_id = True  # the first one counts, as in the middleware
                if valid_request_id(value):
                    request_id = value.decode()
            elif name == _ORIGIN:
                # Browsers: the CORS middleware's headers are Litestar's job (not hot).
                await self.downstream(scope, receive, send)
                return
        if not request_id:
            request_id = uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter() if self.log_requests else 0.0
        status = 0
        sender: _AddHeaders | None = None
        # Response headers added to the handler's: the rate-limit ones, then the request id
        # (the order the two middlewares give).
        try:
            scope["app"] = self.litestar
            state = scope.get("state")
            if state is None:
                scope["state"] = {"request_id": request_id}
            else:
                state["request_id"] = request_id
            principal, refusal, extra = await admit(accounts, scope["headers"])
            if principal is not None:
                scope["user"] = principal
            extra.append((_REQUEST_ID, request_id.encode()))
            if refusal is not None:
                status = refusal[0]
                await send_refusal(send, refusal, extra)
                return

            sender = _AddHeaders(send, extra)
            del extra  # the sender holds it until the head is out
            try:
                await handler(scope, receive, sender)
            except Exception:
                log.exception("unhandled error on %s", scope["path"])
                if sender.status:
                    raise  # the head is out: the server closes the connection
                status = 500
                body = _encode(error_body(500, "internal server error", code="internal"))
                await send_json(send, 500, body, sender.extra or [])
        finally:
            if sender is not None:
                status = sender.status or status
            if self.log_requests:
                # Method, path and status only: query strings and headers can carry secrets.
                access_log.debug(
                    "%s %s -> %s in %.1f ms",
                    scope["method"],
                    scope["path"],
                    status,
                    (time.perf_counter() - started) * 1000,
                )
            REQUEST_ID.reset(token)
