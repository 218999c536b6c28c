"""POST /api/v1/gpu/instances/reserve: local fleet end to end, validation, spares, rollback."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.api.conftest import (
    BASE_ENV,
    AppClient,
    MakeUser,
    providers_of,
    running_app,
    services_of,
    user_factory,
)

from gpuproxy.config import Settings
from gpuproxy.providers.errors import ProviderBadRequest
from gpuproxy.providers.params import RentConfig
from gpuproxy.providers.records import Instance
from gpuproxy.worker.serve_auth import authorization_for_token

RESERVE = "/api/v1/gpu/instances/reserve"
GPU = "/api/v1/gpu/instances"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_reserve_two_local_gpus_serve_then_destroy_stops_the_processes(
    client: AppClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_user("alice")
    registry: Any = services_of(client).workers
    issued: list[str] = []
    issue = registry.issue_token

    async def recording_issue(*args: Any, **kwargs: Any) -> str:
        token: str = await issue(*args, **kwargs)
        issued.append(token)
        return token

    monkeypatch.setattr(registry, "issue_token", recording_issue)
    body = {"count": 2, "filters": {"provider": "local", "gpu_model": "4090"}}
    response = await client.post(RESERVE, json=body, headers=alice)
    assert response.status_code == 201, response.text
    reservation = response.json()
    assert reservation["status"] == "complete"
    assert reservation["reserved_count"] == 2
    instances = reservation["reserved_instances"]
    assert len({i["offer_id"] for i in instances}) == 2  # distinct offers
    assert all(i["status"] == "running" for i in instances)
    assert [r["contract_id"] for r in reservation["results"]] == [i["id"] for i in instances]
    local = providers_of(client).providers["local"]
    pids = [int((await local.get(i["id"])).metadata["pid"]) for i in instances]

    # Both workers answer an OpenAI chat completion, to their gateway's secret only.
    chat = {"model": "gpuproxy-sim-1", "messages": [{"role": "user", "content": "hi"}]}
    assert len(issued) == 2
    async with httpx.AsyncClient(timeout=10) as http:
        for instance in instances:
            url = f"{instance['endpoint']}/v1/chat/completions"
            assert (await http.post(url, json=chat)).status_code == 401
            answers = [
                await http.post(url, json=chat, headers={"authorization": secret})
                for secret in map(authorization_for_token, issued)
            ]
            served = [a for a in answers if a.status_code == 200]
            assert len(served) == 1, [a.text for a in answers]
            assert served[0].json()["choices"][0]["message"]["content"]

    for instance in instances:
        gone = await client.delete(f"{GPU}/local/{instance['id']}", headers=alice)
        assert gone.json()["status"] == "destroyed"
    assert not any(_pid_alive(pid) for pid in pids)
    assert await local.list_instances() == []


@pytest.mark.parametrize(
    "body",
    [{"count": 0}, {"count": 17}, {"count": "2"}, {"count": True}, {"count": 2.5}, {}],
)
async def test_count_out_of_range_is_400(
    client: AppClient, make_user: MakeUser, body: dict[str, Any]
) -> None:
    alice = await make_user("alice")
    response = await client.post(RESERVE, json=body, headers=alice)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "count"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"count": 1, "filters": {"max_price": "x"}}, "max_price"),
        ({"count": 1, "filters": []}, "filters"),
        ({"count": 1, "all_or_nothing": "yes"}, "all_or_nothing"),
        ({"count": 1, "config": {"ports": [70000]}}, "ports"),
        ({"count": 1, "provider": "aws"}, "provider"),
    ],
)
async def test_bad_reserve_fields_are_400(
    client: AppClient, make_user: MakeUser, body: dict[str, Any], field: str
) -> None:
    alice = await make_user("alice")
    response = await client.post(RESERVE, json=body, headers=alice)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


async def test_all_or_nothing_refuses_before_renting_when_too_few_offers(
    client: AppClient, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    body = {
        "count": 3,
        "all_or_nothing": True,
        "filters": {"provider": "local", "gpu_model": "H100"},
    }
    response = await client.post(RESERVE, json=body, headers=alice)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_enough_offers"
    assert response.json()["available"] == 2
    assert await providers_of(client).providers["local"].list_instances() == []


async def test_a_slot_whose_offer_fails_moves_on_to_a_spare(
    client: AppClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_user("alice")
    local: Any = providers_of(client).providers["local"]
    real_create = local._create
    refused: list[str] = []

    async def flaky(offer_id: str, config: RentConfig) -> Instance:
        if not refused:  # the first offer tried was just taken by someone else
            refused.append(offer_id)
            raise ProviderBadRequest("local", f"offer {offer_id} is already rented")
        instance: Instance = await real_create(offer_id, config)
        return instance

    monkeypatch.setattr(local, "_create", flaky)
    body = {"count": 2, "filters": {"provider": "local", "gpu_model": "A100"}}
    response = await client.post(RESERVE, json=body, headers=alice)
    assert response.status_code == 201, response.text
    reservation = response.json()
    assert reservation["status"] == "complete"
    tries = sorted(len(r["offers_tried"]) for r in reservation["results"])
    assert tries == [1, 2]
    assert refused[0] not in {i["offer_id"] for i in reservation["reserved_instances"]}
    for instance in reservation["reserved_instances"]:
        await client.delete(f"{GPU}/local/{instance['id']}", headers=alice)


async def _user_id(client: AppClient, headers: dict[str, str]) -> str:
    me = await client.get("/api/v1/auth/me", headers=headers)
    user_id: str = me.json()["id"]
    return user_id


@pytest.fixture
def limited_settings(make_settings: Callable[..., Settings]) -> Settings:
    # Guard rails: $0.50 per hour; a local RTX 4090 costs $0.34/h: one fits, two do not.
    return make_settings(**BASE_ENV, GUARDRAILS_ENABLED="true", GUARDRAILS_MAX_60MIN_RATE="0.50")


@pytest.mark.parametrize("all_or_nothing", [False, True])
async def test_guard_rails_refuse_the_second_gpu_partial_or_rolled_back(
    limited_settings: Settings, all_or_nothing: bool
) -> None:
    async with running_app(limited_settings) as app_client:
        alice = await user_factory(app_client)("alice")
        body = {
            "count": 2,
            "all_or_nothing": all_or_nothing,
            "filters": {"provider": "local", "gpu_model": "4090"},
        }
        response = await app_client.post(RESERVE, json=body, headers=alice)
        local = providers_of(app_client).providers["local"]
        if all_or_nothing:
            assert response.status_code == 402, response.text
            assert response.headers["x-guardrails-exceeded"] == "true"
            reservation = response.json()["reservation"]
            assert reservation["status"] == "rolled_back"
            assert reservation["reserved_count"] == 0
            assert sorted(r["status"] for r in reservation["results"]) == ["failed", "rolled_back"]
            assert await local.list_instances() == []
        else:
            assert response.status_code == 201, response.text
            reservation = response.json()
            assert reservation["status"] == "partial"
            assert reservation["reserved_count"] == 1
            failed = [r for r in reservation["results"] if r["status"] == "failed"]
            assert failed[0]["error"]["code"] == "spending_limit_exceeded"
            assert failed[0]["error"]["status"] == 402
            assert len(await local.list_instances()) == 1


async def test_credits_are_checked_before_renting_and_billing_accrues_the_instance(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(**BASE_ENV, CREDITS_ENFORCED="true")
    async with running_app(settings) as app_client:
        alice = await user_factory(app_client)("alice")
        broke = await app_client.post(f"{GPU}/local/a100-80gb-1", json={}, headers=alice)
        assert broke.status_code == 402, broke.text
        assert broke.json()["error"]["code"] == "credits_exhausted"
        service = providers_of(app_client)
        assert await service.providers["local"].list_instances() == []

        billing: Any = app_client.app.state.services.billing
        user_id = await _user_id(app_client, alice)
        await billing.adjust(user_id, 10_000_000, reason="test", actor_id="test", key="k1")
        rented = await app_client.post(f"{GPU}/local/a100-80gb-1", json={}, headers=alice)
        assert rented.status_code == 201, rented.text
        record_id = rented.json()["metadata"]["record_id"]
        db = app_client.app.state.services.db
        accrual = await db.fetchrow(
            "SELECT user_id, price_per_hour_micros, stopped_at FROM gpu_accruals "
            "WHERE instance_id = $1",
            record_id,
        )
        assert accrual is not None
        assert accrual["user_id"] == user_id
        assert accrual["price_per_hour_micros"] == 1_290_000
        assert accrual["stopped_at"] is None
        await app_client.delete(f"{GPU}/local/{rented.json()['id']}", headers=alice)
        stopped = await db.fetchval(
            "SELECT stopped_at FROM gpu_accruals WHERE instance_id = $1", record_id
        )
        assert stopped is not None
        history = (await app_client.get(f"{GPU}/mine?all=1", headers=alice)).json()["instances"]
        assert sorted(i["status"] for i in history) == ["destroyed", "failed"]
