"""GET /api/v1/gpu/instances: every provider at once, filters, partial results, auth."""

from __future__ import annotations

import asyncio

import pytest
from tests.api.conftest import AppClient, MakeUser, providers_of
from tests.fakes.vastai import FakeVastAi

from gpuproxy.money import dollars_to_micros
from gpuproxy.providers.base import Provider
from gpuproxy.providers.errors import ProviderUnavailable
from gpuproxy.providers.listing import OfferCatalog
from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.records import Instance, Offer

URL = "/api/v1/gpu/instances"


async def test_lists_offers_of_every_enabled_provider(
    client: AppClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    response = await client.get(URL, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errors"] == []
    assert sorted(body["providers"]) == ["io.net", "local", "vast.ai"]
    seen = {offer["provider"] for offer in body["instances"]}
    assert seen == {"io.net", "local", "vast.ai"}
    assert body["total_count"] == len(body["instances"])
    first = body["instances"][0]
    # Money twice: decimal string and exact micro-dollars; sorted by price (default order).
    assert dollars_to_micros(first["price_per_hour"]) == first["price_per_hour_micros"]
    prices = [o["price_per_hour_micros"] for o in body["instances"]]
    assert prices == sorted(prices)


async def test_filters_apply_across_providers(client: AppClient, make_user: MakeUser) -> None:
    headers = await make_user()
    query = {"gpu_model": "4090", "max_price": "0.40", "min_vram": "24"}
    response = await client.get(URL, params=query, headers=headers)
    assert response.status_code == 200
    offers = response.json()["instances"]
    assert offers, "the fakes and the local fleet all have RTX 4090s under $0.40"
    for offer in offers:
        assert "4090" in offer["gpu_model"]
        assert offer["price_per_hour_micros"] <= 400_000
        assert offer["vram_gb"] >= 24
    only_local = await client.get(URL, params={"provider": "local"}, headers=headers)
    assert {o["provider"] for o in only_local.json()["instances"]} == {"local"}
    assert only_local.json()["providers"] == ["local"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"min_vram": "lots"}, "min_vram"),
        ({"max_price": "cheap"}, "max_price"),
        ({"max_price": "-1"}, "max_price"),
        ({"provider": "aws"}, "provider"),
        ({"order": "random"}, "order"),
        ({"limit": "0"}, "limit"),
        ({"min_reliability": "2"}, "min_reliability"),
    ],
)
async def test_bad_filters_are_400_naming_the_field(
    client: AppClient, make_user: MakeUser, query: dict[str, str], field: str
) -> None:
    headers = await make_user()
    response = await client.get(URL, params=query, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field
    assert field in response.json()["error"]["message"]


async def test_a_failing_provider_gives_partial_results_not_a_500(
    client: AppClient, make_user: MakeUser, fake_vast: FakeVastAi
) -> None:
    headers = await make_user()
    fake_vast.api_key = "rotated"  # our key is now refused: 401 from vast.ai
    response = await client.get(URL, params={"provider": "all"}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert [e["provider"] for e in body["errors"]] == ["vast.ai"]
    assert body["errors"][0]["type"] == "ProviderAuthError"
    assert "vast.ai" not in body["providers"]
    assert {o["provider"] for o in body["instances"]} == {"io.net", "local"}


async def test_needs_a_key_with_the_gpu_scope(client: AppClient, make_user: MakeUser) -> None:
    assert (await client.get(URL)).status_code == 401
    inference_only = await make_user(scopes=["inference"])
    refused = await client.get(URL, headers=inference_only)
    assert refused.status_code == 403
    assert "gpu" in refused.json()["error"]["message"]


async def test_listing_is_cached_briefly(
    client: AppClient, make_user: MakeUser, fake_vast: FakeVastAi
) -> None:
    headers = await make_user()
    searches = lambda: sum(1 for r in fake_vast.requests if r.path == "/api/v0/bundles/")  # noqa: E731
    await client.get(URL, params={"provider": "vast.ai"}, headers=headers)
    before = searches()
    for _ in range(3):
        await client.get(URL, params={"provider": "vast.ai"}, headers=headers)
    assert searches() == before
    providers_of(client).catalog.invalidate("vast.ai")
    await client.get(URL, params={"provider": "vast.ai"}, headers=headers)
    assert searches() == before + 1


class _SlowProvider(Provider):
    """Answers after `delay_s`; counts calls (for single-flight)."""

    name = "slow"

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.calls = 0

    async def _list_offers(self, filters: OfferFilters) -> list[Offer]:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        return [
            Offer(id="s1", provider=self.name, gpu_model="L4", num_gpus=1, vram_gb=24,
                  price_per_hour=100_000, price_per_gpu_hour=100_000)
        ]  # fmt: skip

    async def _create(self, offer_id: str, config: RentConfig) -> Instance:
        raise ProviderUnavailable(self.name, "not for rent")

    async def _get(self, instance_id: str) -> Instance:
        raise ProviderUnavailable(self.name, "no instances")

    async def _list_instances(self) -> list[Instance]:
        return []

    async def _destroy(self, instance_id: str) -> None:
        raise ProviderUnavailable(self.name, "no instances")


class _BrokenProvider(_SlowProvider):
    name = "broken"

    async def _list_offers(self, filters: OfferFilters) -> list[Offer]:
        raise RuntimeError("a bug in a client")


async def test_a_slow_provider_is_reported_and_fills_the_cache_later() -> None:
    slow, fast = _SlowProvider(0.3), _SlowProvider(0.0)
    fast.name = "fast"
    catalog = OfferCatalog({"slow": slow, "fast": fast}, ttl_s=30, deadline_s=0.1)
    try:
        first = await catalog.search(OfferFilters())
        assert [o.provider for o in first.offers] == ["fast"]
        assert [(e.provider, e.type) for e in first.errors] == [("slow", "ProviderUnavailable")]
        # The slow call kept running; once it answered, the next listing has it from cache.
        await asyncio.sleep(0.35)
        second = await catalog.search(OfferFilters())
        assert sorted(o.provider for o in second.offers) == ["fast", "slow"]
        assert slow.calls == 1
    finally:
        await catalog.aclose()


async def test_concurrent_identical_listings_share_one_call_and_bugs_are_contained() -> None:
    slow, broken = _SlowProvider(0.05), _BrokenProvider(0)
    catalog = OfferCatalog({"slow": slow, "broken": broken}, ttl_s=30, deadline_s=2)
    try:
        results = await asyncio.gather(*(catalog.search(OfferFilters()) for _ in range(5)))
        assert slow.calls == 1
        for result in results:
            assert [o.id for o in result.offers] == ["s1"]
            assert result.errors[0].provider == "broken"
            assert result.errors[0].message == "broken: internal error"
    finally:
        await catalog.aclose()
