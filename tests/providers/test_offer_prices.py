"""Offers without a valid positive price: listed, marked not rentable, never cheapest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.fakes.ionet import FakeIoNet, default_hardware
from tests.fakes.vastai import FakeVastAi, default_offers

from gpuproxy.providers._units import offer_price
from gpuproxy.providers.ionet import IoNetProvider
from gpuproxy.providers.params import OfferFilters
from gpuproxy.providers.selection import rank_offers
from gpuproxy.providers.vastai import VastAiProvider


@pytest.mark.parametrize(
    ("raw", "micros", "why"),
    [
        (0.401333, 401_333, None),
        ("1.5", 1_500_000, None),
        (None, 0, "no price"),
        ("", 0, "no price"),
        ("n/a", 0, "not a number"),
        ("NaN", 0, "not a number"),
        ("Infinity", 0, "not a number"),
        (True, 0, "not a number"),
        ([1], 0, "not a number"),
        (0, 0, "not positive"),
        ("-0.2", 0, "not positive"),
        (0.0000001, 0, "not positive"),  # rounds to 0 micro-dollars
    ],
)
def test_offer_price_refuses_what_is_not_a_positive_price(
    raw: object, micros: int, why: str | None
) -> None:
    price, reason = offer_price(raw)
    assert price == micros
    if why is None:
        assert reason is None
    else:
        assert reason is not None
        assert why in reason


def unpriced_vast_offers() -> list[dict[str, Any]]:
    offers = default_offers()
    missing = {**offers[0], "id": 201, "ask_contract_id": 201}
    del missing["dph_total"]
    free = {**offers[0], "id": 202, "ask_contract_id": 202, "dph_total": 0.0}
    return [*offers, missing, free]


@pytest.fixture
async def vast() -> AsyncIterator[VastAiProvider]:
    async with FakeVastAi(offers=unpriced_vast_offers()) as fake:
        provider = VastAiProvider(fake.api_key, fake.base_url)
        yield provider
        await provider.aclose()


async def test_vast_offers_without_a_price_sort_last_in_every_order(vast: VastAiProvider) -> None:
    for order in ("price", "reliability", "vram"):
        offers = await vast.list_offers(OfferFilters(order=order))
        unpriced = [o for o in offers if not o.rentable]
        assert {o.id for o in unpriced} == {"201", "202"}
        assert offers[-2:] == unpriced, order
    by_id = {o.id: o for o in offers}
    assert by_id["201"].price_per_hour == 0
    assert by_id["201"].not_rentable_reason == "the provider sent no price for this offer"
    assert by_id["202"].not_rentable_reason == "the provider's price is not positive"
    assert by_id["101"].rentable
    assert by_id["101"].not_rentable_reason is None


async def test_unpriced_offers_are_never_picked_nor_within_a_budget(vast: VastAiProvider) -> None:
    offers = await vast.list_offers(OfferFilters())
    for strategy in ("round_robin", "weighted_round_robin", "p2c_ewma"):
        picked = rank_offers(offers, len(offers), strategy)
        assert picked
        assert all(o.rentable for o in picked)
        assert len(picked) == len(offers) - 2
    budget = await vast.list_offers(OfferFilters(max_price_per_hour=500_000))
    assert budget
    assert all(o.rentable for o in budget)


async def test_ionet_garbled_price_is_not_rentable() -> None:
    hardware = default_hardware()
    hardware[0] = {**hardware[0], "price": "n/a"}
    async with FakeIoNet(hardware=hardware) as fake:
        provider = IoNetProvider(fake.api_key, fake.base_url)
        try:
            offers = await provider.list_offers(OfferFilters())
        finally:
            await provider.aclose()
    assert offers[-1].id == "12~1~US"
    assert offers[-1].not_rentable_reason == "the provider's price 'n/a' is not a number"
    assert all(o.rentable for o in offers[:-1])
