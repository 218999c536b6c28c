"""Rents that fail half-way and instances nobody accounts for, against the fake vast.ai.

The rentals run on a real SQLite store and the real RentalHooks over a recording billing
double, so every first-hour hold can be followed: released, or moved to an accrual.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.providers.support import VastWorld, vast_world

from gpuproxy.accounts.principal import Principal
from gpuproxy.providers._http import RetryPolicy
from gpuproxy.providers.errors import ProviderNotFound
from gpuproxy.providers.orphans import OrphanReaper
from gpuproxy.providers.ownership import ownership_tag, record_id_of
from gpuproxy.providers.params import RentConfig
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore
from gpuproxy.storage.migrations import apply_migrations

IMAGE = RentConfig(image="vllm/vllm-openai:v0.6.3")
ALICE = Principal(user_id="usr_alice", email="alice@example.com")


World = VastWorld


@pytest.fixture
async def world(sqlite_db: Database, memory_kv: KeyValueStore) -> AsyncIterator[World]:
    await apply_migrations(sqlite_db)
    async with vast_world(sqlite_db, memory_kv, retry=RetryPolicy(attempts=1)) as built:
        yield built


async def rent_101(world: World) -> Any:
    offer = await world.rentals.find_offer(world.vast, "101")
    return await world.rentals.rent(ALICE, world.vast, offer, IMAGE)


async def only_record(world: World) -> Any:
    [record] = await world.rentals.store.list_for_owner(ALICE.user_id, include_ended=True)
    return record


def break_store(monkeypatch: pytest.MonkeyPatch, world: World, method: str) -> None:
    """Make one InstanceStore method fail the way a lost database connection does."""

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("database went away")

    monkeypatch.setattr(world.rentals.store, method, broken)


async def test_a_rent_carries_the_record_id_as_its_provider_label(world: World) -> None:
    record = await rent_101(world)
    [instance] = world.fake.instances.values()
    assert instance["body"]["label"] == ownership_tag(record.id)
    assert record_id_of(instance["body"]["label"]) == record.id
    assert [h.state for h in world.billing.holds] == ["accruing"]


@pytest.mark.parametrize(
    ("method", "provider_accepted"),
    [("rented", True), ("set_billing_ref", False)],
)
async def test_a_rent_that_cannot_be_recorded_leaves_nothing_running_or_held(
    world: World, monkeypatch: pytest.MonkeyPatch, method: str, provider_accepted: bool
) -> None:
    break_store(monkeypatch, world, method)
    with pytest.raises(ConnectionError):
        await rent_101(world)
    assert world.fake.instances == {}
    # Accepted, then destroyed again (the compensating action); or never asked at all.
    assert len(world.fake.destroyed) == int(provider_accepted)
    assert [h.state for h in world.billing.holds] == ["released"]
    record = await only_record(world)
    assert record.status == "failed"
    assert ("could not be recorded" in record.status_message) is provider_accepted


async def test_the_hold_is_released_even_when_the_failure_cannot_be_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await world.rentals.find_offer(world.vast, "101")
    del world.fake.offers[101]  # taken by someone else meanwhile: the provider refuses
    break_store(monkeypatch, world, "set_status")
    with pytest.raises(ProviderNotFound):
        await world.rentals.rent(ALICE, world.vast, offer, IMAGE)
    assert [h.state for h in world.billing.holds] == ["released"]
    assert (await only_record(world)).status == "renting"  # reap_orphans closes it later


async def rent_directly(world: World, offer_id: str, label: str) -> str:
    """An instance at the provider that no rent through Rentals recorded."""
    config = RentConfig(image="vllm/vllm-openai:v0.6.3", label=label)
    return (await world.vast.create(offer_id, config)).id


async def test_the_reaper_destroys_only_our_instances_without_a_live_record(
    world: World,
) -> None:
    kept = await rent_101(world)  # live record
    ended = await world.rentals.store.begin_rent(
        owner_id=ALICE.user_id,
        offer=await world.rentals.find_offer(world.vast, "102"),
        config=IMAGE,
    )
    ended_instance = await rent_directly(world, "102", ownership_tag(ended.id))
    await world.rentals.store.set_status(ended, "failed", "timed out waiting for the answer")
    lost = await rent_directly(world, "103", ownership_tag(uuid.uuid4().hex))  # no record
    foreign = await rent_directly(world, "105", "someone-elses-job")
    bare = await rent_directly(world, "106", "gpuproxy")
    reaper = OrphanReaper(world.rentals, interval_s=60, grace_s=0)

    destroyed = await reaper.reap_once()

    assert sorted(destroyed) == sorted([("vast.ai", ended_instance), ("vast.ai", lost)])
    remaining = {str(i) for i in world.fake.instances}
    assert remaining == {kept.provider_instance_id, foreign, bare}
    assert await reaper.reap_once() == []  # nothing left to reap


async def test_the_reaper_waits_for_the_grace_period_and_spares_rents_in_flight(
    world: World,
) -> None:
    lost = await rent_directly(world, "103", ownership_tag(uuid.uuid4().hex))
    in_flight = await world.rentals.store.begin_rent(
        owner_id=ALICE.user_id,
        offer=await world.rentals.find_offer(world.vast, "105"),
        config=IMAGE,
    )
    await rent_directly(world, "105", ownership_tag(in_flight.id))  # answer not stored yet
    assert await OrphanReaper(world.rentals, interval_s=60, grace_s=3600).reap_once() == []
    destroyed = await OrphanReaper(world.rentals, interval_s=60, grace_s=0).reap_once()
    assert destroyed == [("vast.ai", lost)]
