"""An MCP client session of the official `mcp` SDK over Streamable HTTP, authenticated
with an API key, as a desktop or server-side agent would open one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

__all__ = ["mcp_session", "structured"]


@contextlib.asynccontextmanager
async def mcp_session(url: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=60)) as http,
        streamable_http_client(url, http_client=http) as (read, write, _session_id),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a successful call (fails the test with the error text)."""
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert not result.isError, text
    assert result.structuredContent is not None
    return result.structuredContent
