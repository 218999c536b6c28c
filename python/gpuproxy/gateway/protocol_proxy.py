"""The generic protocol proxy (seed 001): one request to a checked target, four protocols.

- `http` / `https`: the request as given (method, headers, body).
- `mcp`: the body becomes a JSON-RPC 2.0 request (`{"method", "params"}` -> with `jsonrpc`
  and an `id`), POSTed with the Accept header MCP's streamable HTTP transport expects.
- `openinference`: the body becomes an Open Inference Protocol v2 infer request
  (`POST .../v2/models/{model}/infer` with a BYTES `text_input` tensor; other fields go to
  `parameters`), unless it already has `inputs`.

Targets pass `TargetPolicy` first (no open SSRF relay). The caller's own workers are
reached through the Rust forwarder at the checked address. Allowlisted external hosts go
through an httpx client connecting to the checked (pinned) address with the original Host
header and TLS server name, because the Rust forwarder speaks plain HTTP only and sets
Host to the address it connects to. Redirects are never followed (a redirect could point
anywhere); they are returned to the caller as they are.

Nothing waits or buffers without a bound: the head must come within the call's timeout, each
later chunk within `stall_timeout_s` (GATEWAY_STALL_TIMEOUT_SECONDS; a buffered answer then
fails with 504 `upstream_stalled`, a streamed SSE answer ends with an `error` event, any other
stream is cut), and a buffered answer may hold `max_response_bytes`
(GATEWAY_PROXY_MAX_RESPONSE_BYTES; then 502 `upstream_body_too_large`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from gpuproxy import _core
from gpuproxy.exceptions import UpstreamError
from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.ssrf import ProxyTarget, TargetPolicy, own_endpoints
from gpuproxy.gateway.workers import WorkerInfo

__all__ = ["PROTOCOLS", "OpenResponse", "ProtocolProxy", "ProxyCall", "ProxyResult", "build_call"]

PROTOCOLS = ("http", "https", "mcp", "openinference")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: Request headers a caller may not set on the proxied request.
_FORBIDDEN_HEADERS = frozenset(
    {
        "host", "connection", "keep-alive", "proxy-authorization", "proxy-connection", "te",
        "trailer", "transfer-encoding", "upgrade", "content-length", "x-forwarded-for",
        "x-forwarded-host", "x-real-ip", "forwarded",
    }
)  # fmt: skip
#: Response headers not passed back (hop-by-hop; length and encoding change on the way).
_DROP_RESPONSE = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "trailer", "upgrade", "content-length",
     "content-encoding"}
)  # fmt: skip
_encode = msgspec.json.Encoder().encode

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ProxyCall:
    protocol: str
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    timeout_s: float


@dataclass(slots=True)
class ProxyResult:
    status_code: int
    headers: dict[str, str]
    body: bytes
    target: ProxyTarget
    content_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def body_view(self) -> Any:
        """JSON when the answer is JSON, text when it decodes, base64 otherwise."""
        if "json" in self.content_type:
            try:
                return msgspec.json.decode(self.body)
            except msgspec.DecodeError:
                pass
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(self.body).decode()}


def _bad(field_name: str, message: str) -> GatewayError:
    return GatewayError(400, f"{field_name}: {message}", param=field_name, code="invalid_value")


def _encode_body(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode()
    return _encode(body)


def build_call(
    protocol: str,
    target_url: str,
    method: str | None,
    headers: dict[str, str] | None,
    body: Any,
    timeout_s: float,
) -> ProxyCall:
    """Validate the fields and shape the request for its protocol."""
    if protocol not in PROTOCOLS:
        raise _bad("protocol", "must be one of " + ", ".join(PROTOCOLS))
    if not target_url:
        raise _bad("target_url", "required")
    clean: dict[str, str] = {}
    for name, value in (headers or {}).items():
        lowered = name.strip().lower()
        if not lowered or lowered in _FORBIDDEN_HEADERS or "\n" in value or "\r" in value:
            raise _bad("headers", f"{name!r} cannot be set")
        clean[lowered] = value
    verb = (
        method or ("POST" if body is not None or protocol in ("mcp", "openinference") else "GET")
    ).upper()
    if verb not in _METHODS:
        raise _bad("method", "must be one of " + ", ".join(sorted(_METHODS)))
    url = target_url
    if protocol == "https" and not url.lower().startswith("https://"):
        raise _bad("target_url", "protocol https needs an https:// URL")
    if protocol == "mcp":
        verb = "POST"
        body = _json_rpc(body)
        clean.setdefault("content-type", "application/json")
        clean.setdefault("accept", "application/json, text/event-stream")
    elif protocol == "openinference":
        verb = "POST"
        body, url = _open_inference(body, url)
        clean.setdefault("content-type", "application/json")
    elif body is not None and not isinstance(body, str):
        clean.setdefault("content-type", "application/json")
    return ProxyCall(protocol, url, verb, clean, _encode_body(body), timeout_s)


def _json_rpc(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _bad("body", "protocol mcp needs an object with method and params")
    if body.get("jsonrpc") == "2.0":
        return body
    method = body.get("method")
    if not isinstance(method, str) or not method:
        raise _bad("body", "protocol mcp needs a method name")
    request: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": body.get("id", uuid.uuid4().hex),
        "method": method,
    }
    if body.get("params") is not None:
        request["params"] = body["params"]
    return request


def _open_inference(body: Any, url: str) -> tuple[dict[str, Any], str]:
    if not isinstance(body, dict):
        raise _bad("body", "protocol openinference needs an object")
    model = body.get("model") or body.get("model_name")
    if "/v2/models/" not in url:
        if not isinstance(model, str) or not model:
            raise _bad("body", "protocol openinference needs model (or a /v2/models/ URL)")
        url = url.rstrip("/") + f"/v2/models/{quote(model, safe='')}/infer"
    if "inputs" in body:
        return body, url
    prompt = body.get("prompt", body.get("input", body.get("text")))
    if not isinstance(prompt, str):
        raise _bad("body", "protocol openinference needs inputs or a prompt string")
    parameters = {
        k: v
        for k, v in body.items()
        if k not in ("model", "model_name", "prompt", "input", "text", "id")
    }
    request: dict[str, Any] = {
        "id": str(body.get("id") or uuid.uuid4().hex),
        "inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES", "data": [prompt]}],
    }
    if parameters:
        request["parameters"] = parameters
    return request, url


class OpenResponse:
    """An answer whose head arrived: status, headers, and the body still to read."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        chunks: AsyncIterator[bytes],
        close: Callable[[], Awaitable[None]],
        target: ProxyTarget,
        *,
        stall_timeout_s: float = 120.0,
        max_response_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content_type = headers.get("content-type", "")
        self.target = target
        self._chunks = chunks
        self._close = close
        self.stall_timeout_s = stall_timeout_s
        self.max_response_bytes = max_response_bytes

    async def _timed(self) -> AsyncIterator[bytes]:
        """The body's chunks, each within the stall timeout (504 `upstream_stalled` if not)."""
        chunks = aiter(self._chunks)
        while True:
            try:
                async with asyncio.timeout(self.stall_timeout_s):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise GatewayError(
                    504,
                    f"the target sent nothing for {self.stall_timeout_s:g} s",
                    code="upstream_stalled",
                ) from None
            yield chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it comes. The status was sent already, so a failure mid-way ends an SSE
        stream with an `error` event and cuts any other stream (its end is missing)."""
        try:
            async for chunk in self._timed():
                yield chunk
        except GatewayError as exc:
            log.warning("proxied stream from %s ended: %s", self.target.host, exc)
            if "text/event-stream" not in self.content_type:
                raise
            yield b"event: error\ndata: " + exc.body() + b"\n\n"
        finally:
            await self._close()

    async def read(self) -> ProxyResult:
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in self._timed():
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise GatewayError(
                        502,
                        f"the target's answer is larger than {self.max_response_bytes} bytes "
                        "(ask for stream: true)",
                        code="upstream_body_too_large",
                    )
                parts.append(chunk)
        finally:
            await self._close()
        return ProxyResult(
            self.status, self.headers, b"".join(parts), self.target, self.content_type
        )


def _clean_response_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in pairs if k.lower() not in _DROP_RESPONSE}


class ProtocolProxy:
    def __init__(
        self,
        policy: TargetPolicy,
        forwarder: _core.Forwarder,
        *,
        stall_timeout_s: float = 120.0,
        max_response_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.policy = policy
        self.forwarder = forwarder
        self.stall_timeout_s = stall_timeout_s
        self.max_response_bytes = max_response_bytes
        # Never follows redirects; connects to the pinned address (see the module doc).
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def resolve(self, call: ProxyCall, own_workers: list[WorkerInfo]) -> ProxyTarget:
        endpoints = own_endpoints((w.worker_id, w.address, w.pinned_ips) for w in own_workers)
        return await self.policy.check(call.url, endpoints)

    async def open(
        self, call: ProxyCall, target: ProxyTarget, request_id: str | None
    ) -> OpenResponse:
        """Send the request; returns once the answer's head is here (within the timeout)."""
        try:
            async with asyncio.timeout(call.timeout_s):
                if target.via == "worker" and target.scheme == "http":
                    return await self._via_rust(call, target, request_id)
                return await self._via_httpx(call, target, request_id)
        except TimeoutError:
            raise GatewayError(
                504,
                f"the target did not answer within {call.timeout_s:g} s",
                code="upstream_timeout",
            ) from None

    async def _via_rust(
        self, call: ProxyCall, target: ProxyTarget, request_id: str | None
    ) -> OpenResponse:
        headers = [(k.encode(), v.encode()) for k, v in call.headers.items()]
        try:
            response = await self.forwarder.forward_to(
                f"http://{target.pinned_authority}",
                call.method,
                target.path_and_query,
                headers,
                call.body,
                request_id=request_id,
            )
        except UpstreamError as exc:
            raise GatewayError(
                exc.http_status, f"the target failed: {exc}", code=f"upstream_{exc.kind}"
            ) from None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response:
                    yield chunk
            except UpstreamError as exc:
                raise GatewayError(
                    exc.http_status, f"the target failed: {exc}", code=f"upstream_{exc.kind}"
                ) from None

        async def close() -> None:
            response.close()

        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
        return self._opened(response.status, pairs, chunks(), close, target)

    async def _via_httpx(
        self, call: ProxyCall, target: ProxyTarget, request_id: str | None
    ) -> OpenResponse:
        headers = dict(call.headers)
        headers["host"] = target.host_header
        if request_id:
            headers.setdefault("x-request-id", request_id)
        url = f"{target.scheme}://{target.pinned_authority}{target.path_and_query}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request(
            call.method, url, headers=headers, content=call.body,
            timeout=call.timeout_s, extensions=extensions,
        )  # fmt: skip
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise GatewayError(
                504, "the target did not answer in time", code="upstream_timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise GatewayError(
                502, f"the target failed: {type(exc).__name__}", code="upstream_connect"
            ) from None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_bytes():
                    yield chunk
            except httpx.HTTPError as exc:
                raise GatewayError(
                    502, f"the target failed: {type(exc).__name__}", code="upstream_reset"
                ) from None

        return self._opened(
            response.status_code, response.headers.items(), chunks(), response.aclose, target
        )

    def _opened(
        self,
        status: int,
        headers: Iterable[tuple[str, str]],
        chunks: AsyncIterator[bytes],
        close: Callable[[], Awaitable[None]],
        target: ProxyTarget,
    ) -> OpenResponse:
        return OpenResponse(
            status,
            _clean_response_headers(headers),
            chunks,
            close,
            target,
            stall_timeout_s=self.stall_timeout_s,
            max_response_bytes=self.max_response_bytes,
        )
