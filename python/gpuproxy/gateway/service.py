"""The inference gateway's long-lived state (`services.gateway`) and its startup hook.

Wires the worker registry into the model pools, owns the Rust forwarder (generic protocol
proxy), prices, metrics, the usage writer and the proxy target policy. The inference request
path itself is the Rust data plane's (`gpuproxy.gateway.data_plane`), which this state feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import TYPE_CHECKING, Any

from gpuproxy import _core
from gpuproxy.gateway.metrics import GatewayMetrics
from gpuproxy.gateway.pools import ModelPools, PoolEntry, SharedPoolConfig
from gpuproxy.gateway.prices import PRICES_CHANNEL, PriceBook
from gpuproxy.gateway.protocol_proxy import ProtocolProxy
from gpuproxy.gateway.shared_pools import SHARED_POOLS_CHANNEL, SharedPoolStore
from gpuproxy.gateway.ssrf import TargetPolicy
from gpuproxy.gateway.static_upstreams import parse_upstreams, static_shared_pool
from gpuproxy.gateway.usage_writer import UsageWriter
from gpuproxy.gateway.worker_address import WorkerAddressPolicy
from gpuproxy.gateway.workers import WorkerInfo, WorkerRegistry
from gpuproxy.storage.pubsub import follow

if TYPE_CHECKING:
    from gpuproxy.config import Settings
    from gpuproxy.gateway.billing_port import GatewayBilling
    from gpuproxy.gateway.data_plane import DataPlaneBridge
    from gpuproxy.providers.service import ProvidersService
    from gpuproxy.services import Services

__all__ = ["Gateway", "start_gateway"]

log = logging.getLogger(__name__)

#: How often the pools are reconciled with the registry and the strategy re-read.
SYNC_INTERVAL_S = 1.0


class Gateway:
    def __init__(self, services: Services, registry: WorkerRegistry) -> None:
        settings: Settings = services.settings
        self.services = services
        self.settings = settings
        self.registry = registry
        self.static_workers: list[WorkerInfo] = parse_upstreams(settings.gateway_upstreams)
        self.pools = ModelPools(
            strategy=settings.lb_strategy,
            max_concurrency=settings.gateway_worker_max_concurrency or None,
            authorization_of=registry.authorization,
        )
        self.pools.on_pool_created.append(self._pool_created)
        self.pools.on_pool_removed.append(self._pool_removed)
        self.prices = PriceBook(
            services.db,
            default_input=settings.gateway_default_input_price,
            default_output=settings.gateway_default_output_price,
        )
        self.shared_store = SharedPoolStore(services.db)
        self.usage = UsageWriter(
            services.db,
            batch_size=settings.gateway_usage_batch_size,
            flush_interval_s=settings.gateway_usage_flush_ms / 1000,
        )
        self.metrics = GatewayMetrics()
        self.targets = TargetPolicy(settings.gateway_proxy_allowlist)
        self.forwarder = _core.Forwarder(
            connect_timeout=settings.gateway_connect_timeout_s,
            first_byte_timeout=settings.gateway_first_byte_timeout_s,
            max_request_body=settings.gateway_max_request_bytes,
            upstream_ca_pem=settings.gateway_upstream_ca_pem or None,
        )
        self.protocol_proxy = ProtocolProxy(
            self.targets,
            self.forwarder,
            stall_timeout_s=settings.gateway_stall_timeout_s,
            max_response_bytes=settings.gateway_proxy_max_response_bytes,
        )
        self._unsubscribe: Any = None
        #: the Rust data plane serving the hot routes (`gateway.data_plane`), when running
        self.data_plane: DataPlaneBridge | None = None

    # -- collaborators other areas provide (None when absent) ---------------------------------

    @property
    def billing(self) -> GatewayBilling | None:
        return self.services.billing

    @property
    def providers(self) -> ProvidersService | None:
        return self.services.providers

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.prices.load()
        await self.reload_shared()
        providers = self.providers
        if providers is not None:
            with contextlib.suppress(Exception):
                self.pools.strategy = await providers.strategy()
        self._unsubscribe = self.registry.subscribe(self.pools.apply)
        self.sync()
        self.usage.start(self.services.supervisor)
        self.services.supervise("gateway-sync", self._sync_loop)
        prices = functools.partial(self._follow, PRICES_CHANNEL, self.prices.load)
        self.services.supervise("gateway-prices", prices)
        shared = functools.partial(self._follow, SHARED_POOLS_CHANNEL, self.reload_shared)
        self.services.supervise("gateway-shared", shared)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.usage.drain()
        await self.protocol_proxy.close()
        self.forwarder.close()

    def sync(self) -> None:
        self.pools.sync([*self.registry.workers(), *self.static_workers])

    def all_workers(self) -> list[WorkerInfo]:
        return [*self.registry.workers(), *self.static_workers]

    async def reload_shared(self) -> None:
        configs: list[SharedPoolConfig] = await self.shared_store.list()
        if self.static_workers:
            configs.append(static_shared_pool())
        self.pools.set_shared(configs, self.all_workers())

    async def _sync_loop(self) -> None:
        providers = self.providers
        while True:
            await asyncio.sleep(SYNC_INTERVAL_S)
            try:
                self.sync()
                if providers is not None:
                    # Re-reads the shared strategy and applies it to the registered pools.
                    self.pools.strategy = await providers.strategy()
            except Exception:
                log.exception("gateway pool sync failed")

    async def _follow(self, channel: str, reload: Any) -> None:
        # A reconnection reloads too: announcements made while Redis was away were missed.
        async for _ in follow(self.services.kv, channel, on_resync=reload):
            try:
                await reload()
            except Exception:
                log.exception("reloading after a change on %s failed", channel)

    async def announce(self, channel: str) -> None:
        """Tell every proxy process (this one included) to reload `channel`'s data."""
        await self.services.kv.publish(channel, b"1")

    def _pool_created(self, entry: PoolEntry) -> None:
        providers = self.providers
        if providers is not None:
            providers.register_pool(f"gateway:{entry.label}", entry.pool)

    def _pool_removed(self, entry: PoolEntry) -> None:
        providers = self.providers
        if providers is not None:
            providers.unregister_pool(f"gateway:{entry.label}")


def _registry_of(services: Services) -> WorkerRegistry:
    """The app's worker registry (`services.workers`), created here when nobody did."""
    registry = services.workers
    if isinstance(registry, WorkerRegistry):
        return registry
    registry = WorkerRegistry(kv=services.kv, address_policy=worker_address_policy(services))
    services.workers = registry
    registry.start()
    services.shutdown_hooks.append(registry.stop)
    return registry


async def start_gateway(services: Services) -> None:
    """Startup hook: build `services.gateway` and follow the worker registry."""
    gateway = Gateway(services, _registry_of(services))
    await gateway.start()
    services.gateway = gateway
    services.shutdown_hooks.append(gateway.close)


def worker_address_policy(services: Services) -> WorkerAddressPolicy:
    """Where workers may register: their instance's provider-reported address (looked up
    in the rentals, refreshed from the provider while it is unknown) or, for operator-run
    workers, public addresses and WORKER_ALLOWED_NETWORKS."""

    async def instance_endpoint(instance_id: str) -> str | None:
        providers = services.providers
        if providers is None:
            return None
        record = await providers.store.get(instance_id)
        if record is None or record.terminal:
            return None
        if record.endpoint is None and record.provider_instance_id is not None:
            record = await providers.rentals.refresh(record)
        endpoint: str | None = record.endpoint
        return endpoint

    return WorkerAddressPolicy(
        allowed_networks=services.settings.worker_allowed_networks,
        instance_endpoint=instance_endpoint,
    )
