"""vast.ai pacing: the limits it publishes, the fake enforcing them with vast's answers, and
the client keeping to them (so it is never refused, and waits properly when it is)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.fakes.vastai import FakeVastAi
from tests.fakes.vastai_contract import RATE_LIMITS

from gpuproxy.config import load_settings
from gpuproxy.providers._http import RetryPolicy
from gpuproxy.providers.pacing import PaceRule
from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.vastai import (
    PACING_MARGIN,
    VAST_PACING,
    VAST_RATE_LIMITS,
    VastAiProvider,
)

#: Every duration of vast's limits times this, in the fake and in the client alike.
SCALE = 0.1


def test_client_keeps_to_the_published_limits() -> None:
    assert set(VAST_RATE_LIMITS) == set(RATE_LIMITS)
    for name, published in RATE_LIMITS.items():
        rule = VAST_RATE_LIMITS[name]
        assert rule == PaceRule(
            min_interval_s=published.min_interval_s,
            max_calls=published.window[0],
            period_s=published.window[1],
            penalty_s=published.penalty_s,
        ), name
        assert VAST_PACING[name] == rule.scaled(1 + PACING_MARGIN)
    # The documented numbers themselves (vast-ai/docs openapi x-rate-limit).
    assert VAST_RATE_LIMITS["list"].min_interval_s == 1.0
    assert VAST_RATE_LIMITS["show"].min_interval_s == 2.0
    assert VAST_RATE_LIMITS["create"] == PaceRule(min_interval_s=4.5, penalty_s=12.0)
    assert VAST_RATE_LIMITS["search"] == PaceRule(max_calls=10, period_s=60.0)
    # A provider built from default settings paces at exactly those rules.
    settings = load_settings(env={"VASTAI_API_KEY": "k"}, env_file=None)
    assert settings.vastai_pacing_scale == 1.0
    assert VastAiProvider("k").pacer.rules == dict(VAST_PACING)


async def test_fake_refuses_a_too_fast_client_as_vast_does() -> None:
    async with FakeVastAi(time_scale=1.0) as fake:
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as http:
            [iid] = fake.add_instances(1)
            show = f"/api/v0/instances/{iid}/?owner=me"
            assert (await http.get(show)).status_code == 200
            refused = await http.get(show)
            assert refused.status_code == 429
            assert refused.json() == {"detail": "API requests too frequent endpoint threshold=2.0"}
            assert "retry-after" not in refused.headers

            assert (await http.get("/api/v1/instances/")).status_code == 200
            listed = await http.get("/api/v1/instances/")
            assert listed.json() == {"detail": "API requests too frequent endpoint threshold=1.0"}

            assert (
                await http.request("DELETE", f"/api/v0/instances/{iid}/", json={})
            ).status_code == 200
            gone = await http.request("DELETE", f"/api/v0/instances/{iid}/", json={})
            assert gone.status_code == 429
            assert gone.json() == {
                "success": False,
                "error": "rate_limit_exceeded",
                "msg": "API requests too frequent endpoint threshold=3.0",
            }

            searches = [await http.post("/api/v0/bundles/", json={}) for _ in range(11)]
            assert [r.status_code for r in searches] == [200] * 10 + [429]
            assert searches[-1].text == "API requests too frequent"
            assert searches[-1].headers["content-type"].startswith("text/plain")

            other = {"Authorization": "Bearer someone-else"}  # limits are per identity
            assert (await http.get(show, headers=other)).status_code == 401
        assert fake.refusals == {"show": 1, "list": 1, "destroy": 1, "search": 1}


async def test_fake_adds_the_create_penalty() -> None:
    scale = 0.02  # create: 90 ms apart; a refusal holds the caller 240 ms
    async with FakeVastAi(time_scale=scale) as fake:
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        body = {"client_id": "me", "image": "ubuntu:22.04", "disk": 16}
        async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as http:
            assert (await http.put("/api/v0/asks/101/", json=body)).status_code == 200
            refused = await http.put("/api/v0/asks/102/", json=body)
            assert refused.json() == {"detail": "API requests too frequent endpoint threshold=4.5"}
            time.sleep(4.5 * scale * 1.5)  # past the interval, not past the penalty
            assert (await http.put("/api/v0/asks/102/", json=body)).status_code == 429
            time.sleep(12 * scale * 1.2)
            assert (await http.put("/api/v0/asks/102/", json=body)).status_code == 200


@pytest.fixture
async def paced() -> AsyncIterator[tuple[FakeVastAi, VastAiProvider]]:
    async with FakeVastAi(time_scale=SCALE, boot_s=0.05) as fake:
        provider = VastAiProvider(
            fake.api_key, fake.base_url, pacing_scale=SCALE, poll_interval_s=0.01
        )
        yield fake, provider
        await provider.aclose()


async def test_a_paced_client_is_never_refused(
    paced: tuple[FakeVastAi, VastAiProvider],
) -> None:
    fake, vast = paced
    fake.add_instances(55)  # three pages of instances
    listed = await vast.list_instances()
    assert len(listed) == 55
    config = RentConfig(image="ubuntu:22.04", start_timeout_s=5)
    first = await vast.create("103", config)  # create, then show until running
    second = await vast.create("104", config)
    for _ in range(3):
        await vast.get(first.id)
    await vast.destroy(first.id)
    await vast.destroy(second.id)
    for _ in range(3):
        await vast.list_offers(OfferFilters(limit=5))
    assert fake.refusals == {}  # no 429 at all
    assert len([r for r in fake.requests if r.path == "/api/v1/instances/"]) == 3


async def test_a_refused_rent_waits_out_the_penalty_before_retrying(
    paced: tuple[FakeVastAi, VastAiProvider],
) -> None:
    fake, vast = paced
    vast._api.retry = RetryPolicy(attempts=3, base_s=0.001, max_s=0.002)
    fake.rate_limit(1, "/api/v0/asks/")  # refused as if another client of ours went first
    started = time.monotonic()
    await vast.create("101", RentConfig(image="ubuntu:22.04"))
    waited = time.monotonic() - started
    assert waited >= 12 * SCALE  # the penalty, not the 1-2 ms retry backoff
    assert len([r for r in fake.requests if r.method == "PUT"]) == 2
