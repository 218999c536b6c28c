"""Per-model Prometheus metrics of model serving: predictions by outcome and their duration
(a histogram with fixed buckets, so it sums across processes). Labelled by model id: the
number of models is bounded by the per-user quotas, unlike user ids, which are left out."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["OUTCOMES", "ServingMetrics"]

OUTCOMES = ("ok", "client_error", "refused", "timeout", "error")
#: Seconds: classical models answer in tens of microseconds, large graphs in seconds.
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
            0.5, 1.0, 2.5, 5.0, 10.0)  # fmt: skip


@dataclass(slots=True)
class _Model:
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    counts: list[int] = field(default_factory=lambda: [0] * (len(_BUCKETS) + 1))
    total_seconds: float = 0.0


class ServingMetrics(Collector):
    def __init__(self) -> None:
        self._models: dict[str, _Model] = {}

    def observe(self, model_id: str, outcome: str, seconds: float | None) -> None:
        stats = self._models.setdefault(model_id, _Model())
        stats.outcomes[outcome] += 1
        if seconds is not None:
            stats.counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
            stats.total_seconds += seconds

    def forget(self, model_id: str) -> None:
        self._models.pop(model_id, None)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "gpuproxy_served_model_requests",
            "Predictions of uploaded models, by outcome",
            labels=["model", "outcome"],
        )
        for model_id, stats in sorted(self._models.items()):
            for outcome, count in stats.outcomes.items():
                requests.add_metric([model_id, outcome], float(count))
        yield requests
        duration = HistogramMetricFamily(
            "gpuproxy_served_model_duration_seconds",
            "Time to run an uploaded model (waiting for a slot included)",
            labels=["model"],
        )
        bounds = [*(repr(b) for b in _BUCKETS), "+Inf"]
        for model_id, stats in sorted(self._models.items()):
            running = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip(bounds, stats.counts, strict=True):
                running += count
                buckets.append((bound, float(running)))
            duration.add_metric([model_id], buckets, stats.total_seconds)
        yield duration
