"""The Prometheus exposition escapes label values and skips empty quantiles."""

from __future__ import annotations

from gpuproxy.gateway.prometheus import render_prometheus


def test_label_values_are_escaped_and_missing_quantiles_skipped() -> None:
    summary = {
        "requests": 2,
        "errors": 1,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cost_micros": 300,
        "latency_ms": {"p50": 1.5, "p90": None, "p99": 2.0},
        "ttft_ms": {"p50": None, "p90": None, "p99": None},
    }
    report = {
        "total_requests": 7,
        "total_errors": 1,
        "windows": {"1m": {"models": {'we"ird\\model': summary}}},
    }
    text = render_prometheus(report)
    assert 'gpuproxy_model_requests{model="we\\"ird\\\\model"} 2' in text
    assert 'quantile="0.5"} 1.5' in text
    assert 'quantile="0.9"' not in text
    assert "gpuproxy_model_ttft_ms{" not in text
    assert text.endswith("\n")


def _stats() -> dict[str, object]:
    buckets = (0.001, 0.01, 0.1)
    return {
        "ok": 5,
        "client_errors": 1,
        "upstream_errors": 2,
        "cancelled": 1,
        "rejected": 0,
        "prompt_tokens": 30,
        "completion_tokens": 70,
        "cost_micros": 900,
        "in_flight": 3,
        "queue_depth": 0,
        "callbacks_queued": 0,
        "usage_queued": 4,
        "allowances_live": 1,
        "keys_cached": 2,
        "callbacks_asked": 7,
        "callbacks_overflowed": 1,
        "callbacks_timed_out": 0,
        "buckets": buckets,
        "latency": ([1, 2, 0, 1], 0.5),
        "ttft": ([0, 0, 0, 0], 0.0),
        "upstream": ([4, 0, 0, 0], 0.002),
    }


def test_data_plane_histograms_are_cumulative_and_parse() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    report = {"total_requests": 0, "total_errors": 0, "windows": {}}
    text = render_prometheus(report, _stats())  # type: ignore[arg-type]
    families = {f.name: f for f in text_string_to_metric_families(text)}
    latency = families["gpuproxy_request_duration_seconds"]
    buckets = {s.labels["le"]: s.value for s in latency.samples if s.name.endswith("_bucket")}
    assert buckets == {"0.001": 1.0, "0.01": 3.0, "0.1": 3.0, "+Inf": 4.0}
    count = next(s.value for s in latency.samples if s.name.endswith("_count"))
    assert count == 4.0
    outcomes = {s.labels["outcome"]: s.value for s in families["gpuproxy_requests"].samples}
    assert outcomes["upstream_error"] == 2.0
    assert families["gpuproxy_in_flight_requests"].samples[0].value == 3.0
