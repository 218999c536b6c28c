"""The vast.ai client against the fake vast.ai server (real paths, verbs, units)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.fakes.vastai import FakeVastAi

from gpuproxy.providers._http import RetryPolicy
from gpuproxy.providers.errors import (
    InstanceStartFailed,
    InvalidRequest,
    ProviderAuthError,
    ProviderNotFound,
    ProviderRateLimited,
)
from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.vastai import VAST_GPU_NAMES, VastAiProvider, build_search_query

FAST_RETRY = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)


@pytest.fixture
async def fake_vast() -> AsyncIterator[FakeVastAi]:
    async with FakeVastAi() as fake:
        yield fake


@pytest.fixture
async def vast(fake_vast: FakeVastAi) -> AsyncIterator[VastAiProvider]:
    provider = VastAiProvider(
        fake_vast.api_key,
        fake_vast.base_url,
        retry=FAST_RETRY,
        poll_interval_s=0.02,
        pacing_scale=0,  # pacing has its own tests (test_vastai_pacing.py)
    )
    yield provider
    await provider.aclose()


def test_search_query_translates_filters_into_vast_units() -> None:
    filters = OfferFilters(
        min_vram_gb=24,
        max_price_per_hour=1_500_000,
        gpu_model="4090",
        min_gpus=1,
        max_gpus=2,
        location="us",
        min_reliability=0.99,
        limit=10,
    )
    query = build_search_query(filters, min_reliability=0.95)
    assert query["gpu_ram"] == {"gte": 24000}  # GB * 1000, as vast's CLI sends
    assert query["dph_total"] == {"lte": 1.5}  # dollars per hour
    assert query["gpu_name"] == {"in": ["RTX 4090", "RTX 4090D"]}
    assert query["num_gpus"] == {"gte": 1, "lte": 2}
    assert query["geolocation"] == {"in": ["US"]}
    assert query["reliability"] == {"gte": 0.99}  # the stricter of floor and filter
    assert query["verified"] == {"eq": True}
    assert query["rented"] == {"eq": False}
    assert query["rentable"] == {"eq": True}
    assert query["order"] == [["dph_total", "asc"]]
    assert query["type"] == "on-demand"
    assert query["limit"] == 40  # location is also matched on our side, so ask for more


async def test_list_offers_filters_and_normalises(vast: VastAiProvider) -> None:
    offers = await vast.list_offers(OfferFilters(min_vram_gb=24, gpu_model="4090"))
    # 108 is unverified (default filter), 107 is below the 0.9 reliability floor.
    assert [o.id for o in offers] == ["101", "102"]
    first = offers[0]
    assert first.provider == "vast.ai"
    assert first.gpu_model == "RTX 4090"
    assert first.vram_gb == 24  # 24564 MB
    assert first.price_per_hour == 401_333  # 0.401333 $/h in micro-dollars
    assert offers[1].price_per_hour == 780_000
    assert offers[1].price_per_gpu_hour == 390_000
    assert first.reliability == pytest.approx(0.995)
    assert first.inet_down_mbps == pytest.approx(850.5)
    assert first.cuda_version == "12.4"
    assert first.location == "Texas, US"
    assert first.metadata["machine_id"] == "1101"


async def test_search_request_is_a_post_with_bearer_auth(
    vast: VastAiProvider, fake_vast: FakeVastAi
) -> None:
    await vast.list_offers(OfferFilters(max_price_per_hour=500_000))
    request = fake_vast.requests[-1]
    assert (request.method, request.path) == ("POST", "/api/v0/bundles/")
    assert request.headers["authorization"] == f"Bearer {fake_vast.api_key}"
    assert fake_vast.api_key not in request.raw_query
    assert request.json()["dph_total"] == {"lte": 0.5}


async def test_max_price_and_location_filters(vast: VastAiProvider) -> None:
    cheap = await vast.list_offers(OfferFilters(max_price_per_hour=450_000))
    assert {o.id for o in cheap} == {"101", "105"}
    canada = await vast.list_offers(OfferFilters(location="CA"))
    assert {o.id for o in canada} == {"102", "106"}
    ordered = await vast.list_offers(OfferFilters(order="vram", limit=2))
    assert [o.gpu_model for o in ordered] == ["A100 SXM4", "H100 SXM"]


async def test_rent_show_list_destroy(vast: VastAiProvider, fake_vast: FakeVastAi) -> None:
    config = RentConfig(
        image="vllm/vllm-openai:latest",
        env={"MODEL": "llama"},
        ports=[8000],
        disk_gb=40,
        onstart="vllm serve $MODEL --port 8000",
        label="t1",
        worker_token="tok-" + "x" * 20,
    )
    [listed] = [o for o in await vast.list_offers() if o.id == "101"]
    created = await vast.create("101", config)
    assert created.status == "starting"
    put = next(r for r in fake_vast.requests if r.method == "PUT")
    assert put.path == "/api/v0/asks/101/"
    body = put.json()
    assert body["client_id"] == "me"
    assert body["image"] == "vllm/vllm-openai:latest"
    assert body["disk"] == 40
    assert body["label"] == "t1"
    assert body["runtype"] == "ssh_direct"
    assert body["env"]["-p 8000:8000"] == "1"
    assert body["env"]["GPUPROXY_WORKER_TOKEN"] == config.worker_token
    assert body["onstart"] == config.onstart

    running = await vast.wait_running(created.id, timeout_s=5)
    assert running.status == "running"
    assert running.endpoint == "http://203.0.113.7:40000"
    # Billed for the 40 GB rented (24 GB more than listed at 0.09 $/GB/month over 720 h),
    # and that is what the quote for this rent said.
    assert running.price_per_hour == 401_333 + 3_000
    assert vast.quote(listed, config).price_per_hour == running.price_per_hour
    assert running.gpu_model == "RTX 4090"
    show = [r for r in fake_vast.requests if r.path == f"/api/v0/instances/{created.id}/"]
    assert show
    assert show[-1].arg("owner") == "me"

    listed = await vast.list_instances()
    assert [i.id for i in listed] == [created.id]
    await vast.destroy(created.id)
    assert fake_vast.destroyed == [int(created.id)]
    with pytest.raises(ProviderNotFound):
        await vast.get(created.id)
    with pytest.raises(ProviderNotFound):  # 404 {"error": "no_such_instance"}
        await vast.destroy(created.id)


async def test_list_instances_follows_next_token(
    vast: VastAiProvider, fake_vast: FakeVastAi
) -> None:
    fake_vast.offers.update(
        {i: {**fake_vast.offers[101], "id": i, "rented": False} for i in range(200, 260)}
    )
    ids = []
    for offer_id in range(200, 260):
        ids.append((await vast.create(str(offer_id), RentConfig(image="ubuntu:22.04"))).id)
    listed = await vast.list_instances()
    assert [i.id for i in listed] == ids  # 60 instances over 3 pages of 25
    pages = [r for r in fake_vast.requests if r.path == "/api/v1/instances/"]
    assert len(pages) == 3
    assert pages[0].arg("after_token") is None
    assert pages[1].arg("after_token")
    assert pages[0].arg("limit") == "25"


async def test_429_without_retry_after_is_retried(
    vast: VastAiProvider, fake_vast: FakeVastAi
) -> None:
    fake_vast.rate_limit(2, "/api/v0/bundles/")  # plain-text bodies
    assert await vast.list_offers(OfferFilters(limit=1))
    fake_vast.rate_limit(3, "/api/v0/bundles/", json_body=True)
    assert await vast.list_offers(OfferFilters(limit=1))
    searches = [r for r in fake_vast.requests if r.path == "/api/v0/bundles/"]
    assert len(searches) == 2 + 1 + 3 + 1


async def test_429_backoff_is_bounded(fake_vast: FakeVastAi) -> None:
    provider = VastAiProvider(
        fake_vast.api_key,
        fake_vast.base_url,
        retry=RetryPolicy(3, base_s=0.01, max_s=0.02),
        pacing_scale=0,
    )
    fake_vast.rate_limit(10, "/api/v0/bundles/")
    with pytest.raises(ProviderRateLimited):
        await provider.list_offers()
    assert len(fake_vast.requests) == 3
    await provider.aclose()


async def test_rent_that_fails_to_start_is_destroyed(
    vast: VastAiProvider, fake_vast: FakeVastAi
) -> None:
    for offer_id, mode in ((103, "exited"), (105, "created_error"), (106, "offline")):
        fake_vast.offers[offer_id]["fail_mode"] = mode
        with pytest.raises(InstanceStartFailed) as failure:
            await vast.create(str(offer_id), RentConfig(image="bad/image", start_timeout_s=5))
        assert not fake_vast.instances, mode  # destroyed, not left billing
        assert int(failure.value.instance_id) in fake_vast.destroyed
    assert "pull access denied" in str(failure.value) or "offline" in str(failure.value)


async def test_rent_that_does_not_start_in_time_is_destroyed(fake_vast: FakeVastAi) -> None:
    fake_vast.boot_s = 30
    provider = VastAiProvider(
        fake_vast.api_key,
        fake_vast.base_url,
        retry=FAST_RETRY,
        poll_interval_s=0.02,
        pacing_scale=0,
    )
    with pytest.raises(InstanceStartFailed, match="not running after"):
        await provider.create("101", RentConfig(image="ubuntu:22.04", start_timeout_s=0.2))
    assert not fake_vast.instances
    await provider.aclose()


async def test_error_mapping(fake_vast: FakeVastAi, vast: VastAiProvider) -> None:
    wrong = VastAiProvider("wrong-key", fake_vast.base_url, retry=FAST_RETRY)
    with pytest.raises(ProviderAuthError):
        await wrong.list_offers()
    await wrong.aclose()
    missing = VastAiProvider("", fake_vast.base_url)
    with pytest.raises(ProviderAuthError, match="VASTAI_API_KEY"):
        await missing.list_offers()
    await missing.aclose()
    with pytest.raises(ProviderNotFound):  # 404 no_such_ask
        await vast.create("999", RentConfig(image="ubuntu:22.04"))
    with pytest.raises(InvalidRequest) as bad:
        await vast.create("101", RentConfig())
    assert bad.value.field == "image"
    with pytest.raises(InvalidRequest):
        await vast.create("abc", RentConfig(image="ubuntu:22.04"))
    with pytest.raises(ProviderNotFound):
        await vast.get("123")


async def test_unreachable_provider_is_unavailable() -> None:
    from gpuproxy.providers.errors import ProviderUnavailable

    provider = VastAiProvider("k", "http://127.0.0.1:9", retry=RetryPolicy(2, 0.01, 0.01))
    with pytest.raises(ProviderUnavailable):
        await provider.list_offers()
    await provider.aclose()


async def test_search_prices_the_default_disk_and_asks_for_open_ports(
    vast: VastAiProvider, fake_vast: FakeVastAi
) -> None:
    fake_vast.offers[105]["direct_port_count"] = 0  # a host whose router has no open port
    offers = await vast.list_offers()
    query = fake_vast.requests[-1].json()
    assert query["allocated_storage"] == RentConfig().disk_gb == 16
    assert query["direct_port_count"] == {"gte": 1}
    assert "105" not in {o.id for o in offers}  # it could never publish an endpoint
    first = next(o for o in offers if o.id == "101")
    assert first.metadata["disk_gb"] == "16"
    assert first.metadata["storage_cost"] == "0.09"
    assert first.metadata["direct_port_count"] == "20"


async def test_disk_below_the_vast_minimum_is_refused_before_renting(
    vast: VastAiProvider, fake_vast: FakeVastAi
) -> None:
    with pytest.raises(InvalidRequest) as bad:
        await vast.create("101", RentConfig(image="ubuntu:22.04", disk_gb=4))
    assert bad.value.field == "disk"
    assert not [r for r in fake_vast.requests if r.method == "PUT"]
    assert (await vast.create("101", RentConfig(image="ubuntu:22.04", disk_gb=8))).id


async def test_fake_refuses_a_disk_below_eight_gb_as_vast_does(fake_vast: FakeVastAi) -> None:
    headers = {"Authorization": f"Bearer {fake_vast.api_key}"}
    async with httpx.AsyncClient(base_url=fake_vast.base_url, headers=headers) as http:
        answer = await http.put(
            "/api/v0/asks/101/", json={"client_id": "me", "image": "ubuntu", "disk": 4}
        )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_args"
    assert "at least 8 GB" in answer.json()["msg"]
    assert not fake_vast.instances


@pytest.mark.parametrize(
    ("actual", "intended", "status"),
    [
        ("frozen", "frozen", "stopped"),  # paused with memory kept: billed, not serving
        ("rebooting", "running", "starting"),  # restarting: it comes back by itself
        ("stopped", "stopped", "stopped"),
        ("exited", "running", "failed"),
        ("offline", "running", "unknown"),
    ],
)
async def test_documented_instance_states(
    vast: VastAiProvider, fake_vast: FakeVastAi, actual: str, intended: str, status: str
) -> None:
    created = await vast.create("101", RentConfig(image="ubuntu:22.04"))
    fake_vast.set_status(created.id, actual, intended)
    instance = await vast.get(created.id)
    assert instance.status == status
    assert instance.metadata["actual_status"] == actual


async def test_a_rebooting_instance_is_waited_for_not_destroyed(
    vast: VastAiProvider, fake_vast: FakeVastAi
) -> None:
    created = await vast.create("101", RentConfig(image="ubuntu:22.04"))
    fake_vast.set_status(created.id, "rebooting")
    with pytest.raises(InstanceStartFailed, match="not running after"):
        await vast.wait_running(created.id, timeout_s=0.1)  # waited the whole time
    assert fake_vast.destroyed == [int(created.id)]  # and only then cleaned up


async def test_gpu_model_filter_uses_the_live_gpu_names(
    vast: VastAiProvider, fake_vast: FakeVastAi
) -> None:
    newcomer = {**fake_vast.offers[101], "id": 150, "gpu_name": "RTX 5060 Ti"}
    fake_vast.offers[150] = newcomer  # a card the built-in list does not know
    offers = await vast.list_offers(OfferFilters(gpu_model="5060"))
    assert [o.id for o in offers] == ["150"]
    search = [r for r in fake_vast.requests if r.path == "/api/v0/bundles/"][-1]
    assert search.json()["gpu_name"] == {"in": ["RTX 5060 Ti"]}
    assert search.json()["limit"] == 100  # matched by vast, not over-fetched for our side
    await vast.list_offers(OfferFilters(gpu_model="4090"))
    names = [r for r in fake_vast.requests if r.path == "/api/v0/gpu_names/unique/"]
    assert len(names) == 1  # cached


async def test_gpu_names_fall_back_to_the_built_in_list(fake_vast: FakeVastAi) -> None:
    fake_vast.gpu_names = []  # an empty (or failing) answer
    provider = VastAiProvider(fake_vast.api_key, fake_vast.base_url, pacing_scale=0)
    assert await provider.gpu_names() == VAST_GPU_NAMES
    offers = await provider.list_offers(OfferFilters(gpu_model="4090"))
    assert [o.id for o in offers] == ["101", "102"]
    await provider.aclose()
