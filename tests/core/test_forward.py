"""The Rust forwarder through the binding, against loopback backends: plain, streamed SSE
chunk by chunk, slow upstream, refused connection retried on another backend, client
cancellation (upstream sees the disconnect, the pool's in-flight count returns to 0)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from tests.core._forward_backends import Backend, refused_address

from gpuproxy._core import Forwarder, Pool, UpstreamResponse
from gpuproxy.exceptions import NoBackendAvailable, UpstreamError

HEADERS = [
    (b"host", b"gateway.example"),
    (b"content-type", b"application/json"),
    (b"connection", b"keep-alive, x-hop"),
    (b"x-hop", b"1"),
    (b"te", b"trailers"),
    (b"proxy-authorization", b"Basic Zm9v"),
    (b"authorization", b"Bearer sk-test"),
]


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = Backend("a")
    yield b
    await b.close()


@pytest.fixture
async def forwarder() -> AsyncIterator[Forwarder]:
    fwd = Forwarder(first_byte_timeout=5.0)
    yield fwd
    fwd.close()


async def in_flight_settles(pool: Pool, expected: int = 0) -> None:
    """Waits (bounded) for the pool's in-flight count to reach `expected`."""
    for _ in range(100):
        if pool.snapshot().in_flight == expected:
            return
        await asyncio.sleep(0.01)
    assert pool.snapshot().in_flight == expected


async def body_of(resp: UpstreamResponse) -> bytes:
    return b"".join([chunk async for chunk in resp])


async def test_plain_request_round_trip(backend: Backend, forwarder: Forwarder) -> None:
    address = await backend.start()
    resp = await forwarder.forward_to(
        address,
        "POST",
        "/plain?x=1",
        HEADERS,
        b'{"model": "m"}',
        client_ip="192.0.2.7",
        request_id="rid-1",
    )
    assert resp.status == 200
    assert resp.backend_id is None
    assert resp.request_id == "rid-1"
    headers = dict(resp.headers)
    assert headers[b"x-backend"] == b"a"
    assert b"keep-alive" not in headers
    seen = json.loads(await body_of(resp))
    assert (seen["method"], seen["target"], seen["body"]) == (
        "POST",
        "/plain?x=1",
        '{"model": "m"}',
    )
    sent = dict(seen["headers"])
    assert sent["host"] == address
    assert sent["x-forwarded-host"] == "gateway.example"
    assert sent["x-forwarded-for"] == "192.0.2.7"
    assert sent["x-request-id"] == "rid-1"
    assert sent["authorization"] == "Bearer sk-test"
    for hop in ("connection", "x-hop", "te", "proxy-authorization"):
        assert hop not in sent
    assert not resp.is_open


async def test_pool_forward_records_the_outcome(backend: Backend, forwarder: Forwarder) -> None:
    address = await backend.start()
    pool = Pool("least_connections")
    pool.add_backend("a", f"http://{address}")
    for _ in range(3):
        resp = await forwarder.forward(pool, "GET", "/plain", [("accept", "application/json")])
        assert (resp.status, resp.backend_id, resp.attempts) == (200, "a", 1)
        assert json.loads(await resp.read())["method"] == "GET"
    snap = pool.backend("a")
    assert (snap.in_flight, snap.ok, snap.errors) == (0, 3, 0)
    assert backend.connections == 1  # keep-alive reuse


async def test_sse_arrives_chunk_by_chunk(backend: Backend, forwarder: Forwarder) -> None:
    address = await backend.start()
    pool = Pool()
    pool.add_backend("a", address)
    resp = await forwarder.forward(pool, "POST", "/sse", HEADERS, b"{}")
    assert dict(resp.headers)[b"content-type"] == b"text/event-stream"
    assert b"transfer-encoding" not in dict(resp.headers)
    it = aiter(resp)
    first = await asyncio.wait_for(anext(it), 5)
    # The backend has not sent the second event yet: it waits for `release`.
    assert first == b"data: 1\n\n"
    assert not backend.release.is_set()
    assert pool.snapshot().in_flight == 1
    backend.release.set()
    rest = [chunk async for chunk in it]
    assert b"".join(rest) == b"data: 2\n\ndata: [DONE]\n\n"
    await in_flight_settles(pool)


async def test_slow_upstream_times_out(backend: Backend) -> None:
    address = await backend.start()
    fwd = Forwarder(first_byte_timeout=0.2)
    try:
        pool = Pool()
        pool.add_backend("a", address)
        with pytest.raises(UpstreamError) as info:
            await fwd.forward(pool, "POST", "/slow", HEADERS, b"{}")
        assert info.value.kind == "timeout"
        assert info.value.http_status == 504
        assert pool.backend("a").errors == 1
        await in_flight_settles(pool)
        await asyncio.wait_for(backend.disconnected.wait(), 5)
    finally:
        fwd.close()


async def test_refused_connection_retries_on_another_backend(
    backend: Backend, forwarder: Forwarder
) -> None:
    live = await backend.start()
    pool = Pool("round_robin")
    pool.add_backend("dead", refused_address())
    pool.add_backend("live", live)
    attempts = []
    for _ in range(4):
        resp = await forwarder.forward(pool, "POST", "/plain", HEADERS, b"{}")
        assert (resp.status, resp.backend_id) == (200, "live")
        attempts.append(resp.attempts)
        await resp.read()
    assert 2 in attempts
    assert pool.backend("dead").errors == attempts.count(2)
    assert pool.snapshot().in_flight == 0


async def test_refused_everywhere_is_a_connect_error(forwarder: Forwarder) -> None:
    pool = Pool()
    pool.add_backend("dead", refused_address())
    with pytest.raises(UpstreamError) as info:
        await forwarder.forward(pool, "GET", "/", [])
    assert (info.value.kind, info.value.http_status) == ("connect", 502)
    assert pool.snapshot().in_flight == 0


async def test_client_cancel_mid_stream_frees_the_slot(
    backend: Backend, forwarder: Forwarder
) -> None:
    address = await backend.start()
    pool = Pool()
    pool.add_backend("a", address)
    got: list[bytes] = []

    async def client() -> None:
        resp = await forwarder.forward(pool, "POST", "/endless", HEADERS, b"{}")
        async for chunk in resp:
            got.append(chunk)

    task = asyncio.create_task(client())
    await asyncio.wait_for(backend.first_sent.wait(), 5)
    while not got:
        await asyncio.sleep(0.01)
    assert pool.snapshot().in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The upstream connection is closed and the slot released (counted as cancelled).
    await asyncio.wait_for(backend.disconnected.wait(), 5)
    await in_flight_settles(pool)
    assert pool.backend("a").cancelled == 1


async def test_cancel_while_waiting_for_the_head(backend: Backend, forwarder: Forwarder) -> None:
    address = await backend.start()
    pool = Pool()
    pool.add_backend("a", address)

    async def head() -> UpstreamResponse:
        return await forwarder.forward(pool, "POST", "/slow", HEADERS, b"{}")

    task = asyncio.create_task(head())
    while not backend.requests:
        await asyncio.sleep(0.01)
    assert pool.snapshot().in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(backend.disconnected.wait(), 5)
    await in_flight_settles(pool)


async def test_aclose_aborts_the_stream(backend: Backend, forwarder: Forwarder) -> None:
    address = await backend.start()
    pool = Pool()
    pool.add_backend("a", address)
    resp = await forwarder.forward(pool, "GET", "/endless", [])
    assert (await anext(aiter(resp))).startswith(b"data: 0")
    await resp.aclose()
    assert not resp.is_open
    with pytest.raises(StopAsyncIteration):
        await anext(aiter(resp))
    await asyncio.wait_for(backend.disconnected.wait(), 5)
    await in_flight_settles(pool)


async def test_streamed_upload_from_an_async_iterator(
    backend: Backend, forwarder: Forwarder
) -> None:
    address = await backend.start()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(20):
            yield bytes([ord("a") + i]) * 1000
            await asyncio.sleep(0)

    resp = await forwarder.forward_to(address, "PUT", "/plain", HEADERS, chunks())
    seen = json.loads(await resp.read())
    assert len(seen["body"]) == 20_000
    assert seen["body"][19_000:19_003] == "ttt"
    assert dict(seen["headers"])["transfer-encoding"] == "chunked"


async def test_failing_upload_source_fails_the_request(
    backend: Backend, forwarder: Forwarder
) -> None:
    address = await backend.start()

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise OSError("client went away")

    with pytest.raises(UpstreamError) as info:
        await forwarder.forward_to(address, "POST", "/plain", HEADERS, broken())
    assert info.value.kind == "reset"


async def test_guard_selected_by_the_caller(backend: Backend, forwarder: Forwarder) -> None:
    address = await backend.start()
    pool = Pool()
    pool.add_backend("a", address, max_concurrency=1)
    guard = pool.select()
    assert guard is not None
    assert pool.select() is None  # saturated: the caller would queue
    resp = await forwarder.forward(pool, "GET", "/plain", [], guard=guard)
    assert resp.backend_id == "a"
    await resp.read()
    await in_flight_settles(pool)
    assert pool.backend("a").ok == 1
    with pytest.raises(RuntimeError):
        forwarder.forward(pool, "GET", "/plain", [], guard=guard)


async def test_errors_are_typed(backend: Backend) -> None:
    address = await backend.start()
    fwd = Forwarder(max_request_body=4, max_response_body=1024)
    try:
        with pytest.raises(NoBackendAvailable):
            fwd.forward(Pool(), "GET", "/", [])
        with pytest.raises(ValueError, match="method"):
            fwd.forward_to(address, "GE T", "/", [])
        with pytest.raises(ValueError, match="path"):
            fwd.forward_to(address, "GET", "no-slash", [])
        with pytest.raises(UpstreamError) as too_big:
            await fwd.forward_to(address, "POST", "/plain", [], b"12345")
        assert too_big.value.kind == "body_too_large"
        assert too_big.value.http_status == 413
        with pytest.raises(UpstreamError) as big_response:
            await fwd.forward_to(address, "GET", "/big", [])
        assert big_response.value.kind == "body_too_large"
        assert big_response.value.http_status == 502
        with pytest.raises(ValueError, match="protocol"):
            Forwarder(protocol="spdy")
    finally:
        fwd.close()


async def test_closed_forwarder_refuses_new_requests(backend: Backend) -> None:
    address = await backend.start()
    fwd = Forwarder()
    fwd.close()
    assert fwd.closed
    with pytest.raises(RuntimeError, match="closed"):
        fwd.forward_to(address, "GET", "/plain", [])


async def test_concurrent_requests_from_one_loop(backend: Backend, forwarder: Forwarder) -> None:
    address = await backend.start()
    pool = Pool("p2c_ewma")
    pool.add_backend("a", address)

    async def one(i: int) -> int:
        resp = await forwarder.forward(pool, "POST", f"/plain?i={i}", HEADERS, b"{}")
        return int(json.loads(await resp.read())["target"].split("=")[1])

    results = await asyncio.gather(*(one(i) for i in range(64)))
    assert results == list(range(64))
    assert pool.snapshot().in_flight == 0


def test_works_on_uvloop() -> None:
    """Granian runs the app on uvloop: the loop waker must work there too."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> tuple[int, bytes, int]:
        backend = Backend("u")
        address = await backend.start()
        fwd = Forwarder()
        try:
            pool = Pool()
            pool.add_backend("u", address)
            resp = await fwd.forward(pool, "POST", "/sse", HEADERS, b"{}")
            first = await anext(aiter(resp))
            backend.release.set()
            rest = await resp.read()
            return resp.status, first + rest, pool.snapshot().in_flight
        finally:
            fwd.close()
            await backend.close()

    status, body, in_flight = uvloop.run(main())
    assert status == 200
    assert body == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
    assert in_flight == 0


def test_one_forwarder_shared_by_threads_with_their_own_loops() -> None:
    """Granian runs several runtime threads, each with its own loop, sharing the module."""
    import threading

    fwd = Forwarder()
    results: list[int] = []
    errors: list[BaseException] = []

    async def serve_and_forward(name: str) -> None:
        backend = Backend(name)
        address = await backend.start()
        try:
            for _ in range(20):
                resp = await fwd.forward_to(address, "GET", "/plain", [])
                results.append(len(await resp.read()))
        finally:
            await backend.close()

    def run(name: str) -> None:
        try:
            asyncio.run(serve_and_forward(name))
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    fwd.close()
    assert not errors
    assert len(results) == 80


async def test_bad_request_never_takes_a_slot(forwarder: Forwarder) -> None:
    pool = Pool()
    pool.add_backend("a", refused_address())
    with pytest.raises(ValueError, match="header"):
        forwarder.forward(pool, "GET", "/", [(b"bad header", b"x")])
    with pytest.raises(TypeError):
        forwarder.forward(pool, "GET", "/", [], 123)  # type: ignore[arg-type]
    snap = pool.backend("a")
    assert (snap.total, snap.cancelled, snap.in_flight) == (0, 0, 0)


async def test_dropping_an_unawaited_request_aborts_it(
    backend: Backend, forwarder: Forwarder
) -> None:
    address = await backend.start()
    pool = Pool()
    pool.add_backend("a", address)
    pending = forwarder.forward(pool, "POST", "/slow", HEADERS, b"{}")
    while not backend.requests:
        await asyncio.sleep(0.01)
    assert pool.snapshot().in_flight == 1
    del pending
    await asyncio.wait_for(backend.disconnected.wait(), 5)
    await in_flight_settles(pool)
