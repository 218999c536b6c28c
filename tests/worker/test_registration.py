"""A real worker process registers with a real proxy endpoint (Litestar + Granian), keeps
heartbeating, is marked unhealthy when its heartbeats stop (SIGSTOP) and healthy again
when they resume (SIGCONT)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import AsyncIterator

import pytest
from granian.constants import Interfaces
from granian.server.embed import Server
from litestar import Litestar
from tests.worker._spawn import SpawnWorker, worker_spawner
from websockets.asyncio.client import connect

from gpuproxy.api.gateway.workers_ws import workers_connect
from gpuproxy.gateway.worker_address import WorkerAddressPolicy
from gpuproxy.gateway.workers import WorkerEvent, WorkerRegistry


@pytest.fixture
async def spawn_worker() -> AsyncIterator[SpawnWorker]:
    async with worker_spawner() as spawn:
        yield spawn


class Proxy:
    def __init__(self, registry: WorkerRegistry, url: str, endpoints: dict[str, str]) -> None:
        self.registry = registry
        self.url = url
        #: instance id -> the address its "provider" reports (workers must register there)
        self.endpoints = endpoints
        self.events: list[WorkerEvent] = []
        registry.subscribe(self.events.append)

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> WorkerEvent:
        async with asyncio.timeout(timeout):
            while sum(e.kind == kind for e in self.events) < count:
                await asyncio.sleep(0.02)
        return [e for e in self.events if e.kind == kind][count - 1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    endpoints: dict[str, str] = {}

    async def endpoint(instance_id: str) -> str | None:
        return endpoints.get(instance_id)

    policy = WorkerAddressPolicy(allowed_networks=["127.0.0.0/8"], instance_endpoint=endpoint)
    registry = WorkerRegistry(min_interval_s=0.05, resume_grace_s=5, address_policy=policy)
    app = Litestar(route_handlers=[workers_connect], logging_config=None)
    app.state["worker_registry"] = registry
    port = _free_port()
    server = Server(
        app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_enabled=False
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.01)
    yield Proxy(registry, f"http://127.0.0.1:{port}", endpoints)
    server.stop()
    await asyncio.wait_for(serving, 10)
    await registry.stop()


async def test_register_heartbeat_loss_and_recovery(
    proxy: Proxy, spawn_worker: SpawnWorker
) -> None:
    token = await proxy.registry.issue_token("user-7", instance_id="local-1")
    worker = await spawn_worker(
        "--model",
        "sim",
        "--proxy-url",
        proxy.url,
        "--heartbeat-interval",
        "0.1",
        "--gpu-name",
        "A100 80GB",
        "--gpu-memory-mb",
        "81920",
        env={"GPUPROXY_WORKER_TOKEN": token},
    )
    # The provider reports the instance's address only now: until then the worker was told
    # to retry (address_unverified), with the same token.
    proxy.endpoints["local-1"] = worker.endpoint
    registered = await proxy.wait_for("registered")
    info = registered.worker
    assert info.owner_id == "user-7"
    assert info.instance_id == "local-1"
    assert info.address == worker.endpoint
    assert info.models == ["sim"]
    assert info.gpus[0].name == "A100 80GB"
    assert info.heartbeat_interval_s == 0.1

    await asyncio.sleep(0.5)
    current = proxy.registry.get(info.worker_id)
    assert current is not None
    assert current.healthy
    assert current.heartbeats >= 3
    assert current.metrics
    assert current.metrics[0].memory_total_mb == 81920

    os.kill(worker.pid, signal.SIGSTOP)  # heartbeats stop; the connection stays open
    try:
        unhealthy = await proxy.wait_for("unhealthy", timeout=5)
        assert "heartbeats missed" in unhealthy.worker.unhealthy_reason
        assert proxy.registry.workers(healthy_only=True) == []
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    await proxy.wait_for("healthy", timeout=5)
    assert [w.worker_id for w in proxy.registry.workers(model="sim", healthy_only=True)] == [
        info.worker_id
    ]

    await worker.stop()  # SIGTERM: the agent deregisters on its way out
    removed = await proxy.wait_for("removed", timeout=5)
    assert removed.worker.worker_id == info.worker_id


async def test_refused_token_exits_with_code_3(proxy: Proxy, spawn_worker: SpawnWorker) -> None:
    worker = await spawn_worker(
        "--proxy-url", proxy.url, "--token", "gpw_not-issued-by-this-proxy", wait=False
    )
    code = await asyncio.to_thread(worker.process.wait, 15)
    assert code == 3
    assert proxy.registry.workers() == []


async def test_protocol_errors_are_refused(proxy: Proxy) -> None:
    url = proxy.url.replace("http", "ws") + "/api/v1/workers/connect"
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "heartbeat", "seq": 1}))
        answer = json.loads(await ws.recv())
        assert answer == {
            "type": "error",
            "code": "protocol_error",
            "message": "the first frame must be register",
        }
    async with connect(url) as ws:
        await ws.send("not json")
        assert json.loads(await ws.recv())["code"] == "protocol_error"
    token = await proxy.registry.issue_token("u")
    async with connect(url) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "register",
                    "token": token,
                    "address": "http://127.0.0.1:1",
                    "heartbeat_interval_s": 1,
                }
            )
        )
        answer = json.loads(await ws.recv())
        assert answer["type"] == "registered"
        await ws.send(json.dumps({"type": "heartbeat", "seq": 5, "in_flight": 2}))
        assert json.loads(await ws.recv()) == {"type": "heartbeat_ack", "seq": 5}
    await proxy.wait_for("unhealthy")  # the connection closed without a deregister
