"""The availability poller: refreshes offers and rented instances, publishes what changed.

Every `interval_s` it lists each provider's offers (bypassing the cache, and refilling it)
and compares them with the previous round: a provider whose set of offers changed, or
that started or stopped failing, gives one `availability` event. It then refreshes every
live rented instance this process can observe: state changes give `instance` events
(through `Rentals.refresh`), instances stuck in "starting" past `start_timeout_s` are
destroyed and marked failed, and destroys that failed earlier are retried.

With several proxy processes, a short lease in the key-value store lets one of them poll
per interval; the others still receive the events through the shared pub/sub channel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import msgspec

from gpuproxy.clock import now_ms
from gpuproxy.providers.errors import ProviderError
from gpuproxy.providers.events import EventBus
from gpuproxy.providers.instances import InstanceRecord
from gpuproxy.providers.listing import ProviderFailure
from gpuproxy.providers.params import OfferFilters
from gpuproxy.providers.rentals import Rentals
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["AvailabilityPoller", "ProviderAvailability"]

log = logging.getLogger(__name__)

_LEASE_KEY = "gpuproxy:gpu-poller:lease"
_MAX_IDS_IN_EVENT = 100
_CONCURRENT_REFRESHES = 8


class ProviderAvailability(msgspec.Struct, kw_only=True, frozen=True):
    """One provider's offers as of the last poll (the provider half of the load endpoint)."""

    provider: str
    available_offers: int
    available_gpus: int
    cheapest_price_per_gpu_hour: int | None
    error: str | None
    updated_at: int  # unix ms
    offer_ids: frozenset[str] = frozenset()


class AvailabilityPoller:
    def __init__(
        self,
        rentals: Rentals,
        bus: EventBus,
        kv: KeyValueStore,
        *,
        interval_s: float = 30.0,
        start_timeout_s: float = 900.0,
        node: str = "",
    ) -> None:
        self.rentals = rentals
        self.bus = bus
        self.kv = kv
        self.interval_s = interval_s
        self.start_timeout_s = start_timeout_s
        self.node = node
        self.state: dict[str, ProviderAvailability] = {}
        self.polls = 0

    async def run(self) -> None:
        """Poll forever (a background task; cancelled at shutdown)."""
        while True:
            started = time.monotonic()
            try:
                if await self._take_lease():
                    await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("availability poll failed")
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.05, self.interval_s - elapsed))

    async def _take_lease(self) -> bool:
        ttl = max(0.05, self.interval_s * 0.9)
        try:
            if await self.kv.set(_LEASE_KEY, self.node.encode(), ttl=ttl, only_if_absent=True):
                return True
            return (await self.kv.get(_LEASE_KEY)) == self.node.encode()
        except Exception:
            log.warning("poller lease unavailable; polling anyway", exc_info=True)
            return True

    async def poll_once(self) -> None:
        await self.refresh_offers()
        await self.refresh_instances()
        self.polls += 1

    async def refresh_offers(self) -> list[ProviderAvailability]:
        filters = OfferFilters(limit=1000)
        listing = await self.rentals.catalog.search(filters, fresh=True)
        failures = {f.provider: f for f in listing.errors}
        now = now_ms()
        changed: list[ProviderAvailability] = []
        for name in self.rentals.providers:
            # Offers without a valid price are listed but not available to rent.
            offers = [o for o in listing.offers if o.provider == name and o.rentable]
            failure: ProviderFailure | None = failures.get(name)
            previous = self.state.get(name)
            if failure is not None and previous is not None:
                # Keep the last known offers; only the error is new.
                current = msgspec.structs.replace(previous, error=failure.message, updated_at=now)
            else:
                prices = [o.price_per_gpu_hour for o in offers]
                current = ProviderAvailability(
                    provider=name,
                    available_offers=len(offers),
                    available_gpus=sum(max(1, o.num_gpus) for o in offers),
                    cheapest_price_per_gpu_hour=min(prices) if prices else None,
                    error=failure.message if failure else None,
                    updated_at=now,
                    offer_ids=frozenset(o.id for o in offers),
                )
            self.state[name] = current
            if (
                previous is None
                or previous.offer_ids != current.offer_ids
                or (previous.error != current.error)
            ):
                changed.append(current)
                await self._announce(previous, current)
        return changed

    async def _announce(
        self, previous: ProviderAvailability | None, current: ProviderAvailability
    ) -> None:
        before = previous.offer_ids if previous else frozenset()
        added = sorted(current.offer_ids - before)
        removed = sorted(before - current.offer_ids)
        await self.bus.publish(
            {
                "type": "availability",
                "provider": current.provider,
                "available_offers": current.available_offers,
                "available_gpus": current.available_gpus,
                "cheapest_price_per_gpu_hour_micros": current.cheapest_price_per_gpu_hour,
                "added": added[:_MAX_IDS_IN_EVENT],
                "removed": removed[:_MAX_IDS_IN_EVENT],
                "error": current.error,
            }
        )

    async def refresh_instances(self) -> None:
        records = await self.rentals.store.list_live()
        gate = asyncio.Semaphore(_CONCURRENT_REFRESHES)

        async def one(record: InstanceRecord) -> None:
            async with gate:
                try:
                    await self._refresh(record)
                except ProviderError as exc:
                    log.info("refresh of %s failed: %s", record.id, exc)
                except Exception:
                    log.exception("refresh of %s failed", record.id)

        await asyncio.gather(*(one(r) for r in self._observable(records)))

    def _observable(self, records: Sequence[InstanceRecord]) -> list[InstanceRecord]:
        return [r for r in records if self.rentals.observable(r)]

    async def _refresh(self, record: InstanceRecord) -> None:
        if record.status == "destroying":
            await self.rentals.destroy(record)
            return
        record = await self.rentals.refresh(record)
        age_s = time.time() - record.created_at / 1000
        if record.status == "starting" and age_s > self.start_timeout_s:
            log.warning("%s did not start in %.0fs; destroying it", record.id, age_s)
            await self.rentals.destroy(
                record,
                final_status="failed",
                message=f"not running after {self.start_timeout_s:g}s",
            )
