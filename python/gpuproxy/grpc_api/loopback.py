"""The proxy RPCs' way into the one inference path: HTTP/1.1 to this process's public port.

A ProxyRequestMessage becomes the HTTP request a client would have sent, with the caller's
own credential (its `authorization` / `x-api-key` metadata): a gateway path such as
`/v1/chat/completions` is served by the Rust data plane (authenticated, rate-limited,
reserved, metered and billed there); an absolute URL goes to the generic protocol proxy
(`POST /api/v1/gpu/proxy`, the same SSRF policy and limits as over HTTP). Nothing here
decides money or access; it only translates.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import msgspec

from gpuproxy.gateway.data_plane import LISTEN_ENV
from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api.errors import StatusError, grpc_code

__all__ = ["DEFAULT_TIMEOUT_S", "MAX_TIMEOUT_S", "Loopback", "ProxyPlan", "loopback_url", "plan"]

DEFAULT_TIMEOUT_S = 30
MAX_TIMEOUT_S = 300
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: Request headers a message may not set: the credential comes from the call's metadata
#: (a message cannot act as someone else), the rest is hop-by-hop or set by the client.
_DROPPED_REQUEST = frozenset(
    {"authorization", "x-api-key", "host", "connection", "content-length", "transfer-encoding",
     "te", "upgrade", "keep-alive", "proxy-authorization", "x-forwarded-for", "forwarded"}
)  # fmt: skip
_DROPPED_RESPONSE = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
#: Answers of the gateway itself that are the caller's problem, not the upstream's: they
#: end the RPC with a status (UNAUTHENTICATED, RESOURCE_EXHAUSTED, PERMISSION_DENIED).
_REFUSALS = frozenset({401, 402, 403, 429})
#: The generic proxy marks its streamed answers (its own errors do not carry it).
_PROXY_TARGET_HEADER = "x-proxy-target"
_GENERIC_PATH = "/api/v1/gpu/proxy"


def loopback_url() -> str | None:
    """http://host:port of the data plane of this process, or None when it is not running."""
    listen = os.environ.get(LISTEN_ENV)
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True, slots=True)
class ProxyPlan:
    method: str
    path: str
    headers: dict[str, str]
    content: bytes
    timeout_s: float
    #: True: an absolute target through the generic protocol proxy (its JSON envelope).
    generic: bool


def _invalid(field: str, message: str) -> StatusError:
    return StatusError(
        grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {message}", param=field,
        reason="invalid_value",
    )  # fmt: skip


def _generic_body(raw: bytes) -> Any:
    """The message's bytes as the generic proxy's JSON `body` field (JSON, else text)."""
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("body", "must be JSON or UTF-8 text for an absolute target_url") from None


def plan(
    message: pb.ProxyRequestMessage,
    credential: dict[str, str],
    *,
    stream: bool,
    deadline_s: float | None,
) -> ProxyPlan:
    """The HTTP request for one message (INVALID_ARGUMENT naming the field otherwise)."""
    timeout = message.timeout or DEFAULT_TIMEOUT_S
    if not 0 < timeout <= MAX_TIMEOUT_S:
        raise _invalid("timeout", f"expected seconds in 1..{MAX_TIMEOUT_S}")
    effective = float(timeout) if deadline_s is None else max(min(timeout, deadline_s), 0.001)
    method = (message.method or "POST").upper()
    if method not in _METHODS:
        raise _invalid("method", "must be one of " + ", ".join(sorted(_METHODS)))
    headers = {k: v for k, v in message.headers.items() if k.lower() not in _DROPPED_REQUEST}
    target = message.target_url.strip()
    if not target:
        raise _invalid("target_url", "is required (a gateway path such as /v1/chat/completions "
                       "or an absolute http(s) URL)")  # fmt: skip
    if target.startswith("/"):
        if target.startswith("//") or any(c in target for c in "\r\n "):
            raise _invalid("target_url", "must be a path on this gateway")
        return ProxyPlan(method, target, {**headers, **credential}, message.body, effective, False)
    envelope = {
        "protocol": (message.protocol or target.partition(":")[0]).lower(),
        "target_url": target,
        "method": message.method or None,
        "headers": headers or None,
        "body": _generic_body(message.body),
        "timeout": effective,
        "stream": stream,
    }
    return ProxyPlan(
        "POST",
        _GENERIC_PATH,
        {"content-type": "application/json", **credential},
        msgspec.json.encode(envelope),
        effective,
        True,
    )


def _error_of(status: int, body: bytes) -> StatusError:
    try:
        error = msgspec.json.decode(body).get("error") or {}
    except (msgspec.DecodeError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    windows = None
    if error.get("code") == "spending_limit_exceeded":
        with contextlib.suppress(msgspec.DecodeError, AttributeError, TypeError):
            windows = [v["window"] for v in msgspec.json.decode(body).get("violations") or []]
    return StatusError(
        grpc_code(status), str(error.get("message") or f"HTTP {status}"),
        reason=str(error.get("code") or ""), param=error.get("param"), windows=windows,
    )  # fmt: skip


def _headers(response: httpx.Response) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in response.headers.multi_items():
        name = key.lower()
        if name not in _DROPPED_RESPONSE:
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


class Loopback:
    """One pooled HTTP client to the public port, shared by every proxy RPC."""

    def __init__(self, base_url: str, *, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.http = httpx.AsyncClient(
            base_url=base_url,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            trust_env=False,  # loopback: never through an HTTP(S)_PROXY
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def unary(self, step: ProxyPlan) -> pb.ProxyResponse:
        """The whole answer in one message (bounded by the gRPC message size)."""
        parts = [part async for part in self.stream(step, 0, bounded=True)]
        head = parts[0]
        body = b"".join(p.body for p in parts)
        return pb.ProxyResponse(
            status_code=head.status_code, headers=head.headers, body=body, error=head.error
        )

    async def stream(
        self, step: ProxyPlan, sequence: int, *, bounded: bool = False
    ) -> AsyncIterator[pb.ProxyResponse]:
        """The answer as it comes: head (status, headers), then body chunks, then done.
        `bounded`: the chunks will be joined into one message, so their total is capped."""
        timeout = httpx.Timeout(step.timeout_s)
        request = self.http.build_request(
            step.method, step.path, headers=step.headers, content=step.content, timeout=timeout
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.TimeoutException:
            raise StatusError(grpc.StatusCode.DEADLINE_EXCEEDED, "the gateway did not answer in "
                              f"{step.timeout_s:g} s", reason="timeout") from None  # fmt: skip
        except httpx.TransportError as exc:
            raise StatusError(grpc.StatusCode.UNAVAILABLE, f"the gateway is unreachable: {exc}",
                              reason="gateway_unreachable") from None  # fmt: skip
        try:
            marked = _PROXY_TARGET_HEADER in response.headers
            if step.generic and not marked:
                # Buffered generic proxy: 200 wraps the target's answer in a JSON envelope;
                # anything else is the proxy's own refusal (bad target, SSRF policy, ...).
                if response.status_code != 200:
                    raise _error_of(response.status_code, await self._bounded(response))
                yield _from_envelope(await self._bounded(response), sequence)
                return
            if not step.generic and response.status_code in _REFUSALS:
                raise _error_of(response.status_code, await self._bounded(response))
            yield pb.ProxyResponse(
                status_code=response.status_code, headers=_headers(response), sequence=sequence
            )
            total = 0
            async for chunk in response.aiter_raw():
                total += len(chunk)
                if bounded and total > self.max_body_bytes:
                    raise StatusError(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"the answer exceeds {self.max_body_bytes} bytes",
                        reason="response_too_large",
                    )
                yield pb.ProxyResponse(body=chunk, sequence=sequence)
            yield pb.ProxyResponse(done=True, sequence=sequence)
        except httpx.TimeoutException:
            raise StatusError(grpc.StatusCode.DEADLINE_EXCEEDED, "the answer stalled for "
                              f"{step.timeout_s:g} s", reason="timeout") from None  # fmt: skip
        finally:
            # On cancellation too: closing the connection mid-answer is how the data plane
            # learns the client is gone (it stops the upstream and settles what was sent).
            await response.aclose()

    async def _bounded(self, response: httpx.Response) -> bytes:
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self.max_body_bytes:
                raise StatusError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"the answer exceeds {self.max_body_bytes} bytes",
                    reason="response_too_large",
                )
        return bytes(body)


def _from_envelope(raw: bytes, sequence: int) -> pb.ProxyResponse:
    envelope = msgspec.json.decode(raw)
    body = envelope.get("body")
    if isinstance(body, str):
        content = body.encode("utf-8")
    elif isinstance(body, dict) and set(body) == {"base64"}:
        content = base64.b64decode(body["base64"])  # binary answers (body_view)
    elif body is None:
        content = b""
    else:
        content = msgspec.json.encode(body)
    headers = {str(k): str(v) for k, v in (envelope.get("headers") or {}).items()}
    return pb.ProxyResponse(
        status_code=int(envelope.get("status_code") or 0),
        headers=headers,
        body=content,
        sequence=sequence,
        done=True,
    )
