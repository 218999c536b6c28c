"""The MODELS_* settings of model serving (a part of `gpuproxy.config.Settings`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import msgspec

__all__ = ["ServingSettings", "read_serving_settings"]

T = TypeVar("T")

MIB = 1024 * 1024


class _Reader(Protocol):
    def integer(self, name: str, default: int, low: int, high: int) -> int: ...
    def boolean(self, name: str, default: bool) -> bool: ...
    def parse(self, name: str, default: T, parser: Callable[[str], T], accepted: str) -> T: ...


class ServingSettings(msgspec.Struct, kw_only=True, frozen=True):
    enabled: bool = True  # MODELS_ENABLED
    max_upload_bytes: int = 256 * MIB  # MODELS_MAX_UPLOAD_BYTES (one file)
    max_models_per_user: int = 50  # MODELS_MAX_PER_USER (versions count one each)
    max_bytes_per_user: int = 2048 * MIB  # MODELS_MAX_BYTES_PER_USER
    #: loaded sessions are evicted least recently used past this many model-file bytes
    cache_bytes: int = 1024 * MIB  # MODELS_CACHE_BYTES
    predict_timeout_s: float = 30.0  # MODELS_PREDICT_TIMEOUT_SECONDS
    #: runs of one model at the same time in this process (more wait their turn)
    max_concurrency_per_model: int = 4  # MODELS_MAX_CONCURRENCY_PER_MODEL
    #: ONNX Runtime threads per session (0 = ONNX Runtime's default: every core)
    intra_op_threads: int = 1  # MODELS_INTRA_OP_THREADS
    use_gpu: bool = True  # MODELS_USE_GPU (CUDA provider when onnxruntime-gpu finds a GPU)
    #: dynamic batching: requests to one model within this window run together (0 = off)
    batch_window_ms: int = 0  # MODELS_BATCH_WINDOW_MS
    max_batch_size: int = 32  # MODELS_MAX_BATCH_SIZE (rows in one batch)
    #: admins may upload .pkl/.joblib (converted in a child process; pickles run code)
    allow_pickle: bool = False  # MODELS_ALLOW_PICKLE


def read_serving_settings(r: _Reader) -> ServingSettings:
    def seconds(value: str) -> float:
        number = float(value)
        if not 0.001 <= number <= 3600:  # also refuses nan and inf
            raise ValueError(value)
        return number

    return ServingSettings(
        enabled=r.boolean("MODELS_ENABLED", True),
        max_upload_bytes=r.integer("MODELS_MAX_UPLOAD_BYTES", 256 * MIB, 1024, 1 << 40),
        max_models_per_user=r.integer("MODELS_MAX_PER_USER", 50, 0, 1_000_000),
        max_bytes_per_user=r.integer("MODELS_MAX_BYTES_PER_USER", 2048 * MIB, 0, 1 << 50),
        cache_bytes=r.integer("MODELS_CACHE_BYTES", 1024 * MIB, 0, 1 << 50),
        predict_timeout_s=r.parse(
            "MODELS_PREDICT_TIMEOUT_SECONDS", 30.0, seconds, "seconds from 0.001 to 3600"
        ),
        max_concurrency_per_model=r.integer("MODELS_MAX_CONCURRENCY_PER_MODEL", 4, 1, 10_000),
        intra_op_threads=r.integer("MODELS_INTRA_OP_THREADS", 1, 0, 1024),
        use_gpu=r.boolean("MODELS_USE_GPU", True),
        allow_pickle=r.boolean("MODELS_ALLOW_PICKLE", False),
        batch_window_ms=r.integer("MODELS_BATCH_WINDOW_MS", 0, 0, 10_000),
        max_batch_size=r.integer("MODELS_MAX_BATCH_SIZE", 32, 1, 1_000_000),
    )
