"""The io.net client against the fake IO Cloud API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from tests.fakes.ionet import FakeIoNet

from gpuproxy.providers._http import RetryPolicy
from gpuproxy.providers.errors import (
    InstanceStartFailed,
    InvalidRequest,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderNotFound,
    ProviderRateLimited,
)
from gpuproxy.providers.ionet import IoNetProvider, parse_offer_id
from gpuproxy.providers.params import OfferFilters, RentConfig

FAST_RETRY = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)


@pytest.fixture
async def fake_ionet() -> AsyncIterator[FakeIoNet]:
    async with FakeIoNet() as fake:
        yield fake


@pytest.fixture
async def ionet(fake_ionet: FakeIoNet) -> AsyncIterator[IoNetProvider]:
    provider = IoNetProvider(
        fake_ionet.api_key, fake_ionet.base_url, retry=FAST_RETRY, poll_interval_s=0.02
    )
    yield provider
    await provider.aclose()


async def test_offers_are_normalised_per_gpu_and_per_instance(
    ionet: IoNetProvider, fake_ionet: FakeIoNet
) -> None:
    offers = await ionet.list_offers(OfferFilters(limit=100))
    by_id = {o.id: o for o in offers}
    assert "9~1~DE" not in by_id  # sold out
    pair = by_id["12~2~US"]
    assert pair.num_gpus == 2
    assert pair.vram_gb == 24
    assert pair.price_per_hour == 600_000
    assert pair.price_per_gpu_hour == 300_000
    b200 = by_id["B200_sxm6x8~8~AU"]
    assert b200.price_per_hour == 39_920_000
    assert b200.price_per_gpu_hour == 4_990_000
    assert b200.metadata["supplier"] == "external"
    assert [o.price_per_hour for o in offers] == sorted(o.price_per_hour for o in offers)
    request = fake_ionet.requests[-1]
    assert request.path == "/enterprise/v1/io-cloud/vmaas/hardware"
    assert request.headers["x-api-key"] == fake_ionet.api_key


async def test_filters_are_sent_and_applied(ionet: IoNetProvider, fake_ionet: FakeIoNet) -> None:
    offers = await ionet.list_offers(
        OfferFilters(gpu_model="4090", min_vram_gb=24, max_price_per_hour=400_000)
    )
    assert [o.id for o in offers] == ["12~1~US"]
    request = fake_ionet.requests[-1]
    assert request.arg("gpu") == "4090"
    assert request.arg("gpu_memory_min") == "24"
    assert [o.id for o in await ionet.list_offers(OfferFilters(location="ca"))] == ["7~1~CA"]


async def test_vm_deploy_show_list_destroy(ionet: IoNetProvider, fake_ionet: FakeIoNet) -> None:
    created = await ionet.create("12~2~US", RentConfig(ports=[8000], duration_hours=3))
    assert created.status == "starting"
    assert created.price_per_hour == 600_000
    deploy = next(r for r in fake_ionet.requests if r.method == "POST")
    assert deploy.path == "/enterprise/v1/io-cloud/vmaas/deploy"
    body = deploy.json()
    assert body["hardware_id"] == 12
    assert body["gpus_per_vm"] == 2
    assert body["location_ids"] == ["US"]
    assert body["duration_hours"] == 3
    assert body["network_services"]["port-8000"]["port"] == 8000

    running = await ionet.wait_running(created.id, timeout_s=5)
    assert running.status == "running"
    assert running.endpoint == "http://198.51.100.4:30000"
    assert running.price_per_hour == 600_000
    assert running.price_per_gpu_hour == 300_000
    assert running.location == "US"
    assert running.num_gpus == 2

    listed = await ionet.list_instances()
    assert [i.id for i in listed] == [created.id]
    await ionet.destroy(created.id)
    assert fake_ionet.destroyed == [created.id]
    assert (await ionet.get(created.id)).status == "destroyed"
    with pytest.raises(ProviderNotFound):
        await ionet.destroy(created.id)


async def test_image_deploys_a_container(ionet: IoNetProvider, fake_ionet: FakeIoNet) -> None:
    config = RentConfig(
        image="vllm/vllm-openai:latest",
        env={"MODEL": "m"},
        ports=[8000],
        models=["m"],
        worker_token="t" * 24,
        proxy_url="https://proxy.example",
    )
    created = await ionet.create("7~1~CA", config)
    deploy = next(r for r in fake_ionet.requests if r.method == "POST")
    assert deploy.path == "/enterprise/v1/io-cloud/caas/deploy"
    container = deploy.json()["container_config"]
    assert container["image_url"] == "vllm/vllm-openai:latest"
    assert container["traffic_port"] == 8000
    assert container["env_variables"]["GPUPROXY_WORKER_TOKEN"] == "t" * 24
    assert container["env_variables"]["GPUPROXY_MODELS"] == "m"
    shown = await ionet.wait_running(created.id, timeout_s=5)
    assert shown.metadata["kind"] == "container"
    assert shown.price_per_hour == 1_190_000
    await ionet.destroy(created.id)
    assert fake_ionet.deployments[created.id]["destroyed"]


async def test_failed_deployment_is_destroyed(ionet: IoNetProvider, fake_ionet: FakeIoNet) -> None:
    fake_ionet.hardware[0]["fail"] = True
    with pytest.raises(InstanceStartFailed):
        await ionet.create("12~1~US", RentConfig(start_timeout_s=5))
    assert len(fake_ionet.destroyed) == 1


async def test_price_quote(ionet: IoNetProvider, fake_ionet: FakeIoNet) -> None:
    assert await ionet.price("12~2~US", duration_hours=5) == 3_000_000
    request = fake_ionet.requests[-1]
    assert json.loads(request.arg("location_ids") or "") == ["US"]
    assert request.arg("currency") == "usdc"
    assert request.arg("replica_count") == "1"


async def test_errors_and_bad_input(ionet: IoNetProvider, fake_ionet: FakeIoNet) -> None:
    with pytest.raises(InvalidRequest):
        parse_offer_id("nonsense")
    with pytest.raises(ProviderNotFound):
        await ionet.create("99~1~US", RentConfig())
    with pytest.raises(ProviderBadRequest, match="sold out"):
        await ionet.create("9~1~DE", RentConfig())
    with pytest.raises(InvalidRequest) as vm_env:
        await ionet.create("12~1~US", RentConfig(env={"A": "1"}))
    assert vm_env.value.field == "image"
    with pytest.raises(ProviderNotFound):
        await ionet.get("not-a-uuid")
    with pytest.raises(ProviderNotFound):
        await ionet.get("0b8f1a3e-1111-4b2c-9d3e-000000000000")
    wrong = IoNetProvider("wrong", fake_ionet.base_url, retry=RetryPolicy(2, 0.01, 0.01))
    with pytest.raises(ProviderAuthError):
        await wrong.list_offers()
    await wrong.aclose()
    bad_duration = await _expect_bad(ionet, fake_ionet)
    assert "duration_hours" in bad_duration


async def _expect_bad(ionet: IoNetProvider, fake: FakeIoNet) -> str:
    # A 422 with a detail list becomes a readable message naming the field.
    fake.hardware.append({**fake.hardware[0], "id": "x", "deploy_id": 77})
    api = ionet._api
    with pytest.raises(ProviderBadRequest) as err:
        await api.request(
            "POST",
            "/enterprise/v1/io-cloud/vmaas/deploy",
            json={
                "resource_private_name": "x",
                "duration_hours": 0,
                "gpus_per_vm": 1,
                "hardware_id": 77,
                "location_ids": ["US"],
            },
        )
    return str(err.value)


async def test_429_retried_then_bounded(fake_ionet: FakeIoNet) -> None:
    provider = IoNetProvider(
        fake_ionet.api_key, fake_ionet.base_url, retry=RetryPolicy(3, 0.01, 0.02)
    )
    fake_ionet.rate_limit(2, json_body=True)
    assert await provider.list_offers()
    fake_ionet.rate_limit(5)
    with pytest.raises(ProviderRateLimited):
        await provider.list_offers()
    await provider.aclose()


async def test_list_instances_pages(ionet: IoNetProvider, fake_ionet: FakeIoNet) -> None:
    fake_ionet.hardware[0]["sold_out"] = False
    ids = {(await ionet.create("12~1~US", RentConfig())).id for _ in range(105)}
    listed = await ionet.list_instances()
    assert {i.id for i in listed} == ids
    pages = [r for r in fake_ionet.requests if r.path.endswith("/vmaas/deployments")]
    assert [r.arg("page") for r in pages] == ["0", "1"]
