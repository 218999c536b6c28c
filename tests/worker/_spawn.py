"""Start real worker agent processes for a test and stop them afterwards (no orphans)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from gpuproxy.providers._workerproc import WorkerProcess

__all__ = ["SpawnWorker", "worker_spawner"]

SpawnWorker = Callable[..., Awaitable[WorkerProcess]]


@asynccontextmanager
async def worker_spawner() -> AsyncIterator[SpawnWorker]:
    started: list[WorkerProcess] = []

    async def spawn(
        *args: str, env: dict[str, str] | None = None, wait: bool = True
    ) -> WorkerProcess:
        worker = WorkerProcess.spawn(list(args), env=env)
        started.append(worker)
        if wait:
            assert await worker.wait_healthy(15), "worker did not start"
        return worker

    try:
        yield spawn
    finally:
        for worker in started:
            await worker.stop(grace_s=3)
