"""`POST /api/v1/gpu/proxy` bounds: a target that stalls mid-answer, an answer too large to
buffer; each a clear JSON error (or an SSE `error` event)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from .asgi_target import serving
from .support import GatewayServer
from .test_protocol_proxy import own_worker_at, proxy


async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """/stall and /sse-stall: one chunk, then silence; /big: 4 KiB."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    kind = b"text/event-stream" if path == "/sse-stall" else b"application/octet-stream"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]})
    if path == "/big":
        await send({"type": "http.response.body", "body": b"x" * 4096})
        return
    await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
    await asyncio.sleep(30)
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def slow() -> AsyncIterator[str]:
    async with serving(slow_app, "/big") as url:
        yield url


@pytest.fixture
def gateway_env() -> dict[str, str]:
    return {"GATEWAY_STALL_TIMEOUT_SECONDS": "0.3", "GATEWAY_PROXY_MAX_RESPONSE_BYTES": "2048"}


async def test_a_stalled_buffered_answer_is_a_504(gateway: GatewayServer, slow: str) -> None:
    alice = await gateway.user()
    await own_worker_at(gateway, alice, slow)
    response = await proxy(gateway, alice, protocol="http", target_url=f"{slow}/stall")
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["code"] == "upstream_stalled"
    assert "0.3 s" in error["message"]


async def test_a_stalled_sse_stream_ends_with_an_error_event(
    gateway: GatewayServer, slow: str
) -> None:
    alice = await gateway.user()
    await own_worker_at(gateway, alice, slow)
    response = await proxy(
        gateway, alice, protocol="http", target_url=f"{slow}/sse-stall", stream=True
    )
    assert response.status_code == 200
    assert response.text.startswith("data: first\n\nevent: error\ndata: ")
    assert '"code":"upstream_stalled"' in response.text


async def test_a_stalled_byte_stream_is_cut_short(gateway: GatewayServer, slow: str) -> None:
    alice = await gateway.user()
    await own_worker_at(gateway, alice, slow)
    with pytest.raises(httpx.HTTPError):  # the chunked body never ends properly
        await proxy(gateway, alice, protocol="http", target_url=f"{slow}/stall", stream=True)


async def test_an_answer_too_large_to_buffer_is_a_502_naming_the_limit(
    gateway: GatewayServer, slow: str
) -> None:
    alice = await gateway.user()
    await own_worker_at(gateway, alice, slow)
    response = await proxy(gateway, alice, protocol="http", target_url=f"{slow}/big")
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_body_too_large"
    assert "2048 bytes" in error["message"]
    streamed = await proxy(gateway, alice, protocol="http", target_url=f"{slow}/big", stream=True)
    assert streamed.content == b"x" * 4096  # streaming has no such limit
