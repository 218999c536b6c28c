"""OpenTelemetry traces of inference requests (off by default: GATEWAY_OTEL_TRACES=true).

The data plane serves requests without Python, so spans are not opened while a request
runs: each settled request comes back in the usage ring with its timings, and becomes a
span with explicit start and end times (the request's own clock readings, not the time of
the drain), following the GenAI semantic conventions:

    chat {model}                 gen_ai.operation.name, gen_ai.request.model,
    ├─ gpuproxy.admission        gen_ai.usage.input_tokens / output_tokens, gen_ai.provider.name,
    └─ gpuproxy.upstream         http.response.status_code, error.type, gpuproxy.* (cost, pool,
         · event first_token     worker, outcome, tokens estimated)

A client's W3C `traceparent` makes the span a child of the client's trace. Spans go through
a batching processor to the OTLP/HTTP exporter, configured by the standard OTEL_* variables
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, ...). Needs the `otel` extra
(`pip install aiserve-gpuproxy[otel]`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpuproxy.exceptions import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["OPERATIONS", "RequestTracer", "otlp_provider"]

#: The data plane's endpoint names -> gen_ai.operation.name
OPERATIONS = {
    "chat.completions": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
}
_MS = 1_000_000  # nanoseconds
_US = 1_000


def otlp_provider(service_name: str = "aiserve-gpuproxy") -> TracerProvider:
    """A provider exporting in batches over OTLP/HTTP (endpoint from OTEL_* variables)."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigError(
            "GATEWAY_OTEL_TRACES=true needs the OpenTelemetry packages: "
            "pip install 'aiserve-gpuproxy[otel]'"
        ) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class RequestTracer:
    """Turns settled requests (usage rows) into spans."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self._tracer = provider.get_tracer("gpuproxy.gateway")
        self._propagator = TraceContextTextMapPropagator()

    def record(self, row: tuple[Any, ...], traceparent: str | None) -> None:
        """One usage row (the writer's column order) and the client's traceparent."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        (_, request_id, created_ms, user_id, key_id, model, endpoint, worker_id, pool,
         stream, status, outcome, prompt, completion, estimated, cost, queue_us, ttft_us,
         latency_us, tokens_per_s) = row[:20]  # fmt: skip
        operation = OPERATIONS.get(endpoint, endpoint)
        start = created_ms * _MS
        end = start + latency_us * _US
        context = None
        if traceparent:
            context = self._propagator.extract({"traceparent": traceparent})
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": "openai",  # the OpenAI-compatible API the workers serve
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": prompt,
            "gen_ai.usage.output_tokens": completion,
            "http.response.status_code": status,
            "gpuproxy.request_id": request_id,
            "gpuproxy.user_id": user_id,
            "gpuproxy.outcome": outcome,
            "gpuproxy.stream": bool(stream),
            "gpuproxy.tokens_estimated": bool(estimated),
            "gpuproxy.cost_micros": cost,
            "gpuproxy.pool": pool,
        }
        if key_id:
            attributes["gpuproxy.api_key_id"] = key_id
        if worker_id:
            attributes["gpuproxy.worker_id"] = worker_id
        if tokens_per_s:
            attributes["gpuproxy.output_tokens_per_second"] = tokens_per_s
        failed = outcome not in ("ok", "cancelled")
        if failed:
            attributes["error.type"] = outcome if status < 400 else str(status)
        span = self._tracer.start_span(
            f"{operation} {model}",
            context=context,
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=start,
        )
        from opentelemetry.trace import set_span_in_context

        inside = set_span_in_context(span)
        queued_until = start + queue_us * _US
        self._tracer.start_span("gpuproxy.admission", context=inside, start_time=start).end(
            end_time=queued_until
        )
        upstream = self._tracer.start_span(
            "gpuproxy.upstream",
            context=inside,
            kind=SpanKind.CLIENT,
            attributes={"gpuproxy.worker_id": worker_id or ""},
            start_time=queued_until,
        )
        if ttft_us is not None:
            upstream.add_event("first_token", timestamp=start + ttft_us * _US)
        upstream.end(end_time=end)
        if failed:
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end(end_time=end)

    def close(self) -> None:
        shutdown = getattr(self.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
