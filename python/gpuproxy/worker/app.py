"""The worker's HTTP surface as one raw ASGI callable (fast: it is the benchmarks' stub
upstream): `/health`, `/v1/models`, `/v1/chat/completions`, `/v1/completions`,
`/v1/embeddings`, errors in the OpenAI shape.

With an `authorization` value (see `gpuproxy.worker.serve_auth`) every route answers 401
to a request without it; `/health` still answers unauthenticated callers, with its status
only (load balancers and the local fleet's start check), never the details."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Any, Protocol

import msgspec

from gpuproxy.asgi_types import Receive, Scope, Send
from gpuproxy.worker._asgi import BodyTooLarge, Responder, openai_error, read_body
from gpuproxy.worker.gpu import GpuProbe
from gpuproxy.worker.serve_auth import authorized
from gpuproxy.worker.simulate import RequestError, SimulateBackend
from gpuproxy.worker.upstream import UpstreamBackend

__all__ = ["Backend", "WorkerApp"]

MAX_BODY = 8 * 1024 * 1024
_ROUTES = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
}
_decoder = msgspec.json.Decoder()


class Backend(Protocol):
    name: str

    async def models(self) -> list[str]: ...

    async def healthy(self) -> bool: ...

    async def aclose(self) -> None: ...


async def _until_disconnect(work: Awaitable[None], receive: Receive) -> None:
    """Run `work`, cancelling it when the client disconnects (ASGI `http.disconnect`)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not task.cancelled():
        task.result()  # re-raise what the handler raised (e.g. RequestError -> 400)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class WorkerApp:
    """ASGI app; `in_flight` counts requests being answered (reported in heartbeats)."""

    def __init__(
        self,
        backend: SimulateBackend | UpstreamBackend,
        gpus: GpuProbe,
        *,
        authorization: str | None = None,
    ) -> None:
        self.backend = backend
        self._authorization = authorization.encode() if authorization else None
        self.gpus = gpus
        self.in_flight = 0
        self.served = 0
        self.started = time.time()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        out = Responder(send)
        path: str = scope["path"]
        method: str = scope["method"]
        caller_ok = self._caller_ok(scope)
        if path == "/health" and method in ("GET", "HEAD"):
            await self._health(out, details=caller_ok)
        elif not caller_ok:
            await out.json(
                401,
                openai_error("this worker serves its gateway only", code="unauthorized"),
            )
        elif path == "/v1/models" and method == "GET":
            await self._models(out)
        elif path in _ROUTES:
            if method != "POST":
                await out.json(405, openai_error("use POST", code="method_not_allowed"))
                return
            self.in_flight += 1
            try:
                await self._inference(path, receive, out)
            finally:
                self.in_flight -= 1
                self.served += 1
        else:
            await out.json(404, openai_error(f"no route {path}", code="not_found"))

    def _caller_ok(self, scope: Scope) -> bool:
        if self._authorization is None:
            return True
        presented = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        return authorized(self._authorization, presented)

    async def _health(self, out: Responder, *, details: bool) -> None:
        healthy = await self.backend.healthy()
        if not details:
            await out.json(200 if healthy else 503, {"status": "ok" if healthy else "degraded"})
            return
        await out.json(
            200 if healthy else 503,
            {
                "status": "ok" if healthy else "degraded",
                "backend": self.backend.name,
                "models": await self.backend.models(),
                "in_flight": self.in_flight,
                "served": self.served,
                "uptime_s": round(time.time() - self.started, 3),
                "gpus": [msgspec.to_builtins(g) for g in self.gpus.gpus],
            },
        )

    async def _models(self, out: Responder) -> None:
        created = int(self.started)
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": "gpuproxy-worker"}
            for m in await self.backend.models()
        ]
        await out.json(200, {"object": "list", "data": data})

    async def _inference(self, path: str, receive: Receive, out: Responder) -> None:
        try:
            body = await read_body(receive, MAX_BODY)
        except BodyTooLarge:
            await out.json(413, openai_error("request body too large", code="body_too_large"))
            return
        except ConnectionResetError:
            return
        if isinstance(self.backend, UpstreamBackend):
            await _until_disconnect(self.backend.forward(path, body, out), receive)
            return
        try:
            payload = _decoder.decode(body)
        except msgspec.DecodeError:
            await out.json(400, openai_error("the body is not valid JSON", code="invalid_json"))
            return
        if not isinstance(payload, dict):
            await out.json(400, openai_error("the body must be a JSON object"))
            return
        handler: Any = getattr(self.backend, _ROUTES[path])
        call = handler(payload, out)
        slow = payload.get("stream") or self.backend.token_rate > 0
        try:
            # Only paced or streamed answers take long enough to be worth watching for a
            # client that left; cancelling stops generating tokens nobody reads.
            await (_until_disconnect(call, receive) if slow else call)
        except RequestError as exc:
            if not out.started:
                await out.json(exc.status, openai_error(str(exc), param=exc.param, code=exc.code))
        except OSError:
            pass  # the client went away mid-stream; nothing to answer
