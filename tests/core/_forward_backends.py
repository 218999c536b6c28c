"""Loopback HTTP/1.1 backends for the forwarding tests (raw asyncio streams).

Raw streams rather than a framework so each test controls framing and timing exactly:
chunk-by-chunk SSE gated by an event, a head that never comes, endless streams that
notice the client going away.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field

__all__ = ["Backend", "RecordedRequest", "refused_address"]


@dataclass
class RecordedRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


@dataclass
class Backend:
    """Routes: /plain (JSON echo), /sse (event 1, then waits for `release`), /slow (never
    answers), /endless (an event every 20 ms until the client leaves), /big (2 MiB body)."""

    name: str = "backend"
    requests: list[RecordedRequest] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    first_sent: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while (req := await _read_request(reader)) is not None:
                self.requests.append(req)
                if not await self._answer(req, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnected.set()
        except asyncio.CancelledError:
            # Test teardown. Swallowed: Python 3.11's start_server callback calls
            # task.exception() on a cancelled handler and logs an error.
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _answer(
        self, req: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        path = req.target.split("?")[0]
        if path == "/slow":
            # Never answer; notice the client closing the connection.
            await reader.read()
            self.disconnected.set()
            return False
        if path == "/sse":
            writer.write(_chunked_head("text/event-stream"))
            writer.write(_chunk(b"data: 1\n\n"))
            await writer.drain()
            self.first_sent.set()
            await self.release.wait()
            writer.write(_chunk(b"data: 2\n\n") + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return True
        if path == "/endless":
            writer.write(_chunked_head("text/event-stream"))
            try:
                for i in range(10_000):
                    writer.write(_chunk(f"data: {i}\n\n".encode()))
                    await writer.drain()
                    self.first_sent.set()
                    await asyncio.sleep(0.02)
            except ConnectionError:
                self.disconnected.set()
            return False
        if path == "/big":
            body = b"x" * (2 * 1024 * 1024)
        else:
            body = json.dumps(
                {
                    "backend": self.name,
                    "method": req.method,
                    "target": req.target,
                    "body": req.body.decode("latin-1"),
                    "headers": req.headers,
                }
            ).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"keep-alive: timeout=30\r\nx-backend: " + self.name.encode() + b"\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()
        return True


def _chunked_head(content_type: str) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type.encode() + b"\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
        k, v = h.decode("latin-1").split(":", 1)
        headers.append((k.strip().lower(), v.strip()))
    body = b""
    hmap = dict(headers)
    if "content-length" in hmap:
        body = await reader.readexactly(int(hmap["content-length"]))
    elif hmap.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readline()).strip(), 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += data[:-2]
    return RecordedRequest(method, target, headers, body)


def refused_address() -> str:
    """An address nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"
