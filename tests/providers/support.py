"""Shared set-up for the provider tests: a fake vast.ai with a client and rentals over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from tests.fakes.vastai import FakeVastAi

from gpuproxy.providers.enabled import EnabledProviders
from gpuproxy.providers.events import EventBus
from gpuproxy.providers.hooks import RentalHooks
from gpuproxy.providers.instances import InstanceStore
from gpuproxy.providers.listing import OfferCatalog
from gpuproxy.providers.rentals import Rentals
from gpuproxy.providers.vastai import VastAiProvider
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["Hold", "RecordingBilling", "VastWorld", "fast_vast", "rentals_over", "vast_world"]


@dataclass
class Hold:
    price: int
    state: str = "held"  # held | released | accruing

    def release(self) -> None:
        self.state = "released"


@dataclass
class RecordingBilling:
    """A billing double: every first-hour hold, its price and what became of it."""

    holds: list[Hold] = field(default_factory=list)

    async def reserve_gpu_rent(self, principal: Any, price: int) -> Hold:
        hold = Hold(price)
        self.holds.append(hold)
        return hold

    async def start_accrual(self, *args: Any, reservation: Hold, **kwargs: Any) -> None:
        reservation.state = "accruing"

    async def stop_accrual(self, ref: str) -> None:
        return None


def fast_vast(fake: FakeVastAi, **options: Any) -> VastAiProvider:
    """A client of `fake` that polls quickly and does not pace (the fake does not either)."""
    options = {"poll_interval_s": 0.02, "pacing_scale": 0, **options}
    return VastAiProvider(fake.api_key, fake.base_url, **options)


def rentals_over(vast: VastAiProvider, db: Database, kv: KeyValueStore, billing: Any) -> Rentals:
    """Rentals on `db` with vast.ai as the only provider and `billing` behind the hooks."""
    providers = EnabledProviders({"vast.ai": vast})
    return Rentals(
        providers=providers,
        catalog=OfferCatalog(providers),
        store=InstanceStore(db),
        hooks=RentalHooks(SimpleNamespace(billing=billing, workers=None)),  # type: ignore[arg-type]
        bus=EventBus(kv),
        node="test:1",
    )


@dataclass
class VastWorld:
    fake: FakeVastAi
    vast: VastAiProvider
    rentals: Rentals
    billing: RecordingBilling


@asynccontextmanager
async def vast_world(db: Database, kv: KeyValueStore, **options: Any) -> AsyncIterator[VastWorld]:
    """A running fake vast.ai, a fast client of it and rentals over a recording billing."""
    async with FakeVastAi() as fake:
        vast = fast_vast(fake, **options)
        billing = RecordingBilling()
        yield VastWorld(fake, vast, rentals_over(vast, db, kv, billing), billing)
        await vast.aclose()
