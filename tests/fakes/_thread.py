"""Run a fake server on its own event loop in a thread.

Litestar's in-process test client runs the app on another thread and blocks the test's event
loop while a request is handled; a fake the app calls during that request must therefore
serve from a loop of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.fakes._http import FakeHttpServer

__all__ = ["serving_in_thread"]


@contextmanager
def serving_in_thread(server: FakeHttpServer) -> Iterator[str]:
    """Start `server` on a private loop in a daemon thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-server", daemon=True)
    thread.start()
    try:
        url = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
