"""The local fleet end to end: rent two GPUs -> two real worker processes answer through
the openai SDK -> destroy -> the processes are gone."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI

from gpuproxy.providers.errors import ProviderBadRequest, ProviderNotFound
from gpuproxy.providers.local import LocalFleetProvider
from gpuproxy.providers.params import OfferFilters, RentConfig


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
async def fleet() -> AsyncIterator[LocalFleetProvider]:
    provider = LocalFleetProvider(include_nvidia=False)
    yield provider
    await provider.aclose()


async def test_offers_are_realistic_and_filterable(fleet: LocalFleetProvider) -> None:
    offers = await fleet.list_offers(OfferFilters(min_vram_gb=48))
    models = {o.gpu_model for o in offers}
    assert models == {"H100 80GB", "A100 80GB", "RTX A6000 48GB", "L40S 48GB"}
    assert offers[0].gpu_model == "RTX A6000 48GB"  # cheapest first
    assert offers[0].price_per_hour == 490_000
    cheap = await fleet.list_offers(OfferFilters(max_price_per_hour=400_000))
    assert {o.gpu_model for o in cheap} == {"RTX 4090 24GB"}
    assert len(cheap) == 4  # one offer per free slot


async def test_rent_two_workers_answer_then_destroy(fleet: LocalFleetProvider) -> None:
    offers = await fleet.list_offers(OfferFilters(gpu_model="A100", limit=2))
    config = RentConfig(models=["llama-sim"])
    first = await fleet.create(offers[0].id, config)
    second = await fleet.create(offers[1].id, config)
    assert first.status == second.status == "running"
    assert first.endpoint != second.endpoint
    remaining = await fleet.list_offers(OfferFilters(gpu_model="A100"))
    assert {o.id for o in remaining}.isdisjoint({offers[0].id, offers[1].id})

    for instance in (first, second):
        client = AsyncOpenAI(base_url=f"{instance.endpoint}/v1", api_key="unused")
        reply = await client.chat.completions.create(
            model="llama-sim", messages=[{"role": "user", "content": "hello GPU"}], max_tokens=8
        )
        assert reply.choices[0].message.content
        assert reply.usage is not None
        assert reply.usage.completion_tokens <= 8
        models = await client.models.list()
        assert [m.id for m in models.data] == ["llama-sim"]
        await client.close()

    pids = [int(first.metadata["pid"]), int(second.metadata["pid"])]
    assert {i.id for i in await fleet.list_instances()} == {first.id, second.id}
    await fleet.destroy(first.id)
    await fleet.destroy(second.id)
    assert all(_gone(pid) for pid in pids)
    assert await fleet.list_instances() == []
    with pytest.raises(ProviderNotFound):
        await fleet.get(first.id)
    assert len(await fleet.list_offers(OfferFilters(gpu_model="A100"))) == 4


async def test_slot_cannot_be_rented_twice_and_aclose_stops_all(
    fleet: LocalFleetProvider,
) -> None:
    instance = await fleet.create("rtx-4090-24gb-1")
    with pytest.raises(ProviderBadRequest):
        await fleet.create("rtx-4090-24gb-1")
    with pytest.raises(ProviderNotFound):
        await fleet.create("no-such-gpu-1")
    pid = int(instance.metadata["pid"])
    await fleet.aclose()
    assert _gone(pid)


async def test_dead_worker_shows_as_failed(fleet: LocalFleetProvider) -> None:
    instance = await fleet.create("h100-80gb-1")
    os.kill(int(instance.metadata["pid"]), 9)
    rental = fleet._rentals[instance.id]
    rental.worker.process.wait(5)
    shown = await fleet.get(instance.id)
    assert shown.status == "failed"
    assert shown.endpoint is None
    await fleet.destroy(instance.id)
