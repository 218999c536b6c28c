"""A small, fast OpenAI-compatible stub upstream (asyncio protocol on uvloop, HTTP/1.1).

POST /v1/chat/completions answers a fixed chat.completion JSON, or, when the body asks for
`"stream": true`, an SSE stream: the first chunk after --first-token-ms, then --chunks
chunks --interval-ms apart, then `data: [DONE]`. It holds any number of streams at a
few hundred bytes each, which is what the connections scenario needs from an upstream.
GET /health and /v1/models answer JSON. Listens on every --hosts address (several
127.0.0.x destinations give a proxy more than one ephemeral port range upstream).

    python benchmarks/stub_upstream.py --port 9000 --hosts 127.0.0.1,127.0.0.2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time

__all__ = ["CHAT_JSON", "main"]

MODEL = "bench-model"
CHAT_JSON = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "The quick brown fox jumps over the lazy dog.",
                },
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22},
    },
    separators=(",", ":"),
).encode()
MODELS_JSON = json.dumps(
    {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": 1700000000, "owned_by": "bench"}],
    }
).encode()
HEALTH_JSON = b'{"status":"ok","backend":"bench-stub","models":["bench-model"]}'


def _chunk_event(index: int, content: str | None, finish: str | None) -> bytes:
    delta = {} if content is None else {"content": content}
    if index == 0:
        delta["role"] = "assistant"
    payload = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


_TOKEN = _chunk_event(1, " token", None)
_FIRST = _chunk_event(0, "", None)
_FINAL = _chunk_event(2, None, "stop")
_USAGE_DATA = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":'
    b'1700000000,"model":"bench-model","choices":[],"usage":{"prompt_tokens":12,'
    b'"completion_tokens":%d,"total_tokens":%d}}\n\n'
)
_DONE = b"data: [DONE]\n\n"
_DONE_CHUNK = b"%x\r\n%s\r\n0\r\n\r\n" % (len(_DONE), _DONE)


def _response(status: bytes, ctype: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: "
        + ctype
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: keep-alive\r\n\r\n"
        + body
    )


_CHAT = _response(b"200 OK", b"application/json", CHAT_JSON)
_MODELS = _response(b"200 OK", b"application/json", MODELS_JSON)
_HEALTH = _response(b"200 OK", b"application/json", HEALTH_JSON)
_NOT_FOUND = _response(
    b"404 Not Found",
    b"application/json",
    b'{"error":{"message":"no route","type":"invalid_request_error",'
    b'"param":null,"code":"not_found"}}',
)
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
)


class Config:
    first_token_s = 0.0
    interval_s = 0.0
    chunks = 16
    streams_open = 0
    streams_total = 0


class StubProtocol(asyncio.Protocol):
    __slots__ = ("buf", "stream", "transport")

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.stream: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stream is not None:
            self.stream.cancel()
            self.stream = None
            Config.streams_open -= 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None and self.stream is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            lower = head.lower()
            body_start = end + 4
            if b"transfer-encoding: chunked" in lower:
                term = self.buf.find(b"\r\n0\r\n\r\n", body_start - 2)
                if term < 0:
                    return
                body, rest = self.buf[body_start:term], self.buf[term + 7 :]
            else:
                length = 0
                pos = lower.find(b"content-length:")
                if pos >= 0:
                    eol = lower.find(b"\r\n", pos)
                    length = int(lower[pos + 15 : eol if eol > 0 else len(lower)])
                if len(self.buf) < body_start + length:
                    return
                body, rest = (
                    self.buf[body_start : body_start + length],
                    self.buf[body_start + length :],
                )
            self.buf = rest
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        parts = line.split(b" ")
        method, path = parts[0], parts[1].split(b"?")[0] if len(parts) > 1 else b"/"
        if method == b"POST" and path.endswith(b"/completions"):
            compact = body.replace(b" ", b"")
            if b'"stream":true' in compact:
                self._start_stream(b'"include_usage":true' in compact)
            else:
                transport.write(_CHAT)
        elif path.endswith(b"/models"):
            transport.write(_MODELS)
        elif path == b"/health":
            transport.write(_HEALTH)
        else:
            transport.write(_NOT_FOUND)

    def _start_stream(self, include_usage: bool) -> None:
        assert self.transport is not None
        Config.streams_open += 1
        Config.streams_total += 1
        self.transport.write(_SSE_HEAD)
        loop = asyncio.get_running_loop()
        state = {"sent": 0}

        def tick() -> None:
            transport = self.transport
            if transport is None:
                return
            sent = state["sent"]
            if sent == 0:
                transport.write(_FIRST)
            elif sent <= Config.chunks:
                transport.write(_TOKEN)
            else:
                transport.write(_FINAL)
                if include_usage:
                    data = _USAGE_DATA % (Config.chunks, Config.chunks + 12)
                    transport.write(b"%x\r\n%s\r\n" % (len(data), data))
                transport.write(_DONE_CHUNK)
                self.stream = None
                Config.streams_open -= 1
                if self.buf:  # a pipelined request waited for the stream to end
                    self.data_received(b"")
                return
            state["sent"] = sent + 1
            delay = Config.first_token_s if sent == 0 else Config.interval_s
            self.stream = loop.call_later(delay, tick) if delay > 0 else loop.call_soon(tick)

        delay = Config.first_token_s
        self.stream = loop.call_later(delay, tick) if delay > 0 else loop.call_soon(tick)


async def serve(hosts: list[str], port: int, backlog: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        StubProtocol, hosts, port, backlog=backlog, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"stub listening on {','.join(hosts)}:{port}", flush=True)
    started = time.monotonic()
    await stop.wait()
    server.close()
    print(
        f"stub stopping after {time.monotonic() - started:.0f} s, {Config.streams_total} streams",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hosts", default="127.0.0.1")
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    parser.add_argument("--interval-ms", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--backlog", type=int, default=65535)
    args = parser.parse_args()
    Config.first_token_s = args.first_token_ms / 1000
    Config.interval_s = args.interval_ms / 1000
    Config.chunks = args.chunks
    coro = serve(args.hosts.split(","), args.port, args.backlog)
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


if __name__ == "__main__":
    main()
