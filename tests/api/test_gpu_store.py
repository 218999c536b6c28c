"""The rentals table (migration 0010) on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from gpuproxy.providers.instances import InstanceStore
from gpuproxy.providers.params import RentConfig
from gpuproxy.providers.records import Instance, Offer
from gpuproxy.storage.database import Database
from gpuproxy.storage.migrations import apply_migrations

OFFER = Offer(
    id="103", provider="vast.ai", gpu_model="A100 SXM4", num_gpus=1, vram_gb=80,
    price_per_hour=1_200_000, price_per_gpu_hour=1_200_000, location="Oregon, US",
)  # fmt: skip


async def test_rent_lifecycle_and_queries(any_db: Database) -> None:
    await apply_migrations(any_db)
    store = InstanceStore(any_db)
    reservation = await store.create_reservation(
        owner_id="u1", requested=2, all_or_nothing=True, filters={"gpu_model": "A100"}
    )
    config = RentConfig(image="img/a:1", env={"TOKEN": "secret"}, ports=[8000])
    record = await store.begin_rent(
        owner_id="u1", offer=OFFER, config=config, reservation_id=reservation.id
    )
    assert record.status == "renting"
    assert record.config == {
        "image": "img/a:1",
        "env_names": ["TOKEN"],
        "ports": [8000],
        "disk_gb": 16,
    }
    assert await store.list_live() == []  # no provider id yet
    record = await store.rented(
        record,
        Instance(id="9100001", provider="vast.ai", status="starting", price_per_hour=1_250_000),
    )
    assert record.price_per_hour == 1_250_000  # what the provider actually charges
    found = await store.find("vast.ai", "9100001")
    assert found == record
    running = await store.observe(
        record,
        Instance(id="9100001", provider="vast.ai", status="running", endpoint="http://x:1"),
    )
    assert running.running_at is not None
    assert await store.get(record.id) == running
    assert [r.id for r in await store.list_live()] == [record.id]
    assert [r.id for r in await store.list_for_owner("u1")] == [record.id]
    assert await store.list_for_owner("u2") == []
    assert [r.id for r in await store.list_for_reservation(reservation.id)] == [record.id]

    ended = await store.set_status(running, "destroyed")
    assert ended.destroyed_at is not None
    assert await store.list_live() == []
    assert await store.list_for_owner("u1") == []
    assert [r.status for r in await store.list_for_owner("u1", include_ended=True)] == ["destroyed"]
    done = await store.finish_reservation(reservation, reserved=1, status="partial")
    row = await any_db.fetchrow(
        "SELECT reserved, status FROM gpu_reservations WHERE id = $1", done.id
    )
    assert row == {"reserved": 1, "status": "partial"}


async def test_one_row_per_provider_instance(any_db: Database) -> None:
    await apply_migrations(any_db)
    store = InstanceStore(any_db)
    first = await store.begin_rent(owner_id="u1", offer=OFFER, config=RentConfig())
    second = await store.begin_rent(owner_id="u1", offer=OFFER, config=RentConfig())
    instance = Instance(id="42", provider="vast.ai", status="starting")
    await store.rented(first, instance)
    with pytest.raises(Exception, match=r"(?i)unique"):
        await store.rented(second, instance)
    stale = await store.list_stale_renting(second.created_at + 1)
    assert [r.id for r in stale] == [second.id]
