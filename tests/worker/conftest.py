"""Fixtures: real worker agent processes on loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gpuproxy.providers._workerproc import WorkerProcess

SpawnWorker = Callable[..., Awaitable[WorkerProcess]]


@pytest.fixture
async def spawn_worker() -> AsyncIterator[SpawnWorker]:
    started: list[WorkerProcess] = []

    async def spawn(
        *args: str, env: dict[str, str] | None = None, wait: bool = True
    ) -> WorkerProcess:
        worker = WorkerProcess.spawn(list(args), env=env)
        started.append(worker)
        if wait:
            assert await worker.wait_healthy(15), "worker did not start"
        return worker

    yield spawn
    for worker in started:
        await worker.stop(grace_s=3)
