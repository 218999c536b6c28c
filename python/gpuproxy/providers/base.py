"""The provider interface: every GPU source (vast.ai, io.net, the local fleet) implements it.

Public methods live here and add what every provider must do the same way: a per-call
timeout (a timeout becomes `ProviderUnavailable`), client-side filtering and ordering of
offers, and the failed-start cleanup (an instance that does not reach "running" is
destroyed, never left billing). Subclasses implement the `_`-prefixed methods.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

import msgspec

from gpuproxy.providers.errors import (
    InstanceStartFailed,
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
)
from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.records import FAILED_STATES, Instance, Offer

__all__ = ["CallTimeouts", "Provider"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class CallTimeouts(msgspec.Struct, kw_only=True, frozen=True):
    """Seconds each call may take in total (retries and backoff included)."""

    list_offers: float = 20.0
    create: float = 60.0
    get: float = 15.0
    list_instances: float = 30.0
    destroy: float = 30.0


class Provider(abc.ABC):
    """An async GPU provider. Instances of subclasses are shared and concurrency-safe."""

    #: Public provider name used in routes and records ("vast.ai", "io.net", "local").
    name: str = ""

    def __init__(
        self, *, timeouts: CallTimeouts | None = None, poll_interval_s: float = 5.0
    ) -> None:
        self.timeouts = timeouts or CallTimeouts()
        self.poll_interval_s = poll_interval_s

    # ---- the interface -------------------------------------------------------------

    async def list_offers(self, filters: OfferFilters | None = None) -> list[Offer]:
        """Offers rentable now that pass `filters`, ordered and limited as it asks."""
        filters = filters or OfferFilters()
        offers = await self._timed(self._list_offers(filters), self.timeouts.list_offers, "list")
        return filters.sort_and_limit([o for o in offers if filters.matches(o)])

    async def create(self, offer_id: str, config: RentConfig | None = None) -> Instance:
        """Rent `offer_id`. With `config.start_timeout_s` > 0, wait until it runs."""
        config = config or RentConfig()
        instance = await self._timed(self._create(offer_id, config), self.timeouts.create, "rent")
        reason = self.start_failure_reason(instance)
        if reason is not None:
            await self._destroy_quietly(instance.id)
            raise InstanceStartFailed(self.name, instance.id, reason)
        if config.start_timeout_s > 0 and instance.status != "running":
            return await self.wait_running(instance.id, config.start_timeout_s)
        return instance

    def quote(self, offer: Offer, config: RentConfig) -> Offer:
        """`offer` as renting it with `config` would be billed (and whether it can serve it).

        Most providers price an offer the same whatever the config; vast.ai adds storage
        for the disk asked for and refuses hosts with too few open ports.
        """
        del config
        return offer

    async def get(self, instance_id: str) -> Instance:
        return await self._timed(self._get(instance_id), self.timeouts.get, "show")

    async def list_instances(self) -> list[Instance]:
        """Every instance this account has at the provider (all pages)."""
        return await self._timed(self._list_instances(), self.timeouts.list_instances, "list")

    async def destroy(self, instance_id: str) -> None:
        """Destroy an instance; raises ProviderNotFound when it does not exist."""
        await self._timed(self._destroy(instance_id), self.timeouts.destroy, "destroy")

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, a no-op by default
        """Release connections and (for the local fleet) stop what this provider started."""

    # ---- failed-start handling -------------------------------------------------------

    def start_failure_reason(self, instance: Instance) -> str | None:
        """Why `instance` will not start (None while it still may). Providers refine this."""
        if instance.status in FAILED_STATES:
            return instance.status_message or instance.status
        return None

    async def wait_running(self, instance_id: str, timeout_s: float) -> Instance:
        """Poll until the instance runs; destroy it and raise InstanceStartFailed otherwise."""
        deadline = time.monotonic() + timeout_s
        last_error = ""
        while True:
            try:
                instance = await self.get(instance_id)
            except ProviderNotFound:
                raise InstanceStartFailed(self.name, instance_id, "it disappeared") from None
            except ProviderError as exc:  # transient: keep polling until the deadline
                instance, last_error = None, str(exc)
            if instance is not None:
                if instance.status == "running":
                    return instance
                reason = self.start_failure_reason(instance)
                if reason is not None:
                    await self._destroy_quietly(instance_id)
                    raise InstanceStartFailed(self.name, instance_id, reason)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._destroy_quietly(instance_id)
                detail = f" (last error: {last_error})" if last_error else ""
                raise InstanceStartFailed(
                    self.name, instance_id, f"not running after {timeout_s:g}s{detail}"
                )
            await asyncio.sleep(min(self.poll_interval_s, remaining))

    async def _destroy_quietly(self, instance_id: str) -> None:
        try:
            await self.destroy(instance_id)
        except ProviderNotFound:
            pass
        except ProviderError:
            # Logged loudly: an instance we could not destroy may still be billing.
            log.exception("%s: could not destroy failed instance %s", self.name, instance_id)

    async def _timed(self, call: Awaitable[T], seconds: float, what: str) -> T:
        try:
            async with asyncio.timeout(seconds):
                return await call
        except TimeoutError:
            raise ProviderUnavailable(self.name, f"{what} timed out after {seconds:g}s") from None

    # ---- what each provider implements -------------------------------------------------

    @abc.abstractmethod
    async def _list_offers(self, filters: OfferFilters) -> list[Offer]: ...

    @abc.abstractmethod
    async def _create(self, offer_id: str, config: RentConfig) -> Instance: ...

    @abc.abstractmethod
    async def _get(self, instance_id: str) -> Instance: ...

    @abc.abstractmethod
    async def _list_instances(self) -> list[Instance]: ...

    @abc.abstractmethod
    async def _destroy(self, instance_id: str) -> None: ...
