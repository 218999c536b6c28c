"""Prometheus metrics of the supervised background loops (`gpuproxy.supervisor`).

Per loop (the `loop` label is one of a fixed set of names, so the series stay bounded):
`gpuproxy_background_loop_up` (1 running or finished, 0 restarting or stopped),
`gpuproxy_background_loop_restarts_total` and
`gpuproxy_background_loop_consecutive_failures`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LoopsCollector"]

_UP_STATES = frozenset({"running", "finished"})


class LoopsCollector(Collector):
    def __init__(self, loops: dict[str, dict[str, Any]]) -> None:
        self.loops = loops

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "gpuproxy_background_loop_up",
            "1 when the background loop runs, 0 while it waits to restart after an error",
            labels=["loop"],
        )
        restarts = CounterMetricFamily(
            "gpuproxy_background_loop_restarts",
            "Restarts of the background loop after an error",
            labels=["loop"],
        )
        failures = GaugeMetricFamily(
            "gpuproxy_background_loop_consecutive_failures",
            "Failures of the background loop since it last ran steadily",
            labels=["loop"],
        )
        for name, view in sorted(self.loops.items()):
            up.add_metric([name], 1.0 if view["state"] in _UP_STATES else 0.0)
            restarts.add_metric([name], float(view["restarts"]))
            failures.add_metric([name], float(view["consecutive_failures"]))
        yield up
        yield restarts
        yield failures
