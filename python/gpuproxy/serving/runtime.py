"""ONNX Runtime sessions: loaded on demand, kept in an LRU bounded by model-file bytes, one
load at a time per model (single flight), a bounded number of runs per model, a timeout.

The CUDA execution provider is used when onnxruntime-gpu is installed (the `gpu` extra) and
finds a GPU, CPU otherwise; every answer says which (`runtime`, `used_gpu`). A run that
passes its timeout is told to stop (`RunOptions.terminate`) so its thread is freed too.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.settings import ServingSettings

__all__ = ["RUNTIME_NAME", "Loaded", "ModelRuntime", "Ran"]

RUNTIME_NAME = "onnx"  # the seed's name for ONNX Runtime in answers


@dataclass(eq=False)
class Loaded:
    session: Any
    size: int
    used_gpu: bool
    slots: asyncio.Semaphore
    input_names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Ran:
    outputs: dict[str, np.ndarray]
    latency_ms: float
    used_gpu: bool
    runtime: str = RUNTIME_NAME
    batch_size: int = 1  # requests that ran together (dynamic batching)


class ModelRuntime:
    def __init__(self, settings: ServingSettings) -> None:
        self._settings = settings
        self._cache: OrderedDict[str, Loaded] = OrderedDict()
        self._bytes = 0
        self._loading: dict[str, asyncio.Future[Loaded]] = {}
        self._providers: list[str] | None = None

    @property
    def loaded(self) -> list[str]:
        return list(self._cache)

    def providers(self) -> list[str]:
        if self._providers is None:
            import onnxruntime as ort

            available = ort.get_available_providers()
            chosen = ["CPUExecutionProvider"]
            if self._settings.use_gpu and "CUDAExecutionProvider" in available:
                chosen.insert(0, "CUDAExecutionProvider")
            self._providers = chosen
        return self._providers

    def _session(self, path: Path) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self._settings.intra_op_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: warnings about unused initializers etc.
        return ort.InferenceSession(str(path), sess_options=options, providers=self.providers())

    async def load(self, model_id: str, path: Path, size: int) -> Loaded:
        """The model's session, loading it (in a thread) when it is not in memory."""
        loaded = self._cache.get(model_id)
        if loaded is not None:
            self._cache.move_to_end(model_id)
            return loaded
        flight = self._loading.get(model_id)
        if flight is not None:
            return await asyncio.shield(flight)
        future: asyncio.Future[Loaded] = asyncio.get_running_loop().create_future()
        self._loading[model_id] = future
        try:
            if not await asyncio.to_thread(path.is_file):
                # Recorded in the shared database but not on this instance's disk.
                raise ModelError(
                    503,
                    "the model's file is not in this instance's storage "
                    "(DATA_DIR/models must be shared by every instance)",
                    code="model_file_missing",
                )
            try:
                session = await asyncio.to_thread(self._session, path)
            except Exception as exc:
                raise ModelError(
                    400,
                    f"model: ONNX Runtime cannot load it: {str(exc).splitlines()[0][:300]}",
                    code="model_unloadable",
                    param="model",
                ) from exc
            used_gpu = "CUDAExecutionProvider" in session.get_providers()
            slots = asyncio.Semaphore(self._settings.max_concurrency_per_model)
            names = [i.name for i in session.get_inputs()]
            loaded = Loaded(session, size, used_gpu, slots, names)
            self._admit(model_id, loaded)
            future.set_result(loaded)
            return loaded
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()  # the loader's caller gave up (its timeout): so do its waiters
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: waiters re-raise it; no "never retrieved" log
            raise
        finally:
            self._loading.pop(model_id, None)

    def _admit(self, model_id: str, loaded: Loaded) -> None:
        self._cache[model_id] = loaded
        self._bytes += loaded.size
        # The newest model stays even when it alone is over the budget: it is being used.
        while self._bytes > self._settings.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._bytes -= old.size

    def evict(self, model_id: str) -> None:
        old = self._cache.pop(model_id, None)
        if old is not None:
            self._bytes -= old.size

    async def run(
        self,
        model_id: str,
        path: Path,
        size: int,
        feeds: dict[str, np.ndarray],
        output_names: list[str],
    ) -> Ran:
        import onnxruntime as ort
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

        timeout = self._settings.predict_timeout_s
        options = ort.RunOptions()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                loaded = await self.load(model_id, path, size)
                async with loaded.slots:
                    values = await asyncio.to_thread(
                        loaded.session.run, output_names, feeds, options
                    )
        except TimeoutError as exc:
            options.terminate = True
            raise ModelError(
                504, f"the model did not answer within {timeout:g} s", code="model_timeout"
            ) from exc
        except InvalidArgument as exc:
            raise ModelError(
                400, f"inputs: {str(exc).splitlines()[0][:300]}", param="inputs"
            ) from exc
        except ModelError:
            raise
        except Exception as exc:
            # The graph failed on this input (a reshape that does not fit, ...).
            raise ModelError(
                422,
                f"the model failed on this input: {str(exc).splitlines()[0][:300]}",
                code="model_failed",
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        return Ran(dict(zip(output_names, values, strict=True)), latency_ms, loaded.used_gpu)
