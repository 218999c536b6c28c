"""An offer without a valid price through the API: listed as not rentable, renting is 409."""

from __future__ import annotations

from tests.api.conftest import AppClient, MakeUser, providers_of
from tests.fakes.vastai import FakeVastAi

GPU = "/api/v1/gpu/instances"


async def test_unpriced_offer_is_listed_last_and_cannot_be_rented(
    client: AppClient, make_user: MakeUser, fake_vast: FakeVastAi
) -> None:
    alice = await make_user("alice")
    garbled = {**fake_vast.offers[101], "id": 301, "ask_contract_id": 301, "dph_total": None}
    fake_vast.offers[301] = garbled
    listed = await client.get(GPU, params={"provider": "vast.ai"}, headers=alice)
    assert listed.status_code == 200, listed.text
    offers = listed.json()["instances"]
    last = offers[-1]
    assert last["id"] == "301"
    assert last["rentable"] is False
    assert last["status"] == "not_rentable"
    assert last["not_rentable_reason"] == "the provider sent no price for this offer"
    assert all(o["rentable"] and o["not_rentable_reason"] is None for o in offers[:-1])

    rented = await client.post(
        f"{GPU}/vast.ai/301", json={"image": "vllm/vllm-openai:v0.6.3"}, headers=alice
    )
    assert rented.status_code == 409, rented.text
    error = rented.json()["error"]
    assert error["code"] == "offer_not_rentable"
    assert error["param"] == "offer_id"
    assert "no price" in error["message"]
    assert fake_vast.instances == {}  # the provider was never asked
    mine = await client.get(f"{GPU}/mine", params={"all": "true"}, headers=alice)
    assert mine.json()["instances"] == []  # nothing recorded, nothing held
    assert not providers_of(client).rentals.hooks._holds
