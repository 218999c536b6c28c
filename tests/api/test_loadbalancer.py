"""/api/v1/loadbalancer: strategy (read for all, write for admins), server and provider load."""

from __future__ import annotations

import pytest
from tests.api.conftest import AppClient, MakeUser, providers_of

from gpuproxy import _core

LB = "/api/v1/loadbalancer"
GPU = "/api/v1/gpu/instances"


async def test_strategy_is_readable_by_all_and_settable_by_admins_only(
    client: AppClient, make_user: MakeUser
) -> None:
    alice, admin = await make_user("alice"), await make_user("root", admin=True)
    shown = await client.get(f"{LB}/strategy", headers=alice)
    assert shown.status_code == 200
    assert shown.json() == {"strategy": "p2c_ewma", "available": list(_core.STRATEGIES)}

    refused = await client.put(f"{LB}/strategy", json={"strategy": "round_robin"}, headers=alice)
    assert refused.status_code == 403
    assert (await client.put(f"{LB}/strategy", json={"strategy": "round_robin"})).status_code == 401

    pool = _core.Pool("p2c_ewma")
    providers_of(client).register_pool("test-pool", pool)
    changed = await client.put(
        f"{LB}/strategy", json={"strategy": "least_connections"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["strategy"] == "least_connections"
    assert changed.json()["previous"] == "p2c_ewma"
    assert pool.strategy == "least_connections"  # registered pools follow at once
    assert (await client.get(f"{LB}/strategy", headers=alice)).json()["strategy"] == (
        "least_connections"
    )


@pytest.mark.parametrize("body", [{"strategy": "fastest"}, {"strategy": 3}, {}])
async def test_unknown_strategies_are_400(
    client: AppClient, make_user: MakeUser, body: dict[str, object]
) -> None:
    admin = await make_user("root", admin=True)
    response = await client.put(f"{LB}/strategy", json=body, headers=admin)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "strategy"
    assert "least_connections" in response.json()["error"]["message"]


async def test_server_load_is_per_visible_instance_and_provider_load_per_provider(
    client: AppClient, make_user: MakeUser
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    admin = await make_user("root", admin=True)
    rented = (await client.post(f"{GPU}/local/l40s-48gb-1", json={}, headers=alice)).json()

    # Traffic measured by a balancer pool that holds this instance's worker.
    pool = _core.Pool("least_connections")
    pool.add_backend("w-1", rented["endpoint"])
    providers_of(client).register_pool("test-pool", pool)
    finished = pool.select()
    assert finished is not None
    finished.complete(True, 20.0)
    open_guard = pool.select()
    assert open_guard is not None

    loads = (await client.get(f"{LB}/loads", headers=alice)).json()
    assert loads["strategy"] == "p2c_ewma"
    [mine] = loads["server"]
    assert mine["instance_id"] == rented["id"]
    assert mine["connections"] == 1
    assert mine["total_requests"] >= 1
    assert mine["avg_response_ms"] == pytest.approx(20.0, rel=0.05)
    # The recent average starts from the pool's default (50 ms) and moves towards 20 ms.
    assert 20.0 <= mine["ewma_response_ms"] <= 50.0
    assert mine["load_score"] == pytest.approx(2 * mine["ewma_response_ms"])
    by_provider = {p["provider"]: p for p in loads["provider"]}
    assert set(by_provider) == {"local", "vast.ai", "io.net"}
    assert by_provider["local"]["available_offers"] == 13  # 14 slots, one rented
    assert by_provider["local"]["cheapest_price_per_gpu_hour_micros"] == 340_000
    open_guard.release()

    assert (await client.get(f"{LB}/loads", headers=bob)).json()["server"] == []
    admin_view = (await client.get(f"{LB}/loads", params={"type": "server"}, headers=admin)).json()
    assert rented["id"] in {s["instance_id"] for s in admin_view["server"]}
    assert "provider" not in admin_view
    only_providers = await client.get(f"{LB}/loads", params={"type": "provider"}, headers=bob)
    assert "server" not in only_providers.json()

    one = await client.get(f"{LB}/load", params={"instance_id": rented["id"]}, headers=alice)
    assert one.status_code == 200
    assert one.json()["record_id"] == rented["metadata"]["record_id"]
    hidden = await client.get(f"{LB}/load", params={"instance_id": rented["id"]}, headers=bob)
    assert hidden.status_code == 404


async def test_load_parameters_are_validated(client: AppClient, make_user: MakeUser) -> None:
    alice = await make_user("alice")
    missing = await client.get(f"{LB}/load", headers=alice)
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "instance_id"
    bad = await client.get(f"{LB}/loads", params={"type": "gpu"}, headers=alice)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "type"
    no_scope = await make_user("bob", scopes=["inference"])
    assert (await client.get(f"{LB}/loads", headers=no_scope)).status_code == 403
