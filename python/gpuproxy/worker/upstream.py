"""The openai backend: the worker fronts a local OpenAI-compatible server (vLLM, TGI's
Messages API, llama.cpp server, ...) at `--upstream`, streaming its answers through."""

from __future__ import annotations

import time
from typing import Any

import httpx

from gpuproxy.worker._asgi import Responder, openai_error

__all__ = ["UpstreamBackend"]

_PASS_HEADERS = ("content-type", "x-request-id", "openai-processing-ms")


class UpstreamBackend:
    name = "openai"

    def __init__(
        self,
        upstream: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        models: list[str] | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=upstream.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        self._fixed_models = models or []
        self._models: tuple[float, list[str]] = (0.0, [])

    async def aclose(self) -> None:
        await self._client.aclose()

    async def models(self) -> list[str]:
        if self._fixed_models:
            return list(self._fixed_models)
        stamp, cached = self._models
        if time.monotonic() - stamp < 30 and cached:
            return list(cached)
        try:
            response = await self._client.get("/v1/models", timeout=5.0)
            response.raise_for_status()
            names = [str(m["id"]) for m in response.json().get("data", []) if "id" in m]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return list(cached)
        self._models = (time.monotonic(), names)
        return names

    async def healthy(self) -> bool:
        try:
            response = await self._client.get("/v1/models", timeout=5.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def forward(self, path: str, body: bytes, out: Responder) -> None:
        request = self._client.build_request(
            "POST", path, content=body, headers={"content-type": "application/json"}
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await out.json(
                502,
                openai_error(f"upstream unreachable: {type(exc).__name__}", kind="upstream_error"),
            )
            return
        try:
            headers = [
                (k.encode(), v.encode())
                for k, v in response.headers.items()
                if k in _PASS_HEADERS[1:]
            ]
            content_type = response.headers.get("content-type", "application/json").encode()
            await out.start_stream(response.status_code, content_type, headers)
            async for chunk in response.aiter_raw():
                await out.chunk(chunk)
            await out.end()
        except httpx.HTTPError:
            pass  # the upstream died mid-stream; the client sees a truncated stream
        finally:
            await response.aclose()

    async def chat(self, body: dict[str, Any], out: Responder) -> None:  # pragma: no cover
        raise NotImplementedError  # the app forwards raw bytes instead
