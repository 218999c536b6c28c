"""Offers from every enabled provider at once, cached briefly, with per-provider errors.

One slow or failing provider never fails a listing: its error is reported next to the
offers of the others. Results are cached per (provider, filters) for a few seconds, and
concurrent identical requests share one upstream call (marketplaces rate-limit searches).
A call that runs past the listing deadline keeps running in the background and fills the
cache for the next caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import msgspec

from gpuproxy.providers.base import Provider
from gpuproxy.providers.errors import ProviderError
from gpuproxy.providers.params import OfferFilters
from gpuproxy.providers.records import Offer

__all__ = ["OfferCatalog", "OfferListing", "ProviderFailure"]

log = logging.getLogger(__name__)

_MAX_ENTRIES = 256


class ProviderFailure(msgspec.Struct, kw_only=True, frozen=True):
    """Why one provider's part of a listing is missing. `type` is the error class name."""

    provider: str
    message: str
    type: str


class OfferListing(msgspec.Struct, kw_only=True, frozen=True):
    offers: list[Offer]
    errors: list[ProviderFailure]
    #: Providers whose offers are included (answered now or from the cache).
    providers: list[str]


class _Entry:
    __slots__ = ("expires", "task")

    def __init__(self, task: asyncio.Task[list[Offer]]) -> None:
        self.task = task
        self.expires = float("inf")  # set when the task finishes


class OfferCatalog:
    """Concurrent, cached offer search over a fixed set of providers."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        ttl_s: float = 10.0,
        deadline_s: float = 12.0,
    ) -> None:
        self.providers = providers
        self.ttl_s = ttl_s
        self.deadline_s = deadline_s
        self._cache: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()

    async def search(
        self,
        filters: OfferFilters,
        names: Sequence[str] | None = None,
        *,
        fresh: bool = False,
    ) -> OfferListing:
        """Offers of `names` (all enabled providers when None) that pass `filters`.

        `fresh` skips the cache (the availability poller uses it); the answer still goes in.
        """
        chosen = list(names) if names else list(self.providers)
        key = msgspec.json.encode(filters)
        tasks = {name: self._fetch(name, key, filters, fresh) for name in chosen}
        done: set[asyncio.Task[list[Offer]]] = set()
        if tasks:  # asyncio.wait refuses an empty set (no provider enabled)
            done, _pending = await asyncio.wait(tasks.values(), timeout=self.deadline_s)
        offers: list[Offer] = []
        errors: list[ProviderFailure] = []
        answered: list[str] = []
        for name, task in tasks.items():
            if task not in done:
                errors.append(
                    ProviderFailure(
                        provider=name,
                        message=f"{name}: no answer within {self.deadline_s:g}s",
                        type="ProviderUnavailable",
                    )
                )
                continue
            failure = _failure(name, task)
            if failure is not None:
                errors.append(failure)
            else:
                offers.extend(task.result())
                answered.append(name)
        return OfferListing(
            offers=filters.sort_and_limit(offers), errors=errors, providers=answered
        )

    def cached_offer(self, provider: str, offer_id: str) -> Offer | None:
        """The offer `offer_id` from any fresh cached listing of `provider`, if one has it."""
        now = time.monotonic()
        for (name, _key), entry in reversed(self._cache.items()):
            if name != provider or entry.expires <= now or not entry.task.done():
                continue
            if entry.task.cancelled() or entry.task.exception() is not None:
                continue
            for offer in entry.task.result():
                if offer.id == offer_id:
                    return offer
        return None

    def invalidate(self, provider: str | None = None) -> None:
        """Forget cached answers (of one provider), e.g. after renting one of its offers."""
        for cache_key in list(self._cache):
            if provider is None or cache_key[0] == provider:
                entry = self._cache[cache_key]
                if entry.task.done():
                    del self._cache[cache_key]

    def _fetch(
        self, name: str, key: bytes, filters: OfferFilters, fresh: bool
    ) -> asyncio.Task[list[Offer]]:
        now = time.monotonic()
        entry = self._cache.get((name, key))
        if entry is not None and not entry.task.done():
            return entry.task  # single flight: share the call already running
        if entry is not None and not fresh and entry.expires > now:
            return entry.task
        provider = self.providers[name]
        task = asyncio.get_running_loop().create_task(
            provider.list_offers(filters), name=f"offers:{name}"
        )
        entry = _Entry(task)
        self._cache[(name, key)] = entry
        self._cache.move_to_end((name, key))
        while len(self._cache) > _MAX_ENTRIES:
            self._cache.popitem(last=False)

        def finished(done: asyncio.Task[list[Offer]]) -> None:
            failed = done.cancelled() or done.exception() is not None
            # Errors are cached for a shorter time: retry a failing provider soon.
            entry.expires = time.monotonic() + (self.ttl_s / 4 if failed else self.ttl_s)

        task.add_done_callback(finished)
        return task

    async def aclose(self) -> None:
        pending = [e.task for e in self._cache.values() if not e.task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._cache.clear()


def _failure(name: str, task: asyncio.Task[list[Offer]]) -> ProviderFailure | None:
    if task.cancelled():
        return ProviderFailure(provider=name, message=f"{name}: cancelled", type="Cancelled")
    exc = task.exception()
    if exc is None:
        return None
    if isinstance(exc, ProviderError):
        return ProviderFailure(provider=name, message=str(exc), type=type(exc).__name__)
    # A bug in one client must not turn the whole listing into a 500; log it with its trace.
    log.error("offer listing of %s failed", name, exc_info=exc)
    return ProviderFailure(provider=name, message=f"{name}: internal error", type="InternalError")
