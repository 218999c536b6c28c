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
