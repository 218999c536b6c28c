"""Renting, showing and destroying instances on behalf of users.

The order of a rent is fixed: find the offer (its price), record the rental, ask billing
(credits, guard rails, hold of the first hour), issue the worker's registration token,
call the provider, store what it answered. The record (status "renting") is the intent: it
exists before the provider is asked, and the instance's provider-side name carries its id
(`ownership.ownership_tag`). Every failure after that gives the billing hold back first and
then marks the record failed; when the provider accepted but the answer cannot be stored, the
instance is destroyed again (and, should that fail too, the orphan reaper finds it by its
mark). The provider call runs shielded from cancellation: once a marketplace may have
started billing, we always learn the instance id and store it.

Tenant isolation: `visible` answers the same "not found" for an instance that does not
exist and for one that belongs to someone else, so ids cannot be probed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING

import msgspec

from gpuproxy.exceptions import ApiError
from gpuproxy.providers.base import Provider
from gpuproxy.providers.enabled import EnabledProviders
from gpuproxy.providers.errors import (
    InvalidRequest,
    OfferNotRentable,
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
)
from gpuproxy.providers.events import EventBus
from gpuproxy.providers.hooks import RentalHooks
from gpuproxy.providers.instances import InstanceRecord, InstanceStore
from gpuproxy.providers.listing import OfferCatalog
from gpuproxy.providers.ownership import ownership_tag
from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.records import Offer

if TYPE_CHECKING:
    from gpuproxy.accounts.principal import Principal

__all__ = ["PROCESS_BOUND", "InstanceNotFound", "Rentals", "can_see", "node_alive", "this_node"]

log = logging.getLogger(__name__)

#: Providers whose instances live and die with this proxy process.
PROCESS_BOUND = frozenset({"local"})
_LOOKUP_LIMIT = 1000


def this_node() -> str:
    """This proxy process, as recorded on the instances whose life is tied to it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def node_alive(node: str | None) -> bool:
    """Whether the proxy process `node` may still run (unknowable for another host: True)."""
    if not node:
        return False
    host, _, pid = node.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _failure_text(exc: BaseException) -> str:
    return str(exc)[:500] if isinstance(exc, Exception) else "cancelled"


def _settled(task: asyncio.Task[InstanceRecord]) -> None:
    # Mark the outcome retrieved: the caller that awaited it may have been cancelled.
    if not task.cancelled():
        task.exception()


class InstanceNotFound(ApiError, LookupError):
    """No such instance, or not the caller's (both answer 404: ids cannot be probed)."""

    http_status = 404
    code = "instance_not_found"

    def __init__(self, instance_id: str) -> None:
        # The id comes from the caller: cut it so the answer cannot be made arbitrarily long.
        super().__init__(f"instance {str(instance_id)[:64]!r} not found")
        self.instance_id = instance_id


def can_see(principal: Principal, record: InstanceRecord) -> bool:
    if record.owner_id == principal.user_id:
        return True
    return principal.is_admin and principal.has_scope("admin")


class Rentals:
    def __init__(
        self,
        *,
        providers: EnabledProviders,
        catalog: OfferCatalog,
        store: InstanceStore,
        hooks: RentalHooks,
        bus: EventBus,
        node: str,
    ) -> None:
        self.providers = providers
        self.catalog = catalog
        self.store = store
        self.hooks = hooks
        self.bus = bus
        self.node = node
        self._tasks: set[asyncio.Task[InstanceRecord]] = set()

    # ---- lookups -----------------------------------------------------------------

    def provider(self, name: str) -> Provider:
        """The enabled provider called `name` (aliases allowed); InvalidRequest otherwise."""
        return self.providers.resolve(name)

    async def find_offer(self, provider: Provider, offer_id: str) -> Offer:
        """The offer's current record (its price is what billing holds); 404 when gone."""
        cached = self.catalog.cached_offer(provider.name, offer_id)
        if cached is not None:
            return cached
        listing = await self.catalog.search(OfferFilters(limit=_LOOKUP_LIMIT), [provider.name])
        for offer in listing.offers:
            if offer.id == offer_id:
                return offer
        if listing.errors:
            raise ProviderUnavailable(provider.name, listing.errors[0].message)
        raise ProviderNotFound(
            provider.name, f"offer {offer_id[:64]!r} is not available (list offers first)"
        )

    async def visible(
        self, principal: Principal, provider: str, instance_id: str
    ) -> InstanceRecord:
        try:
            name = self.provider(provider).name
        except InvalidRequest:
            raise InstanceNotFound(instance_id) from None
        record = await self.store.find(name, instance_id)
        if record is None or not can_see(principal, record):
            raise InstanceNotFound(instance_id)
        return record

    # ---- rent ------------------------------------------------------------------------

    async def rent(
        self,
        principal: Principal,
        provider: Provider,
        offer: Offer,
        config: RentConfig,
        *,
        reservation_id: str | None = None,
    ) -> InstanceRecord:
        """Rent `offer` for `principal`; billing or provider errors mark the record failed.

        An offer without a valid price is refused (409) before anything is recorded or held.
        The price recorded and held is the provider's quote for `config` (vast.ai: its disk).
        """
        offer = provider.quote(offer, config)
        if offer.not_rentable_reason is not None:
            raise OfferNotRentable(provider.name, offer.id, offer.not_rentable_reason)
        record = await self.store.begin_rent(
            owner_id=principal.user_id,
            offer=offer,
            config=config,
            reservation_id=reservation_id,
            node=self.node if provider.name in PROCESS_BOUND else None,
        )
        task = asyncio.get_running_loop().create_task(
            self._rent(principal, provider, offer, config, record), name=f"rent:{record.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def _rent(
        self,
        principal: Principal,
        provider: Provider,
        offer: Offer,
        config: RentConfig,
        record: InstanceRecord,
    ) -> InstanceRecord:
        try:
            reference = await self.hooks.authorize(principal, offer, record.id)
        except BaseException:
            await self._give_up(record, "refused before renting", announce=False)
            raise
        try:
            if reference is not None:
                record = await self.store.set_billing_ref(record, reference)
            credentials = await self.hooks.worker_credentials(principal, record)
            if credentials is not None:
                token, proxy_url = credentials
                config = msgspec.structs.replace(config, worker_token=token, proxy_url=proxy_url)
            # The provider-side name carries the record id: whatever happens after the
            # provider accepts, the orphan reaper can tell the instance is ours and whose.
            config = msgspec.structs.replace(config, label=ownership_tag(record.id))
            instance = await provider.create(offer.id, config)
        except BaseException as exc:
            await self._give_up(record, _failure_text(exc), announce=True)
            raise
        finally:
            self.catalog.invalidate(provider.name)  # the offer is taken now (or changed)
        try:
            record = await self.store.rented(record, instance)
        except BaseException:
            # The provider bills for an instance we could not record: take it down again.
            log.exception(
                "%s accepted %s for rent %s but it could not be recorded; destroying it",
                provider.name,
                instance.id,
                record.id,
            )
            await self._destroy_at_provider(provider, instance.id)
            await self._give_up(
                record, f"the rent of {instance.id} could not be recorded; it was destroyed"
            )
            raise
        await self.hooks.started(record)
        await self._announce(record, "renting")
        return record

    async def _give_up(
        self, record: InstanceRecord, message: str, *, announce: bool = True
    ) -> None:
        """A rent did not happen: release the billing hold first, then mark the record failed.

        Never raises: a record that cannot be updated stays "renting" and is marked failed by
        the next start (`ProvidersService.reap_orphans`); the hold is released regardless.
        """
        await self.hooks.rent_failed(record)
        try:
            record = await self.store.set_status(record, "failed", message[:500])
        except Exception:
            log.exception("could not mark rent %s failed", record.id)
            return
        if announce:
            await self._announce(record, "renting")

    # ---- show / refresh ----------------------------------------------------------

    def observable(self, record: InstanceRecord) -> bool:
        """Whether this process can ask the provider about `record` (local: only its owner)."""
        if record.provider_instance_id is None or record.terminal:
            return False
        if record.provider in PROCESS_BOUND and record.node != self.node:
            return False
        return record.provider in self.providers

    async def refresh(self, record: InstanceRecord) -> InstanceRecord:
        """Ask the provider for the instance's state now and store it (errors keep the old)."""
        if not self.observable(record):
            return record
        provider = self.providers[record.provider]
        assert record.provider_instance_id is not None
        try:
            instance = await provider.get(record.provider_instance_id)
        except ProviderNotFound:
            return await self._ended(record, "destroyed", "the provider no longer has it")
        except ProviderError as exc:
            log.info("could not refresh %s: %s", record.id, exc)
            return record
        if record.status == "destroying":
            return record
        reason = provider.start_failure_reason(instance)
        if reason is not None:
            await self._destroy_at_provider(provider, record.provider_instance_id)
            return await self._ended(record, "failed", reason[:500])
        previous = record.status
        record = await self.store.observe(record, instance)
        if record.status != previous:
            await self._announce(record, previous)
        return record

    # ---- destroy -------------------------------------------------------------------

    async def destroy(
        self, record: InstanceRecord, *, final_status: str = "destroyed", message: str = ""
    ) -> InstanceRecord:
        """Destroy at the provider (idempotent); raises ProviderError when it cannot.

        `final_status` is "failed" when the proxy destroys an instance that never started.
        """
        if record.terminal:
            return record
        if record.provider_instance_id is None:
            return await self._ended(record, "failed", "the rent never completed")
        if record.provider in PROCESS_BOUND and record.node != self.node:
            if node_alive(record.node):
                raise ProviderUnavailable(
                    record.provider, "this instance is managed by another proxy process"
                )
            # Its proxy process is gone, and its worker exited with it (--exit-with-parent).
            return await self._ended(record, "destroyed", "its proxy process is gone")
        if record.provider not in self.providers:
            raise ProviderUnavailable(record.provider, "this provider is not enabled any more")
        provider = self.providers[record.provider]
        instance_id = record.provider_instance_id
        previous = record.status
        record = await self.store.set_status(record, "destroying")
        try:
            await provider.destroy(instance_id)
        except ProviderNotFound:
            pass
        except ProviderError as exc:
            # Stays "destroying": the availability poller retries until the provider agrees.
            await self.store.set_status(record, "destroying", str(exc)[:500])
            log.warning("destroy of %s failed (%s); will retry", record.id, exc)
            raise
        self.catalog.invalidate(provider.name)
        return await self._ended(record, final_status, message, previous=previous)

    async def _destroy_at_provider(self, provider: Provider, instance_id: str) -> None:
        try:
            await provider.destroy(instance_id)
        except ProviderNotFound:
            pass
        except Exception:
            # Logged loudly; the orphan reaper retries instances that carry our mark.
            log.exception("%s: could not destroy instance %s", provider.name, instance_id)

    async def _ended(
        self, record: InstanceRecord, status: str, message: str, *, previous: str | None = None
    ) -> InstanceRecord:
        before = previous or record.status
        record = await self.store.set_status(record, status, message)
        await self.hooks.ended(record)
        await self._announce(record, before)
        return record

    async def _announce(self, record: InstanceRecord, previous: str) -> None:
        await self.bus.publish(
            {
                "type": "instance",
                "owner_id": record.owner_id,
                "provider": record.provider,
                "id": record.provider_instance_id,
                "record_id": record.id,
                "status": record.status,
                "previous": previous,
                "gpu_model": record.gpu_model,
                "endpoint": record.endpoint,
                "reservation_id": record.reservation_id,
            }
        )

    async def aclose(self) -> None:
        """Let rents in flight finish recording (bounded) before the providers close."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=30)
