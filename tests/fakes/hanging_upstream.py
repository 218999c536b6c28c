"""A misbehaving inference worker: a raw TCP server that reads the request and then never
answers (`silent`), sends a streaming head and then nothing (`stall`), or sends that head
and then one SSE comment every `interval_s` forever (`trickle`). Raw asyncio, so nothing in
an HTTP library can end the exchange for it: only the gateway's timeouts can.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

__all__ = ["HangingUpstream", "Mode", "hanging_upstream"]

Mode = Literal["silent", "stall", "trickle"]

_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n"
)
_COMMENT = b": still thinking\n\n"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class HangingUpstream:
    def __init__(self, mode: Mode, *, interval_s: float = 0.2) -> None:
        self.mode = mode
        self.interval_s = interval_s
        self.url = ""
        #: requests whose head arrived (a retry by the gateway would show as 2)
        self.requests = 0
        #: connections the gateway closed (the exchange ended on its side)
        self.closed = 0
        self.bytes_sent = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            if self.mode != "silent":
                await self._send(writer, _STREAM_HEAD)
            while True:
                if self.mode == "trickle":
                    await self._send(writer, _chunk(_COMMENT))
                # Reading also notices when the gateway hangs up (EOF: the request body was
                # read into the buffer long ago, so an empty read means closed).
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(65536), self.interval_s) == b"":
                        break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed += 1
            writer.close()

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.bytes_sent += len(data)


@contextlib.asynccontextmanager
async def hanging_upstream(
    mode: Mode, *, interval_s: float = 0.2
) -> AsyncIterator[HangingUpstream]:
    upstream = HangingUpstream(mode, interval_s=interval_s)
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.stop()
