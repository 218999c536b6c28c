"""The availability poller and the lifecycle work around it: state refresh, start timeout,
destroy retries, orphaned local instances, instances stopped by billing."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from tests.api.conftest import AppClient, MakeUser, providers_of, services_of
from tests.fakes.vastai import FakeVastAi

from gpuproxy.providers.errors import ProviderUnavailable
from gpuproxy.providers.instances import InstanceRecord

GPU = "/api/v1/gpu/instances"


async def _record(client: AppClient, instance: dict[str, Any]) -> InstanceRecord:
    record = await providers_of(client).store.get(instance["metadata"]["record_id"])
    assert record is not None
    return record


async def test_poll_follows_a_vast_instance_to_running(
    client: AppClient, make_user: MakeUser, fake_vast: FakeVastAi
) -> None:
    alice = await make_user("alice")
    fake_vast.boot_s = 0.3
    rented = await client.post(f"{GPU}/vast.ai/101", json={"image": "img/a:1"}, headers=alice)
    assert rented.json()["status"] == "starting"
    service = providers_of(client)
    events = service.bus.events()
    pending = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.01)  # subscribed before the poll publishes
    fake_vast.boot_s = 0.0
    await service.poller.refresh_instances()
    event = await asyncio.wait_for(pending, 5)
    await events.aclose()
    assert (event["type"], event["status"], event["previous"]) == (
        "instance",
        "running",
        "starting",
    )
    assert (await _record(client, rented.json())).status == "running"


async def test_instances_not_running_in_time_are_destroyed(
    client: AppClient, make_user: MakeUser, fake_vast: FakeVastAi
) -> None:
    alice = await make_user("alice")
    fake_vast.boot_s = 3600  # never boots
    rented = await client.post(f"{GPU}/vast.ai/105", json={"image": "img/a:1"}, headers=alice)
    service = providers_of(client)
    service.poller.start_timeout_s = 0.0
    await service.poller.refresh_instances()
    record = await _record(client, rented.json())
    assert record.status == "failed"
    assert "not running after" in record.status_message
    assert int(rented.json()["id"]) in fake_vast.destroyed


async def test_a_failed_destroy_stays_destroying_and_the_poller_retries_it(
    client: AppClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_user("alice")
    rented = (await client.post(f"{GPU}/local/a100-80gb-2", json={}, headers=alice)).json()
    local: Any = providers_of(client).providers["local"]
    real_destroy = local._destroy

    async def down(instance_id: str) -> None:
        raise ProviderUnavailable("local", "maintenance")

    monkeypatch.setattr(local, "_destroy", down)
    refused = await client.delete(f"{GPU}/local/{rented['id']}", headers=alice)
    assert refused.status_code == 503
    assert (await _record(client, rented)).status == "destroying"
    monkeypatch.setattr(local, "_destroy", real_destroy)
    await providers_of(client).poller.refresh_instances()
    assert (await _record(client, rented)).status == "destroyed"
    assert await local.list_instances() == []


async def test_local_instances_of_a_dead_proxy_process_are_reaped(
    client: AppClient, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    rented = (await client.post(f"{GPU}/local/l40s-48gb-2", json={}, headers=alice)).json()
    service = providers_of(client)
    db = services_of(client).db
    dead = f"{socket.gethostname()}:999999999"  # no such pid
    await db.execute(
        "UPDATE gpu_instances SET node = $1 WHERE id = $2", dead, rented["metadata"]["record_id"]
    )
    assert await service.reap_orphans() == 1
    record = await _record(client, rented)
    assert record.status == "destroyed"
    assert record.status_message == "its proxy process is gone"


async def test_billing_stops_an_instance_whose_owner_cannot_pay(
    client: AppClient, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    rented = (await client.post(f"{GPU}/local/h100-80gb-2", json={}, headers=alice)).json()
    billing: Any = services_of(client).billing
    handlers = billing.accrual.on_exceeded
    assert handlers, "the providers service registers with billing's accrual"
    record = await _record(client, rented)
    for handler in handlers:
        await handler(record.owner_id, record.id, "credits exhausted")
    record = await _record(client, rented)
    assert record.status == "destroyed"
    assert "credits exhausted" in record.status_message
    assert await providers_of(client).providers["local"].list_instances() == []
