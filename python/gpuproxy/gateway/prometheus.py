"""Prometheus exposition of the gateway's metrics, through `prometheus_client`.

What can be summed across processes and instances is exposed as counters and histograms
(fixed buckets): requests by outcome, tokens, cost, and the request latency, time to first
token and upstream head time measured by the Rust data plane on every request. What
describes one process now is a gauge (in flight, queue depth, questions waiting for the
control plane, usage records waiting to be written, live allowances). The per-model figures
of the most recent window stay gauges with quantile labels (a convenience for one process;
use the histograms for fleet-wide quantiles). Per-user figures are left out on purpose: user
ids as label values would grow without bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gpuproxy.gateway.prometheus_loops import LoopsCollector

__all__ = ["CONTENT_TYPE", "render_prometheus"]

#: The text format generate_latest() writes (0.0.4, what every Prometheus scrapes). No
#: charset: Litestar appends `; charset=utf-8` to every text/* type (it was there twice).
CONTENT_TYPE = "text/plain; version=0.0.4"

_MODEL_GAUGES = (
    ("requests", "gpuproxy_model_requests", "Requests per model in the window"),
    ("errors", "gpuproxy_model_errors", "Failed requests per model in the window"),
    ("prompt_tokens", "gpuproxy_model_prompt_tokens", "Prompt tokens per model in the window"),
    ("completion_tokens", "gpuproxy_model_completion_tokens", "Completion tokens in the window"),
    ("cost_micros", "gpuproxy_model_cost_microdollars", "Cost in micro-dollars in the window"),
)
_MODEL_QUANTILES = (
    ("latency_ms", "gpuproxy_model_latency_ms", "Request latency quantiles (ms)"),
    ("ttft_ms", "gpuproxy_model_ttft_ms", "Time-to-first-token quantiles (ms)"),
)
_QUANTILES = {"p50": "0.5", "p90": "0.9", "p99": "0.99"}
_OUTCOMES = (
    ("ok", "ok"),
    ("client_errors", "client_error"),
    ("upstream_errors", "upstream_error"),
    ("cancelled", "cancelled"),
    ("rejected", "rejected"),
)
_HISTOGRAMS = (
    ("latency", "gpuproxy_request_duration_seconds", "Inference request duration"),
    ("ttft", "gpuproxy_time_to_first_token_seconds", "Time to the first token"),
    ("upstream", "gpuproxy_upstream_head_seconds", "Time to the worker's response head"),
)
_GAUGES = (
    ("in_flight", "gpuproxy_in_flight_requests", "Inference requests in flight"),
    ("queue_depth", "gpuproxy_admission_queue_depth", "Requests waiting for a worker slot"),
    ("callbacks_queued", "gpuproxy_control_callbacks_queued", "Questions waiting for Python"),
    ("usage_queued", "gpuproxy_usage_ring_queued", "Settlements waiting to be drained"),
    ("allowances_live", "gpuproxy_spend_allowances_live", "Users with a live allowance"),
    ("keys_cached", "gpuproxy_credentials_cached", "Credentials cached by the data plane"),
)


def _histogram(name: str, doc: str, stats: dict[str, Any], key: str) -> HistogramMetricFamily:
    counts, total = stats[key]
    bounds = [*stats["buckets"], float("inf")]
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip(bounds, counts, strict=True):
        running += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


class _Gateway(Collector):
    def __init__(self, report: dict[str, Any], stats: dict[str, Any] | None, window: str) -> None:
        self.report = report
        self.stats = stats
        self.window = window

    def collect(self) -> Iterator[Metric]:
        yield from self._totals()
        yield from self._per_model()

    def _totals(self) -> Iterator[Metric]:
        stats = self.stats
        if stats is None:
            # No data plane (in-process app): the Python path's own totals.
            requests = CounterMetricFamily(
                "gpuproxy_requests", "Inference requests handled by this process"
            )
            requests.add_metric([], float(self.report["total_requests"]))
            yield requests
            errors = CounterMetricFamily("gpuproxy_errors", "Failed inference requests")
            errors.add_metric([], float(self.report["total_errors"]))
            yield errors
            return
        requests = CounterMetricFamily(
            "gpuproxy_requests", "Inference requests settled, by outcome", labels=["outcome"]
        )
        for key, outcome in _OUTCOMES:
            requests.add_metric([outcome], float(stats[key]))
        yield requests
        errors = CounterMetricFamily("gpuproxy_errors", "Requests that failed upstream")
        errors.add_metric([], float(stats["upstream_errors"]))
        yield errors
        tokens = CounterMetricFamily("gpuproxy_tokens", "Tokens metered", labels=["kind"])
        tokens.add_metric(["prompt"], float(stats["prompt_tokens"]))
        tokens.add_metric(["completion"], float(stats["completion_tokens"]))
        yield tokens
        cost = CounterMetricFamily("gpuproxy_cost_microdollars", "Cost charged (micro-dollars)")
        cost.add_metric([], float(stats["cost_micros"]))
        yield cost
        callbacks = CounterMetricFamily(
            "gpuproxy_control_callbacks",
            "Questions the data plane asked Python, and how many it could not ask or wait for",
            labels=["result"],
        )
        for key in ("asked", "overflowed", "timed_out"):
            callbacks.add_metric([key], float(stats[f"callbacks_{key}"]))
        yield callbacks
        for key, name, doc in _HISTOGRAMS:
            yield _histogram(name, doc, stats, key)
        for key, name, doc in _GAUGES:
            yield GaugeMetricFamily(name, doc, value=float(stats[key]))

    def _per_model(self) -> Iterator[Metric]:
        window = self.window
        models: dict[str, dict[str, Any]] = self.report["windows"].get(window, {}).get("models", {})
        for key, name, doc in _MODEL_GAUGES:
            gauge = GaugeMetricFamily(name, f"{doc} ({window})", labels=["model"])
            for model, summary in sorted(models.items()):
                gauge.add_metric([model], float(summary[key]))
            yield gauge
        for key, name, doc in _MODEL_QUANTILES:
            gauge = GaugeMetricFamily(name, f"{doc} ({window})", labels=["model", "quantile"])
            for model, summary in sorted(models.items()):
                for quantile_key, quantile in _QUANTILES.items():
                    value = summary[key].get(quantile_key)
                    if value is not None:
                        gauge.add_metric([model, quantile], float(value))
            yield gauge


def render_prometheus(
    report: dict[str, Any],
    stats: dict[str, Any] | None = None,
    window: str = "1m",
    loops: dict[str, dict[str, Any]] | None = None,
    extra: Iterable[Collector] = (),
) -> str:
    """The exposition text of `GatewayMetrics.report()`, the data plane's `stats()` and the
    background loops' `Supervisor.report()`, plus other areas' collectors (`extra`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Gateway(report, stats, window))
    if loops is not None:
        registry.register(LoopsCollector(loops))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry).decode()
