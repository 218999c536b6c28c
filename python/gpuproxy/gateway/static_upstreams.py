"""Static upstreams from GATEWAY_UPSTREAMS: OpenAI-compatible servers the operator runs
(vLLM, TGI, llama.cpp, stub workers) without the worker agent.

`GATEWAY_UPSTREAMS="llama=http://10.0.0.5:8000,llama=https://gpu.example,emb=h2c://10.0.0.7:9000"`
They are owned by the pseudo-user `static` and shared with every user through the shared
pool `static`, so they appear in everyone's /v1/models and are billed at model prices.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from gpuproxy.exceptions import ConfigError
from gpuproxy.gateway.pools import SharedPoolConfig
from gpuproxy.gateway.workers import WorkerInfo

__all__ = ["STATIC_OWNER", "parse_upstreams", "static_shared_pool"]

STATIC_OWNER = "static"


def static_shared_pool() -> SharedPoolConfig:
    return SharedPoolConfig(name="static", owner_id=STATIC_OWNER)


def parse_upstreams(text: str) -> list[WorkerInfo]:
    """One always-healthy WorkerInfo per `model=url` entry (same URL, several models: one
    worker serving them all)."""
    by_address: dict[str, list[str]] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        model, sep, address = entry.partition("=")
        model, address = model.strip(), address.strip().rstrip("/")
        parts = urlsplit(address)
        if (
            not sep
            or not model
            or parts.scheme not in ("http", "https", "h2c")
            or not parts.hostname
        ):
            raise ConfigError(
                f"GATEWAY_UPSTREAMS entry {entry!r} is invalid: expected model=http://host:port "
                "(or https://host[:port], h2c://host:port)"
            )
        by_address.setdefault(address, [])
        if model not in by_address[address]:
            by_address[address].append(model)
    now = time.time()
    return [
        WorkerInfo(
            worker_id=f"static-{index}",
            owner_id=STATIC_OWNER,
            instance_id=None,
            address=address,
            models=models,
            gpus=[],
            backend="static",
            version="",
            heartbeat_interval_s=0,
            registered_at=now,
            last_heartbeat_at=now,
        )
        for index, (address, models) in enumerate(by_address.items(), start=1)
    ]
