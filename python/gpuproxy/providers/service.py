"""`services.providers`: GPU offers, rentals, reservations, availability and balancer state.

Built at startup by `start_providers` (an entry of `gpuproxy.app.STARTUP_HOOKS`) from the
settings through `build_providers` (the local fleet is enabled by default); it runs
the availability poller and the orphan reaper (`orphans.OrphanReaper`,
GPU_ORPHAN_REAP_INTERVAL_SECONDS) in the background. At shutdown it lets rents in flight
finish recording, closes the provider clients and stops every local worker process it
started.

The load-balancing strategy lives here too: `strategy()` / `set_strategy()` keep it in the
key-value store (shared by every proxy process) and apply it to the balancer pools that
other areas register with `register_pool` (the gateway's worker pools).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from gpuproxy import _core
from gpuproxy.clock import now_ms
from gpuproxy.providers.availability import AvailabilityPoller
from gpuproxy.providers.enabled import EnabledProviders, build_providers
from gpuproxy.providers.errors import InvalidRequest, ProviderError
from gpuproxy.providers.events import EventBus
from gpuproxy.providers.hooks import RentalHooks
from gpuproxy.providers.instances import InstanceStore
from gpuproxy.providers.listing import OfferCatalog
from gpuproxy.providers.orphans import LONGEST_RENT_S, OrphanReaper
from gpuproxy.providers.rentals import PROCESS_BOUND, Rentals, node_alive, this_node

if TYPE_CHECKING:
    from gpuproxy.services import Services

__all__ = ["ProvidersService", "start_providers", "strategy_names"]

log = logging.getLogger(__name__)

_STRATEGY_KEY = "gpuproxy:lb:strategy"
_STRATEGY_CACHE_S = 1.0


def strategy_names() -> tuple[str, ...]:
    """The strategies the Rust balancer implements (the only names PUT accepts)."""
    names: tuple[str, ...] = tuple(_core.STRATEGIES)
    return names


class ProvidersService:
    def __init__(self, services: Services, providers: EnabledProviders) -> None:
        settings = services.settings
        self.services = services
        self.providers = providers
        self.node = this_node()
        self.catalog = OfferCatalog(
            providers,
            ttl_s=settings.gpu_offer_cache_seconds,
        )
        self.store = InstanceStore(services.db)
        self.bus = EventBus(services.kv)
        self.rentals = Rentals(
            providers=providers,
            catalog=self.catalog,
            store=self.store,
            hooks=RentalHooks(services),
            bus=self.bus,
            node=self.node,
        )
        self.poller = AvailabilityPoller(
            self.rentals,
            self.bus,
            services.kv,
            interval_s=settings.gpu_poll_interval_seconds,
            start_timeout_s=settings.gpu_start_timeout_seconds,
            node=self.node,
        )
        self.reaper = OrphanReaper(
            self.rentals,
            interval_s=settings.gpu_orphan_reap_interval_seconds,
            grace_s=settings.gpu_orphan_grace_seconds,
        )
        default = settings.lb_strategy
        self._default_strategy = default if default in strategy_names() else _core.DEFAULT_STRATEGY
        self._strategy = self._default_strategy
        self._strategy_read_at = 0.0
        self._pools: dict[str, Any] = {}
        self._poller_task: asyncio.Task[None] | None = None
        self._reaper_task: asyncio.Task[None] | None = None

    # ---- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        await self.reap_orphans()
        await self.strategy()
        billing = self.services.billing
        if billing is not None:
            billing.accrual.on_exceeded.append(self._billing_exceeded)
        self._poller_task = self.services.supervise("gpu-availability-poller", self.poller.run)
        if self.reaper.interval_s > 0:
            self._reaper_task = self.services.supervise("gpu-orphan-reaper", self.reaper.run)

    async def reap_orphans(self) -> int:
        """Mark local instances of dead proxy processes destroyed (their workers exited too)
        and rents interrupted mid-call failed; returns how many records it closed."""
        reaped = 0
        for record in await self.store.list_live():
            mine = record.provider not in PROCESS_BOUND or record.node == self.node
            if not mine and not node_alive(record.node):
                await self.rentals.destroy(record)
                reaped += 1
        if reaped:
            log.info("marked %d local instance(s) of a previous run destroyed", reaped)
        # A rent still "renting" after the longest a rent can take (another process may be
        # waiting for its instance to start) was interrupted; the orphan reaper destroys
        # whatever the provider still runs for it.
        cutoff = now_ms() - int(LONGEST_RENT_S * 1000)
        for record in await self.store.list_stale_renting(cutoff):
            await self.store.set_status(
                record, "failed", "interrupted while renting: check the provider's console"
            )
            log.warning("rent %s of %s was interrupted", record.id, record.owner_id)
            reaped += 1
        return reaped

    async def _billing_exceeded(self, user_id: str, instance_id: str, reason: str) -> None:
        """Billing says the owner cannot pay on: destroy the instance (accrual key = record id)."""
        record = await self.store.get(instance_id)
        if record is None or record.terminal or record.owner_id != user_id:
            return
        log.warning("destroying %s of %s: %s", record.id, user_id, reason)
        try:
            await self.rentals.destroy(record, message=f"stopped by billing: {reason}"[:500])
        except ProviderError:
            log.exception("could not destroy %s after billing stopped it", record.id)

    async def aclose(self) -> None:
        # Stop polling and reaping before the clients close.
        background = [t for t in (self._poller_task, self._reaper_task) if t is not None]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await self.rentals.aclose()
        # This process's local workers stop with it: record that, and end their billing.
        for record in await self.store.list_live():
            if record.provider in PROCESS_BOUND and record.node == self.node:
                try:
                    await self.rentals.destroy(record, message="the proxy stopped")
                except Exception:
                    log.exception("could not stop local instance %s", record.id)
        await self.catalog.aclose()
        await self.providers.aclose()

    # ---- load-balancing strategy -----------------------------------------------------

    async def strategy(self) -> str:
        """The current strategy (shared through the key-value store; re-read every second)."""
        now = time.monotonic()
        if now - self._strategy_read_at >= _STRATEGY_CACHE_S:
            try:
                raw = await self.services.kv.get(_STRATEGY_KEY)
            except Exception:
                log.warning("could not read the strategy; keeping %s", self._strategy)
                raw = None
            name = raw.decode() if raw else self._default_strategy
            if name in strategy_names():
                self._apply(name)
            self._strategy_read_at = now
        return self._strategy

    async def set_strategy(self, name: Any) -> str:
        if not isinstance(name, str) or name not in strategy_names():
            raise InvalidRequest("strategy", "must be one of " + ", ".join(strategy_names()))
        await self.services.kv.set(_STRATEGY_KEY, name.encode())
        self._apply(name)
        self._strategy_read_at = time.monotonic()
        return name

    def _apply(self, name: str) -> None:
        self._strategy = name
        for pool_name, pool in list(self._pools.items()):
            try:
                if pool.strategy != name:
                    pool.strategy = name
            except Exception:
                log.exception("could not switch pool %s to %s", pool_name, name)

    def register_pool(self, name: str, pool: Any) -> None:
        """Make a `_core.Pool` follow the strategy and show up in the load endpoints."""
        self._pools[name] = pool
        pool.strategy = self._strategy

    def unregister_pool(self, name: str) -> None:
        self._pools.pop(name, None)

    def pools(self) -> dict[str, Any]:
        return dict(self._pools)


async def start_providers(services: Services) -> None:
    """Startup hook: build `services.providers`, start the poller and the orphan reaper."""
    service = ProvidersService(services, build_providers(services.settings))
    services.providers = service
    services.shutdown_hooks.append(service.aclose)
    await service.start()
