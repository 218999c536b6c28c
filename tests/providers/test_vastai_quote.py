"""What a vast.ai rent costs and whether the host can serve it, decided before renting.

vast.ai's `dph_total` includes storage for the disk a search names; a rent bills the disk it
asks for. Rentals hold and record the provider's quote for the rent's config, so the price
shown for the rent is the price billed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.providers.support import VastWorld, vast_world

from gpuproxy.accounts.principal import Principal
from gpuproxy.providers.errors import OfferNotRentable
from gpuproxy.providers.params import RentConfig
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore
from gpuproxy.storage.migrations import apply_migrations

ALICE = Principal(user_id="usr_alice", email="alice@example.com")
#: 0.09 $/GB/month over 720 h: 125 micro-dollars per GB and hour.
MICROS_PER_GB_HOUR = 125


World = VastWorld


@pytest.fixture
async def world(sqlite_db: Database, memory_kv: KeyValueStore) -> AsyncIterator[World]:
    await apply_migrations(sqlite_db)
    async with vast_world(sqlite_db, memory_kv) as built:
        yield built


async def test_quote_adds_the_storage_of_the_disk_rented(world: World) -> None:
    [listed] = [o for o in await world.vast.list_offers() if o.id == "102"]
    assert listed.price_per_hour == 780_000  # as listed: 16 GB of storage included
    big = world.vast.quote(listed, RentConfig(disk_gb=200))
    assert big.price_per_hour == 780_000 + 184 * MICROS_PER_GB_HOUR
    assert big.price_per_gpu_hour == big.price_per_hour // 2
    assert big.metadata["disk_gb"] == "200"
    small = world.vast.quote(listed, RentConfig(disk_gb=8))
    assert small.price_per_hour == 780_000 - 8 * MICROS_PER_GB_HOUR
    assert world.vast.quote(listed, RentConfig()) == listed


async def test_the_price_held_and_recorded_is_the_price_billed(world: World) -> None:
    config = RentConfig(image="vllm/vllm-openai:v0.6.3", disk_gb=200)
    offer = await world.rentals.find_offer(world.vast, "101")
    record = await world.rentals.rent(ALICE, world.vast, offer, config)
    billed = (await world.vast.get(record.provider_instance_id or "")).price_per_hour
    assert billed == 401_333 + 184 * MICROS_PER_GB_HOUR
    assert [h.price for h in world.billing.holds] == [
        billed
    ]  # the first hour held at the billed price
    assert record.price_per_hour == billed


async def test_a_host_with_too_few_open_ports_is_refused_before_renting(world: World) -> None:
    world.fake.offers[103]["direct_port_count"] = 1
    offer = await world.rentals.find_offer(world.vast, "103")
    # Two host ports: the container's 8000 and SSH (ssh_direct, since it has an onstart).
    config = RentConfig(image="vllm/vllm-openai:v0.6.3", ports=[8000], onstart="serve")
    with pytest.raises(OfferNotRentable, match="1 open ports; this rent maps 2"):
        await world.rentals.rent(ALICE, world.vast, offer, config)
    assert world.billing.holds == []  # nothing held
    assert not world.fake.instances  # nothing rented
    one_port = RentConfig(image="vllm/vllm-openai:v0.6.3", ports=[8000])  # runtype args
    assert world.vast.quote(offer, one_port).rentable


async def test_the_fake_host_without_open_ports_publishes_no_endpoint(world: World) -> None:
    # What the quote prevents: vast rents it, it runs, and never gets an address to route to.
    world.fake.offers[103]["direct_port_count"] = 0
    config = RentConfig(image="vllm/vllm-openai:v0.6.3", ports=[8000], start_timeout_s=5)
    running = await world.vast.create("103", config)
    assert running.status == "running"
    assert running.endpoint is None
