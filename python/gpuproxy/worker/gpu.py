"""GPU discovery and metrics: NVML (nvidia-ml-py) when it is installed and a driver is
present, otherwise the simulated GPUs a worker was started with.

nvidia-ml-py is not a dependency; it is imported only if present, so the worker and the
local fleet run the same on machines without NVIDIA GPUs.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

from gpuproxy.worker.protocol import GpuInfo, GpuMetrics

__all__ = ["GpuProbe", "detect_nvidia_gpus", "load_nvml"]

log = logging.getLogger(__name__)
_nvml: ModuleType | None = None
_nvml_tried = False


def load_nvml() -> ModuleType | None:
    """The initialised `pynvml` module, or None without the package or a driver."""
    global _nvml, _nvml_tried
    if _nvml_tried:
        return _nvml
    _nvml_tried = True
    try:
        import pynvml  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError subclasses: no driver, no device, ...
        log.info("NVML unavailable: %s", exc)
        return None
    _nvml = pynvml
    return _nvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def detect_nvidia_gpus() -> list[GpuInfo]:
    """The machine's NVIDIA GPUs through NVML (empty without NVML)."""
    nvml = load_nvml()
    if nvml is None:
        return []
    gpus = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        gpus.append(
            GpuInfo(
                index=index,
                name=_text(nvml.nvmlDeviceGetName(handle)),
                memory_total_mb=int(memory.total) // (1024 * 1024),
                uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
            )
        )
    return gpus


class GpuProbe:
    """What a worker reports: real GPUs (`indices` of NVML devices) or simulated ones."""

    def __init__(self, simulated: list[GpuInfo], indices: list[int] | None = None) -> None:
        real = detect_nvidia_gpus()
        if indices is not None:
            real = [g for g in real if g.index in indices]
        self._nvml = load_nvml() if real else None
        self.gpus: list[GpuInfo] = real or simulated

    @property
    def uses_nvml(self) -> bool:
        return self._nvml is not None

    def metrics(self, in_flight: int = 0) -> list[GpuMetrics]:
        if self._nvml is not None:
            try:
                return [self._nvml_metrics(g) for g in self.gpus]
            except Exception:  # a GPU that fell off the bus must not kill heartbeats
                log.exception("NVML metrics failed")
                return []
        # Simulated load follows the requests in flight, so balancing decisions and
        # dashboards see something that moves with traffic.
        busy = min(100.0, 35.0 * in_flight)
        return [
            GpuMetrics(
                index=g.index,
                utilization_pct=busy,
                memory_used_mb=min(g.memory_total_mb, 512 + 1024 * in_flight),
                memory_total_mb=g.memory_total_mb,
            )
            for g in self.gpus
        ]

    def _nvml_metrics(self, gpu: GpuInfo) -> GpuMetrics:
        nvml = self._nvml
        assert nvml is not None
        handle = nvml.nvmlDeviceGetHandleByIndex(gpu.index)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        rates = nvml.nvmlDeviceGetUtilizationRates(handle)
        try:
            temperature: float | None = float(
                nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
            )
        except Exception:
            temperature = None
        try:
            power: float | None = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        except Exception:
            power = None
        return GpuMetrics(
            index=gpu.index,
            utilization_pct=float(rates.gpu),
            memory_used_mb=int(memory.used) // (1024 * 1024),
            memory_total_mb=int(memory.total) // (1024 * 1024),
            temperature_c=temperature,
            power_w=power,
        )
