"""Inference for agents through the one hot path: the Rust data plane's public routes,
called over loopback with the caller's own credential.

The data plane then authenticates, checks the `inference` scope, rate-limits, reserves the
worst case, routes, meters and settles exactly as for a direct client; nothing here
counts money. Streamed answers are read as SSE chunks while they arrive.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import msgspec

from gpuproxy.agents.errors import InferenceFailed

__all__ = ["INFERENCE_PATHS", "DataPlaneClient", "loopback_host"]

#: The hot routes an agent may call (the `/v1` forms; the data plane serves both twins).
INFERENCE_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
#: How long one agent inference call may take in all (a long generation streams for minutes).
_TOTAL_TIMEOUT_S = 600.0
_decode = msgspec.json.decode


def loopback_host(host: str) -> str:
    """Where to reach a listener bound to `host` from this process, as a URL's host: a
    wildcard address (0.0.0.0, ::) is reached on the matching loopback address."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host or "127.0.0.1"
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


def _error_of(status: int, raw: bytes) -> InferenceFailed:
    """The data plane's OpenAI-shaped error, kept as the agent's error."""
    message, code = f"inference failed with HTTP {status}", None
    try:
        error = _decode(raw).get("error", {})
        message = str(error.get("message") or message)
        code = error.get("code")
    except (msgspec.DecodeError, AttributeError):
        pass
    return InferenceFailed(status, message, code if isinstance(code, str) else None)


class DataPlaneClient:
    """An HTTP client of the data plane on this host (one connection pool per process)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(_TOTAL_TIMEOUT_S, connect=5.0),
            trust_env=False,  # loopback: never through an HTTP(S)_PROXY from the environment
        )

    @classmethod
    def from_listen(cls, listen: str, port: int | None = None) -> DataPlaneClient:
        """For the listener `host:port` (LISTEN_ENV's form); `port` overrides the bound one."""
        host, _, listen_port = listen.rpartition(":")
        return cls(f"http://{loopback_host(host)}:{port or int(listen_port)}")

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(
        self, path: str, credential: Mapping[str, str], body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A whole JSON answer: GET without a body, POST with one."""
        headers = dict(credential)
        if body is None:
            response = await self._client.get(path, headers=headers)
        else:
            response = await self._client.post(path, headers=headers, json=dict(body))
        if response.status_code != 200:
            raise _error_of(response.status_code, response.content)
        data: dict[str, Any] = _decode(response.content)
        return data

    async def stream(
        self, path: str, credential: Mapping[str, str], body: Mapping[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """The chunks of a streamed completion (`stream: true`), in order, until `[DONE]`."""
        options = body.get("stream_options")
        options = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        # include_usage: the last chunk then carries the usage the agent is told about (the
        # data plane meters either way, but hides that chunk from a client that did not ask).
        payload = {**body, "stream": True, "stream_options": options}
        request = self._client.build_request("POST", path, headers=dict(credential), json=payload)
        response = await self._client.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise _error_of(response.status_code, await response.aread())
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = _decode(data)
                except msgspec.DecodeError:
                    continue  # not a JSON event (a comment or keep-alive): nothing to add
                if isinstance(chunk, dict):
                    yield chunk
        finally:
            await response.aclose()
