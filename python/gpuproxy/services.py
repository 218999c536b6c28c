"""The process-wide services every handler may use, built once per app at startup.

Handlers receive it through dependency injection (`services: Services`). Every area's
long-lived object is a typed field here, None until that area's startup hook sets it
(`gpuproxy.app.STARTUP_HOOKS`); `start_services` creates only the storage underneath.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gpuproxy.config import Settings
from gpuproxy.storage.database import Database, open_database
from gpuproxy.storage.kv import KeyValueStore, open_kv
from gpuproxy.storage.migrations import apply_migrations
from gpuproxy.supervisor import Supervisor

if TYPE_CHECKING:
    from gpuproxy.accounts.service import AccountsService
    from gpuproxy.agents.service import AgentService
    from gpuproxy.billing.service import BillingService
    from gpuproxy.gateway.service import Gateway
    from gpuproxy.gateway.workers import WorkerRegistry
    from gpuproxy.grpc_api.server import GrpcServer
    from gpuproxy.providers.service import ProvidersService
    from gpuproxy.serving.service import ModelsService

__all__ = ["Services", "start_services"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Services:
    settings: Settings
    db: Database
    kv: KeyValueStore
    #: Called in reverse order at shutdown (background writers drain here).
    shutdown_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Background tasks owned by the app; cancelled at shutdown after the hooks ran.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    #: Long-lived loops, restarted after errors; their state is in /health/ready and metrics.
    supervisor: Supervisor = field(default_factory=Supervisor)
    #: Users, tokens, API keys, sessions, rate limits (set by the accounts startup hook).
    accounts: AccountsService | None = None
    #: GPU offers, rentals, reservations, availability (set by providers' startup hook).
    providers: ProvidersService | None = None
    #: Credits ledger, payments, quotas, guard rails (set by the billing startup hook).
    billing: BillingService | None = None
    #: Uploaded models and their ONNX Runtime sessions (set by model serving's startup hook).
    models: ModelsService | None = None
    #: Workers registered over /ws/workers, shared by the gateway and the providers
    #: (set by the gateway's startup hook).
    workers: WorkerRegistry | None = None
    #: Model pools, prices, usage writer and the Rust data plane's bridge (gateway startup hook).
    gateway: Gateway | None = None
    #: The agents' loopback client of the data plane (set by the agents' startup hook).
    agents: AgentService | None = None
    #: The gRPC server, when GRPC_PORT is set (set by the gRPC startup hook).
    grpc: GrpcServer | None = None

    def spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        """Run a background coroutine for the app's lifetime; failures are logged, not lost."""

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s failed", name)

        task = asyncio.get_running_loop().create_task(guarded(), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def supervise(self, name: str, factory: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run a loop for the app's lifetime, restarted with back-off whenever it raises."""
        return self.supervisor.run(name, factory)

    async def close(self) -> None:
        for hook in reversed(self.shutdown_hooks):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")
        await self.supervisor.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.kv.close()
        await self.db.close()


async def start_services(settings: Settings, *, migrate: bool = True) -> Services:
    db = await open_database(settings)
    try:
        if migrate:
            applied = await apply_migrations(db)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        kv = await open_kv(settings)
    except BaseException:
        await db.close()
        raise
    return Services(settings=settings, db=db, kv=kv)
