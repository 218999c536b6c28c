"""The GPU, billing and playground pages over real HTTP: rent from the local fleet and
destroy, the ledger page, the playground's short-lived token (CSRF-protected, accepted by
the hot route, dead once the session is signed out)."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from tests.gateway.support import GatewayServer

from .helpers import csrf_of, refused_naming, sign_in

pytestmark = pytest.mark.timeout(60)

_RENT = re.compile(
    r'name="provider" value="local">\s*<input type="hidden" name="offer_id" value="([^"]+)"'
)


async def test_rent_from_the_local_fleet_and_destroy(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as client:
        await sign_in(client, user.email)
        page = await client.get("/dashboard/gpus", params={"provider": "local"})
        assert page.status_code == 200, page.text
        offer = _RENT.search(page.text)
        assert offer, "no rentable local offer on the page"
        token = csrf_of(page.text)
        rented = await client.post(
            "/dashboard/gpus/rent",
            data={"provider": "local", "offer_id": offer.group(1), "csrf_token": token},
        )
        assert rented.status_code == 303, rented.text
        mine = await client.get("/dashboard/gpus")
        ids = re.findall(r'<tr data-instance-id="([^"]+)"', mine.text)
        assert len(ids) == 1
        # The API sees the same instance: one implementation of renting.
        api = await client.get("/api/v1/gpu/instances/mine", headers=user.headers)
        assert [i["id"] for i in api.json()["instances"]] == ids
        gone = await client.post(
            f"/dashboard/gpus/local/{ids[0]}/destroy", data={"csrf_token": csrf_of(mine.text)}
        )
        assert gone.status_code == 303
        assert "data-instance-id" not in (await client.get("/dashboard/gpus")).text


async def test_bad_filter_and_unknown_offer_are_explained(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as client:
        await sign_in(client, user.email)
        bad = await client.get("/dashboard/gpus", params={"min_vram": "lots"})
        assert bad.status_code == 400
        assert "min_vram" in bad.text
        page = await client.get("/dashboard/gpus")
        unknown = await client.post(
            "/dashboard/gpus/rent",
            data={"provider": "local", "offer_id": "nope", "csrf_token": csrf_of(page.text)},
        )
        assert 400 <= unknown.status_code < 500
        assert 'role="alert"' in unknown.text


async def test_billing_page_shows_credits_windows_and_ledger(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        await sign_in(client, user.email)
        page = await client.get("/dashboard/billing")
        assert page.status_code == 200
        windows = page.text.split('id="billing-windows"')[1].split("</table>")[0]
        assert windows.count("<tr>") == 1 + 17  # the header and the 17 windows
        assert "Transactions (" in page.text
        assert "No alerts." in page.text
        assert "No payments yet." in page.text
        assert (await client.get("/dashboard/billing", params={"offset": "-1"})).status_code == 400


async def test_playground_token_is_short_lived_and_bound_to_the_session(
    gateway: GatewayServer,
) -> None:
    user = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        await sign_in(client, user.email)
        page = await client.get("/dashboard/playground")
        assert page.status_code == 200
        csrf = csrf_of(page.text.replace('data-csrf="', 'name="csrf_token" value="'))
        assert (await client.post("/dashboard/playground/token")).status_code == 403
        answer = await client.post("/dashboard/playground/token", headers={"x-csrf-token": csrf})
        assert answer.status_code == 200, answer.text
        issued = answer.json()
        assert issued["expires_at"] - time.time() <= 300
        bearer = {"Authorization": f"Bearer {issued['token']}"}
        assert (await client.get("/v1/models", headers=bearer)).status_code == 200
        await client.post("/dashboard/logout", data={"csrf_token": csrf})
        refused = await client.get("/v1/models", headers=bearer)
        assert refused.status_code == 401


async def test_overview_traffic_by_model_for_admins_and_own_for_users(
    gateway: GatewayServer,
) -> None:
    owner = await gateway.user()
    admin = await gateway.user(admin=True)
    await gateway.spawn_worker(owner, "--model", "m1")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as client:
        chat = {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        answer = await client.post("/v1/chat/completions", json=chat, headers=owner.headers)
        assert answer.status_code == 200, answer.text
        await gateway.settle()
        await sign_in(client, owner.email)
        mine = (await client.get("/dashboard/overview.json", params={"range": "1m"})).json()
        assert [r["requests"] for r in mine["traffic"]["rows"]] == [1]
        assert mine["workers"] is None  # operators' view only
        # The usage trend comes from the usage table: the request is in the last hour's bars.
        trend = (await client.get("/dashboard/overview", params={"trend": "1h"})).text
        assert "1 requests in the last 1h" in trend
        assert trend.count("<rect ") == 12
        assert "1 requests</title>" in trend
        assert (await client.get("/dashboard/overview", params={"trend": "1y"})).status_code == 400
        assert (await client.get("/dashboard/overview", params={"range": "2h"})).status_code == 400
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as client:
        await sign_in(client, admin.email)
        page = await client.get("/dashboard/overview", params={"range": "15m"})
        assert 'aria-current="page">last 15m<' in page.text
        numbers = (await client.get("/dashboard/overview.json")).json()
        rows = numbers["traffic"]["rows"]
        assert [(r["name"], r["requests"]) for r in rows] == [("m1", 1)]
        assert rows[0]["latency_p50"] is not None
        (worker,) = numbers["workers"]
        assert (worker["models"], worker["health"]) == ("m1", "healthy")
        assert worker["heartbeat_age_s"] < 30
        assert "workers-table" in page.text
        distribution = page.text.split('id="model-distribution"')[1].split("</table>")[0]
        assert "<td>m1</td><td>1</td>" in distribution


async def test_overview_numbers_are_pushed_as_server_sent_events(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        refused = await client.get("/dashboard/overview/stream")
        assert refused.status_code == 303  # not signed in: to the sign-in page
        await sign_in(client, user.email)
        events: list[dict[str, object]] = []
        async with client.stream("GET", "/dashboard/overview/stream?range=1m") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[len("data: ") :]))
                if len(events) == 2:  # the first at once, the next one 2 s later
                    break
        assert [len(e["windows"]) for e in events] == [17, 17]  # type: ignore[arg-type]
        assert events[0]["traffic"] == {"range": "1m", "rows": [], "total": 0}


async def test_reserve_several_gpus_from_the_local_fleet(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        await sign_in(client, user.email)
        token = csrf_of((await client.get("/dashboard/gpus")).text)
        for count in ("many", "17"):
            data = {"count": count, "csrf_token": token}
            await refused_naming(client, "/dashboard/gpus/reserve", data, "count")
        reserved = await client.post(
            "/dashboard/gpus/reserve",
            data={"count": "2", "provider": "local", "csrf_token": token},
        )
        assert reserved.status_code == 201, reserved.text
        assert "reserved 2 of 2 GPU(s)" in reserved.text
        assert reserved.text.count("<tr data-instance-id=") == 2
        api = await client.get("/api/v1/gpu/instances/mine", headers=user.headers)
        assert api.json()["total_count"] == 2
