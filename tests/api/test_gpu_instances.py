"""Renting, showing and destroying instances; isolation between users; failed starts."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.api.conftest import AppClient, MakeUser, providers_of
from tests.fakes.vastai import FakeVastAi

GPU = "/api/v1/gpu/instances"


async def _answers(endpoint: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(f"{endpoint}/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def test_local_rent_show_destroy_with_isolation_between_users(
    client: AppClient, make_user: MakeUser
) -> None:
    alice, bob, admin = (
        await make_user("alice"),
        await make_user("bob"),
        await make_user("root", admin=True),
    )
    rented = await client.post(f"{GPU}/local/rtx-4090-24gb-1", json={}, headers=alice)
    assert rented.status_code == 201, rented.text
    instance = rented.json()
    assert instance["status"] == "running"
    assert instance["price_per_hour_micros"] == 340_000
    assert instance["metadata"]["contract_id"] == instance["id"]
    path = f"{GPU}/local/{instance['id']}"
    assert await _answers(instance["endpoint"])

    # Bob cannot see, list or destroy Alice's instance: the same 404 as a missing one.
    for response in (await client.get(path, headers=bob), await client.delete(path, headers=bob)):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "instance_not_found"
    missing = await client.get(f"{GPU}/local/local-000000000000", headers=bob)
    assert missing.json()["error"]["type"] == "not_found_error"
    assert (await client.get(f"{GPU}/mine", headers=bob)).json()["instances"] == []
    assert await _answers(instance["endpoint"])

    # The owner and an admin see it.
    mine = (await client.get(f"{GPU}/mine", headers=alice)).json()["instances"]
    assert [i["id"] for i in mine] == [instance["id"]]
    seen_by_admin = await client.get(path, headers=admin)
    assert seen_by_admin.status_code == 200
    assert seen_by_admin.json()["owner_id"] == instance["owner_id"]

    destroyed = await client.delete(path, headers=alice)
    assert destroyed.status_code == 200
    assert destroyed.json()["status"] == "destroyed"
    assert destroyed.json()["destroyed_at"] is not None
    assert not await _answers(instance["endpoint"])
    assert await providers_of(client).providers["local"].list_instances() == []
    again = await client.delete(path, headers=alice)  # idempotent
    assert again.status_code == 200
    assert again.json()["status"] == "destroyed"
    assert (await client.get(f"{GPU}/mine", headers=alice)).json()["instances"] == []
    ended = (await client.get(f"{GPU}/mine", params={"all": "true"}, headers=alice)).json()
    assert [i["status"] for i in ended["instances"]] == ["destroyed"]
    # The slot is offered again.
    offers = (await client.get(GPU, params={"provider": "local"}, headers=alice)).json()
    assert "rtx-4090-24gb-1" in {o["id"] for o in offers["instances"]}


async def test_vast_rent_follows_the_instance_to_running_and_destroys_it(
    client: AppClient, make_user: MakeUser, fake_vast: FakeVastAi
) -> None:
    alice = await make_user("alice")
    body = {
        "image": "vllm/vllm-openai:v0.6.3",
        "env": {"HF_TOKEN": "hf_secret_value"},
        "ports": [8000],
        "disk": 40,
    }
    rented = await client.post(f"{GPU}/vast.ai/103", json=body, headers=alice)
    assert rented.status_code == 201, rented.text
    instance = rented.json()
    assert instance["provider"] == "vast.ai"
    assert instance["status"] in ("starting", "running")
    # Listed at 1.20 $/h with 16 GB of disk; 24 GB more at 0.09 $/GB/month is billed too.
    assert instance["price_per_hour_micros"] == 1_200_000 + 24 * 125
    assert instance["config"]["env_names"] == ["HF_TOKEN"]
    assert "hf_secret_value" not in rented.text  # env values are never stored or echoed
    contract = int(instance["id"])
    assert fake_vast.instances[contract]["body"]["image"] == "vllm/vllm-openai:v0.6.3"
    path = f"{GPU}/vast.ai/{instance['id']}"
    for _ in range(50):
        shown = (await client.get(path, headers=alice)).json()
        if shown["status"] == "running":
            break
        await asyncio.sleep(0.05)
    assert shown["status"] == "running"
    assert shown["running_at"] is not None
    destroyed = await client.delete(path, headers=alice)
    assert destroyed.json()["status"] == "destroyed"
    assert contract in fake_vast.destroyed


async def test_an_instance_that_fails_to_start_is_destroyed_not_left_billing(
    client: AppClient, make_user: MakeUser, fake_vast: FakeVastAi
) -> None:
    alice = await make_user("alice")
    fake_vast.offers[106]["fail_mode"] = "exited"
    rented = await client.post(f"{GPU}/vast.ai/106", json={"image": "bad/image:1"}, headers=alice)
    assert rented.status_code == 201, rented.text
    path = f"{GPU}/vast.ai/{rented.json()['id']}"
    for _ in range(50):
        shown = (await client.get(path, headers=alice)).json()
        if shown["status"] == "failed":
            break
        await asyncio.sleep(0.05)
    assert shown["status"] == "failed"
    assert "exited" in shown["status_message"]
    assert int(rented.json()["id"]) in fake_vast.destroyed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ports": ["x"]}, "ports"),
        ({"ports": [0]}, "ports"),
        ({"disk": 0}, "disk"),
        ({"env": {"1BAD": "x"}}, "env"),
        ([1, 2], "body"),
    ],
)
async def test_bad_rent_bodies_are_400_naming_the_field(
    client: AppClient, make_user: MakeUser, body: Any, field: str
) -> None:
    alice = await make_user("alice")
    response = await client.post(f"{GPU}/local/rtx-4090-24gb-1", json=body, headers=alice)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field
    assert await providers_of(client).providers["local"].list_instances() == []


async def test_unknown_offers_providers_and_missing_images(
    client: AppClient, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    gone = await client.post(f"{GPU}/local/h100-80gb-9", json={}, headers=alice)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "provider_not_found"
    unknown = await client.post(f"{GPU}/aws/123", json={}, headers=alice)
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "provider"
    no_image = await client.post(f"{GPU}/vast.ai/101", json={}, headers=alice)
    assert no_image.status_code == 400
    assert no_image.json()["error"]["param"] == "image"
    # The refused rent is recorded as failed, not left "renting".
    history = (await client.get(f"{GPU}/mine", params={"all": "1"}, headers=alice)).json()
    assert [i["status"] for i in history["instances"]] == ["failed"]
