"""Async SSE client for what wrk and oha cannot measure (asyncio protocols on uvloop).

    stream: C loops send streamed chat completions back to back for D seconds; prints one
            JSON object: time to first event (TTFT), gaps between events, errors.
    hold:   opens N streams (source addresses 127.0.0.2.. round robin, at most 25,000 per
            address: Linux gives ~28k ephemeral ports per source/destination pair) and keeps
            them open; prints `PROGRESS {json}` lines while ramping, `HELD {json}` once done,
            then waits for a line on stdin and prints the final `RESULT {json}`.

Run pinned to the load-generator CPUs by the harness (taskset).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import itertools

from _procs import raise_nofile

__all__ = ["main", "percentiles"]

PER_SOURCE = 25_000


def percentiles(values: list[float], points: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict:
    if not values:
        return {f"p{p:g}": None for p in points}
    ordered = sorted(values)
    out = {}
    for p in points:
        index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        out[f"p{p:g}"] = round(ordered[index], 4)
    return out


def quantile_curve(values: list[float], n: int = 100) -> list[float]:
    """n+1 evenly spaced quantiles (for CDF plots without storing every sample)."""
    if not values:
        return []
    ordered = sorted(values)
    return [
        round(ordered[min(len(ordered) - 1, int(i / n * (len(ordered) - 1)))], 4)
        for i in range(n + 1)
    ]


class SseProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection; one request at a time; timestamps each SSE event."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.buf = b""
        self.headers_done = False
        self.status = 0
        self.chunked = False
        self.remaining: int | None = None  # content-length body left, if not chunked
        self.pending = b""  # de-chunked bytes not yet split into events
        self.events: list[float] = []
        self.done: asyncio.Future[str] | None = None
        self.first_event: asyncio.Future[None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.first_event is not None and not self.first_event.done():
            self.first_event.set_exception(ConnectionError("closed before the first event"))
        if self.done is not None and not self.done.done():
            self.done.set_result("closed")

    def request(self, raw: bytes) -> asyncio.Future[str]:
        loop = asyncio.get_running_loop()
        self.buf, self.pending, self.events = b"", b"", []
        self.headers_done, self.status, self.chunked, self.remaining = False, 0, False, None
        self.done = loop.create_future()
        self.first_event = loop.create_future()
        self.transport.write(raw)
        return self.done

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buf += data
        if not self.headers_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end].lower(), self.buf[end + 4 :]
            self.headers_done = True
            self.status = int(head[9:12])
            self.chunked = b"transfer-encoding: chunked" in head
            pos = head.find(b"content-length:")
            if pos >= 0 and not self.chunked:
                eol = head.find(b"\r\n", pos)
                self.remaining = int(head[pos + 15 : eol if eol > 0 else len(head)])
        finished = self._dechunk() if self.chunked else self._plain()
        while (split := self.pending.find(b"\n\n")) >= 0:
            event, self.pending = self.pending[:split], self.pending[split + 2 :]
            if event.startswith(b"data:"):
                self.events.append(now)
                if self.first_event is not None and not self.first_event.done():
                    self.first_event.set_result(None)
        if finished and self.done is not None and not self.done.done():
            if self.first_event is not None and not self.first_event.done():
                self.first_event.set_exception(ConnectionError(f"status {self.status}, no event"))
            self.done.set_result("ok" if self.status == 200 else f"status_{self.status}")

    def _plain(self) -> bool:
        self.pending += self.buf
        if self.remaining is not None:
            self.remaining -= len(self.buf)
        self.buf = b""
        return self.remaining is not None and self.remaining <= 0

    def _dechunk(self) -> bool:
        while True:
            eol = self.buf.find(b"\r\n")
            if eol < 0:
                return False
            size = int(self.buf[:eol].split(b";")[0], 16)
            if size == 0:
                if len(self.buf) < eol + 4:
                    return False
                self.buf = self.buf[eol + 4 :]
                return True
            if len(self.buf) < eol + 2 + size + 2:
                return False
            self.pending += self.buf[eol + 2 : eol + 2 + size]
            self.buf = self.buf[eol + 4 + size :]


def _raw_request(
    url: str, body: bytes, api_key: str | None, headers: dict[str, str] | None = None
) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    raw = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}{extra}"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    return host, port, raw


#: Linux IP_BIND_ADDRESS_NO_PORT (not in Python's socket module).
_IP_BIND_ADDRESS_NO_PORT = 24


async def _connect(host: str, port: int, source: str | None) -> SseProtocol:
    loop = asyncio.get_running_loop()
    if not source:
        _, proto = await loop.create_connection(SseProtocol, host, port)
        return proto
    # bind(source, 0) alone reserves a port number for the whole machine (connect() on any
    # other socket then skips it): tens of thousands of held streams would starve the proxy's
    # own upstream connections of ports. With IP_BIND_ADDRESS_NO_PORT the port is chosen at
    # connect() time, unique per (source, destination) pair only.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    _, proto = await loop.create_connection(SseProtocol, sock=sock)
    return proto


async def run_stream(
    url: str,
    body: bytes,
    api_key: str | None,
    concurrency: int,
    duration: float,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    host, port, raw = _raw_request(url, body, api_key, headers)
    ttft: list[float] = []
    gaps: list[float] = []
    totals: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + duration

    async def loop_one() -> None:
        proto: SseProtocol | None = None
        while time.perf_counter() < deadline:
            try:
                if proto is None or proto.closed:
                    proto = await _connect(host, port, None)
                sent = time.perf_counter()
                outcome = await asyncio.wait_for(proto.request(raw), 30)
            except (OSError, TimeoutError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                proto = None
                await asyncio.sleep(0.05)
                continue
            if outcome != "ok" or not proto.events:
                errors[outcome] = errors.get(outcome, 0) + 1
                continue
            events = proto.events
            ttft.append((events[0] - sent) * 1000)
            gaps.extend((b - a) * 1000 for a, b in itertools.pairwise(events))
            totals.append((events[-1] - sent) * 1000)
        if proto is not None and proto.transport is not None:
            proto.transport.close()

    await asyncio.gather(*(loop_one() for _ in range(concurrency)))
    return {
        "streams": len(ttft),
        "concurrency": concurrency,
        "duration_s": duration,
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "ttft_ms": percentiles(ttft),
        "gap_ms": percentiles(gaps),
        "total_ms": percentiles(totals),
        "ttft_curve_ms": quantile_curve(ttft),
        "gap_curve_ms": quantile_curve(gaps),
    }


async def run_hold(
    url: str,
    body: bytes,
    api_key: str | None,
    count: int,
    rate: float,
    sources: list[str],
    ramp_timeout: float,
    headers: dict[str, str] | None = None,
) -> None:
    host, port, raw = _raw_request(url, body, api_key, headers)
    protos: list[SseProtocol] = []
    failures: dict[str, int] = {}
    ttft: list[float] = []
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(512)  # connects in flight at once

    async def open_one(i: int) -> None:
        source = sources[(i // PER_SOURCE) % len(sources)] if sources else None
        proto: SseProtocol | None = None
        async with semaphore:
            try:
                proto = await asyncio.wait_for(_connect(host, port, source), 30)
                sent = time.perf_counter()
                proto.request(raw)
                assert proto.first_event is not None
                await asyncio.wait_for(proto.first_event, 30)
            except (OSError, TimeoutError, ConnectionError, ValueError) as exc:
                key = type(exc).__name__
                failures[key] = failures.get(key, 0) + 1
                if proto is not None and proto.transport is not None:
                    proto.transport.close()
                return
            except asyncio.CancelledError:
                if proto is not None and proto.transport is not None:
                    proto.transport.close()
                raise
        ttft.append((time.perf_counter() - sent) * 1000)
        protos.append(proto)

    tasks = []
    last_report = time.perf_counter()
    for i in range(count):
        # Pace the ramp: at most `rate` new streams per second.
        due = started + i / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(open_one(i)))
        if time.perf_counter() - last_report >= 1.0:
            last_report = time.perf_counter()
            _emit(
                "PROGRESS",
                {
                    "opened": len(protos),
                    "failed": sum(failures.values()),
                    "elapsed_s": round(last_report - started, 1),
                },
            )
    # Bounded ramp: opens still pending at the deadline are cancelled and counted.
    left = max(1.0, ramp_timeout - (time.perf_counter() - started))
    _, pending = await asyncio.wait(tasks, timeout=left)
    for task in pending:
        task.cancel()
    if pending:
        failures["ramp_timeout"] = len(pending)
        await asyncio.wait(pending, timeout=10)
    ramp_s = time.perf_counter() - started
    alive = sum(1 for p in protos if not p.closed)
    _emit(
        "HELD",
        {
            "held": alive,
            "opened": len(protos),
            "failed": sum(failures.values()),
            "failures": failures,
            "ramp_s": round(ramp_s, 2),
            "ttft_ms": percentiles(ttft),
        },
    )
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    still = sum(1 for p in protos if not p.closed)
    events = sum(len(p.events) for p in protos)
    for proto in protos:
        if proto.transport is not None:
            proto.transport.close()
    _emit(
        "RESULT",
        {
            "held_at_end": still,
            "dropped_while_held": alive - still,
            "events_received": events,
            "opened": len(protos),
            "failed": sum(failures.values()),
            "failures": failures,
        },
    )


def _emit(tag: str, payload: dict[str, Any]) -> None:
    print(f"{tag} {json.dumps(payload)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["stream", "hold"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--api-key")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable), sent after Authorization",
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=2000.0, help="new streams per second")
    parser.add_argument("--sources", default="", help="comma-separated source addresses")
    parser.add_argument(
        "--ramp-timeout",
        type=float,
        default=0.0,
        help="hold: give up opening after this many seconds (0: count/rate + 60)",
    )
    args = parser.parse_args()
    headers = {}
    for line in args.header:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            parser.error(f"--header {line!r}: expected 'NAME: VALUE'")
        headers[name.strip()] = value.strip()
    raise_nofile()
    body = args.body.encode()
    if args.mode == "stream":
        coro: Any = run_stream(
            args.url, body, args.api_key, args.concurrency, args.duration, headers
        )
    else:
        sources = [s for s in args.sources.split(",") if s]
        ramp_timeout = args.ramp_timeout or args.count / args.rate + 60
        coro = run_hold(
            args.url, body, args.api_key, args.count, args.rate, sources, ramp_timeout, headers
        )
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    if result is not None:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
