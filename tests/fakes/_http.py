"""A tiny HTTP/1.1 server on asyncio for the fakes: starts in microseconds on an
ephemeral loopback port, keeps connections alive, and routes by method + path regex."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeHttpServer", "Request", "Response", "json_response", "text_response"]


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json")


def text_response(text: str, status: int) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8")


Handler = Callable[[Request], Awaitable[Response]]


class FakeHttpServer:
    """Routes `(METHOD, regex)` to handlers; unmatched paths answer 404 `{"detail"}`."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._server: asyncio.Server | None = None
        self.requests: list[Request] = []
        self.base_url = ""

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return register

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeHttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.CancelledError:
                    # The server is stopping with this keep-alive connection idle; ending
                    # normally keeps asyncio from logging the cancelled handler.
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                parts = urlsplit(target)
                request = Request(
                    method, parts.path, parts.query, parse_qs(parts.query), headers, body
                )
                self.requests.append(request)
                response = await self._dispatch(request)
                reason = HTTPStatus(response.status).phrase
                out = [
                    f"HTTP/1.1 {response.status} {reason}",
                    f"Content-Type: {response.content_type}",
                    f"Content-Length: {len(response.body)}",
                ]
                out += [f"{k}: {v}" for k, v in response.headers.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + response.body)
                await writer.drain()
        finally:
            writer.close()

    async def _dispatch(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = match.groupdict()
            return await handler(request)
        if allowed:
            return json_response({"detail": "Method Not Allowed"}, 405)
        return json_response({"detail": "Not Found"}, 404)
