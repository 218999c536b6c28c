"""A real gateway for tests, served as the daemon serves it but inside the test's event
loop: the Rust data plane on the port (hot routes), the app behind it served by Granian on
a Unix socket. Tests talk HTTP to it (httpx, the openai SDK) and can still look at its
in-process state (pools, in-flight counts, reservations, usage rows). Workers are real
worker-agent subprocesses that register over the WebSocket with a one-time token, or
static upstreams.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from tests.helpers import free_port

from gpuproxy.accounts.principal import Principal
from gpuproxy.api.forwarded import ForwardedClient
from gpuproxy.app import create_app
from gpuproxy.config import Settings
from gpuproxy.gateway.data_plane import LISTEN_ENV, UDS_ENV
from gpuproxy.gateway.service import Gateway
from gpuproxy.providers._workerproc import WorkerProcess
from gpuproxy.services import Services

__all__ = ["FAST_ENV", "GatewayServer", "User", "running_gateway"]

#: Cheap password hashing, no bootstrap admin, no local fleet poller noise; the test
#: workers are operator-run workers on loopback (a trusted network here).
FAST_ENV = {
    "BCRYPT_ROUNDS": "4",
    "BOOTSTRAP_ADMIN": "false",
    "AUTH_CACHE_TTL_SECONDS": "0.05",
    "RATE_LIMIT_PER_MINUTE": "0",
    "WORKER_ALLOWED_NETWORKS": "127.0.0.0/8",
}


@dataclass
class User:
    id: str
    email: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class GatewayServer:
    url: str
    services: Services
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def gateway(self) -> Gateway:
        gateway = self.services.gateway
        assert gateway is not None
        return gateway

    async def user(self, *, admin: bool = False, priority: int = 0) -> User:
        accounts: Any = self.services.accounts
        email = f"u-{uuid.uuid4().hex[:10]}@example.com"
        created = await accounts.register(
            email=email, password="correct horse battery", is_admin=admin
        )
        principal = Principal(user_id=created.id, email=email, is_admin=admin)
        scopes = ["inference", "gpu", "billing"] + (["admin"] if admin else [])
        key, secret = await accounts.create_api_key(principal, name="test", scopes=scopes)
        if priority:
            await accounts.update_api_key(principal, key.id, priority=priority)
        return User(created.id, email, secret, key.id)

    async def spawn_worker(self, owner: User | str, *args: str, wait: bool = True) -> WorkerProcess:
        """A simulate worker agent that registers with this gateway for `owner`."""
        owner_id = owner if isinstance(owner, str) else owner.id
        registry = self.gateway.registry
        token = await registry.issue_token(owner_id)
        before = {w.worker_id for w in registry.workers()}
        worker = WorkerProcess.spawn(
            ["--backend", "simulate", "--proxy-url", self.url, "--token", token,
             "--heartbeat-interval", "0.5", *args]
        )  # fmt: skip
        self.workers.append(worker)
        if wait:
            assert await worker.wait_healthy(20), "worker did not start"
            suffix = f":{worker.port}"
            await self.wait_for(
                lambda: any(
                    w.worker_id not in before and w.healthy and w.address.endswith(suffix)
                    for w in registry.workers()
                ),
                what="worker registration",
            )
            self.gateway.sync()
        return worker

    async def share_and_price(self, owner: User, model: str = "m1") -> None:
        """`owner`'s workers shared with every user (pool `public`) and `model` priced (100
        and 1000 dollars per million input and output tokens), through the admin API: the
        requests of other users are then billed."""
        admin = await self.user(admin=True)
        async with httpx.AsyncClient(base_url=self.url, timeout=10, headers=admin.headers) as c:
            shared = await c.put("/api/v1/admin/shared-pools/public", json={"owner_id": owner.id})
            assert shared.status_code == 200, shared.text
            price = await c.put(
                f"/api/v1/admin/model-prices/{model}",
                json={"input_per_million": "100", "output_per_million": "1000"},
            )
            assert price.status_code == 200, price.text

    def worker_id_of(self, worker: WorkerProcess) -> str:
        for info in self.gateway.registry.workers():
            if info.address.endswith(f":{worker.port}"):
                return info.worker_id
        raise AssertionError("worker not registered")

    async def wait_for(
        self, condition: Callable[[], bool], *, what: str, timeout_s: float = 15.0
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def settle(self) -> None:
        """Make billing and usage show every request served so far: the data plane's spend
        allowances retired (their totals committed to the windows) and its usage ring
        drained, then the usage rows written."""
        data_plane = self.gateway.data_plane
        if data_plane is not None:
            data_plane.settle_now()
        await self.gateway.usage.flush()

    def queue_depth(self) -> int:
        """Requests waiting in the data plane's admission queue."""
        return int(self.gateway.data_plane.stats()["queue_depth"])

    def in_flight(self) -> int:
        return sum(e.pool.snapshot().in_flight for e in self.gateway.pools.entries())


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[GatewayServer]:
    from granian.constants import Interfaces
    from granian.server.embed import Server

    port = free_port()
    app = create_app(msgspec.structs.replace(settings, port=port))
    uds = Path(tempfile.mkdtemp(prefix="gpx-test-")) / "control.sock"
    # Served as the daemon serves it (gpuproxy.server): the data plane starts on the port
    # in the app's startup; Granian serves the app on the socket behind it.
    saved = {name: os.environ.get(name) for name in (LISTEN_ENV, UDS_ENV)}
    os.environ[LISTEN_ENV] = f"127.0.0.1:{port}"
    os.environ[UDS_ENV] = str(uds)
    server = Server(
        ForwardedClient(app),
        uds=uds,
        interface=Interfaces.ASGI,
        log_enabled=False,
    )
    serving = asyncio.create_task(server.serve(), name="test-gateway")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                if serving.done():
                    serving.result()
                    raise AssertionError("the test gateway stopped during startup")
                try:
                    if (await client.get(url + "/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("the test gateway did not start")
                await asyncio.sleep(0.05)
        services: Services = app.state.services
        await _wait_gateway(services)
        handle = GatewayServer(url, services)
        try:
            yield handle
        finally:
            for worker in handle.workers:
                await worker.stop(grace_s=2)
    finally:
        server.stop()  # type: ignore[no-untyped-call]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, 20)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(uds.parent, ignore_errors=True)


async def _wait_gateway(services: Services) -> None:
    for _ in range(200):
        if services.gateway is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("services.gateway was not set at startup")
