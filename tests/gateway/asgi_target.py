"""A plain ASGI app served by Granian on a free loopback port: a proxy target for tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from tests.helpers import free_port

__all__ = ["serving"]


@contextlib.asynccontextmanager
async def serving(app: Any, probe_path: str = "/") -> AsyncIterator[str]:
    """Serve `app`; yields its base URL once `probe_path` answers."""
    from granian.constants import Interfaces
    from granian.server.embed import Server

    port = free_port()
    server = Server(
        app, address="127.0.0.1", port=port, interface=Interfaces.ASGINL, log_enabled=False
    )
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                await client.get(url + probe_path)
                break
            await asyncio.sleep(0.02)
    try:
        yield url
    finally:
        server.stop()  # type: ignore[no-untyped-call]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
