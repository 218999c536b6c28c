"""OpenTelemetry spans of settled requests (GenAI conventions, explicit timings, the
client's traceparent as parent), through the real OpenTelemetry SDK and its in-memory
exporter, from a unit row and from a request through the data plane."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gpuproxy.gateway.tracing import RequestTracer

from .support import GatewayServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


def _tracer(exporter: InMemorySpanExporter) -> RequestTracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return RequestTracer(provider)


def _row(**changes: object) -> tuple[object, ...]:
    row: dict[str, object] = {
        "id": "u1", "request_id": "r-1", "created_ms": 1_700_000_000_000, "user_id": "alice",
        "key_id": "k1", "model": "m1", "endpoint": "chat.completions", "worker": "wrk_1",
        "pool": "own:alice", "stream": 1, "status": 200, "outcome": "ok", "prompt": 12,
        "completion": 30, "estimated": 0, "cost": 0, "queue_us": 1_500, "ttft_us": 20_000,
        "latency_us": 90_000, "tps": 428.571,
    }  # fmt: skip
    row.update(changes)
    return tuple(row.values())


def test_a_settled_request_becomes_a_genai_span_with_its_phases(
    exporter: InMemorySpanExporter,
) -> None:
    _tracer(exporter).record(_row(), PARENT)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"chat m1", "gpuproxy.admission", "gpuproxy.upstream"}
    root = spans["chat m1"]
    assert root.kind == SpanKind.SERVER
    assert root.attributes is not None
    assert root.attributes["gen_ai.operation.name"] == "chat"
    assert root.attributes["gen_ai.request.model"] == "m1"
    assert root.attributes["gen_ai.usage.input_tokens"] == 12
    assert root.attributes["gen_ai.usage.output_tokens"] == 30
    start = 1_700_000_000_000 * 1_000_000
    assert (root.start_time, root.end_time) == (start, start + 90_000_000)
    assert format(root.context.trace_id, "032x") == TRACE_ID  # the client's trace
    assert root.parent is not None
    assert format(root.parent.span_id, "016x") == "00f067aa0ba902b7"
    admission, upstream = spans["gpuproxy.admission"], spans["gpuproxy.upstream"]
    assert admission.parent is not None
    assert admission.parent.span_id == root.context.span_id
    assert (admission.start_time, admission.end_time) == (start, start + 1_500_000)
    assert upstream.start_time == start + 1_500_000
    (first_token,) = upstream.events
    assert (first_token.name, first_token.timestamp) == ("first_token", start + 20_000_000)
    assert root.status.status_code == StatusCode.UNSET


def test_failures_are_error_spans_and_no_parent_starts_a_trace(
    exporter: InMemorySpanExporter,
) -> None:
    _tracer(exporter).record(
        _row(status=502, outcome="upstream_error", endpoint="embeddings", ttft_us=None), None
    )
    root = next(s for s in exporter.get_finished_spans() if s.name == "embeddings m1")
    assert root.parent is None
    assert root.status.status_code == StatusCode.ERROR
    assert root.attributes is not None
    assert root.attributes["error.type"] == "502"


async def test_requests_through_the_data_plane_are_traced(
    gateway: GatewayServer, exporter: InMemorySpanExporter
) -> None:
    gateway.gateway.data_plane.tracer = _tracer(exporter)
    alice = await gateway.user()
    await gateway.spawn_worker(alice, "--model", "m1")
    body = {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        answer = await client.post(
            "/v1/chat/completions", json=body, headers={**alice.headers, "traceparent": PARENT}
        )
    assert answer.status_code == 200
    await gateway.settle()
    root = next(s for s in exporter.get_finished_spans() if s.name == "chat m1")
    assert format(root.context.trace_id, "032x") == TRACE_ID
    assert root.attributes is not None
    assert root.attributes["gpuproxy.request_id"] == answer.headers["x-request-id"]
    assert (
        root.attributes["gen_ai.usage.output_tokens"] == answer.json()["usage"]["completion_tokens"]
    )


async def test_debug_mode_logs_an_access_line_per_request(
    gateway: GatewayServer, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await gateway.user()
    await gateway.spawn_worker(alice, "--model", "m1")
    body = {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    with caplog.at_level("DEBUG", logger="gpuproxy.access"):
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            answer = await client.post(
                "/v1/chat/completions", json=body, headers={**alice.headers, "X-Request-ID": "r-77"}
            )
        assert answer.status_code == 200
        await gateway.settle()
    (line,) = [r for r in caplog.records if r.name == "gpuproxy.access"]
    assert line.getMessage().startswith("POST chat.completions -> 200 (ok) in ")
    assert alice.key not in line.getMessage()
