"""Prometheus text exposition of the gateway's metrics report (format 0.0.4).

Process totals are counters; the per-model figures of the most recent window are gauges
(requests, errors, tokens and cost in that window, latency and time-to-first-token
quantiles), so a scrape every 15 s sees the last minute of traffic per model. Per-user
figures are left out on purpose: user ids as label values would grow without bound.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONTENT_TYPE", "render_prometheus"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_prometheus(report: dict[str, Any], window: str = "1m") -> str:
    """The exposition text of `GatewayMetrics.report()` for `window`."""
    lines = [
        "# HELP gpuproxy_requests_total Inference requests handled by this process",
        "# TYPE gpuproxy_requests_total counter",
        f"gpuproxy_requests_total {int(report['total_requests'])}",
        "# HELP gpuproxy_errors_total Failed inference requests of this process",
        "# TYPE gpuproxy_errors_total counter",
        f"gpuproxy_errors_total {int(report['total_errors'])}",
    ]
    models: dict[str, dict[str, Any]] = report["windows"].get(window, {}).get("models", {})
    for key, name, help_text in _MODEL_GAUGES:
        lines += [f"# HELP {name} {help_text} ({window})", f"# TYPE {name} gauge"]
        for model, summary in sorted(models.items()):
            lines.append(f'{name}{{model="{_label(model)}"}} {int(summary[key])}')
    for key, name, help_text in _MODEL_QUANTILES:
        lines += [f"# HELP {name} {help_text} ({window})", f"# TYPE {name} gauge"]
        for model, summary in sorted(models.items()):
            for quantile_key, quantile in _QUANTILES.items():
                value = summary[key].get(quantile_key)
                if value is not None:
                    labels = f'model="{_label(model)}",quantile="{quantile}"'
                    lines.append(f"{name}{{{labels}}} {value}")
    return "\n".join(lines) + "\n"
