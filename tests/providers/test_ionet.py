"""The io.net client against the fake IO Cloud API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from tests.fakes._http import json_response
from tests.fakes.ionet import TEST_SSH_PUBLIC_KEY, FakeIoNet

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
from gpuproxy.providers.ownership import record_id_of
from gpuproxy.providers.params import OfferFilters, RentConfig

FAST_RETRY = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)


@pytest.fixture
async def fake_ionet() -> AsyncIterator[FakeIoNet]:
    async with FakeIoNet() as fake:
        yield fake


@pytest.fixture
async def ionet(fake_ionet: FakeIoNet) -> AsyncIterator[IoNetProvider]:
    provider = IoNetProvider(
        fake_ionet.api_key,
        fake_ionet.base_url,
        retry=FAST_RETRY,
        poll_interval_s=0.02,
        ssh_public_keys=[TEST_SSH_PUBLIC_KEY],
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
    assert body["ssh_keys"] == [TEST_SSH_PUBLIC_KEY]
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
    body = deploy.json()
    # The container inventory's own integer ids, not the VM list's deploy_id 7 or "CA".
    assert body["hardware_id"] == fake_ionet.caas.hardware_id("A100 SXM4") != 7
    assert body["location_ids"] == [2]
    assert body["registry_config"] == {"image_url": "vllm/vllm-openai:latest"}
    container = body["container_config"]
    assert "image_url" not in container
    assert "entrypoint" not in container  # none given: the image's own entrypoint runs
    assert container["replica_count"] == 1
    assert container["traffic_port"] == 8000
    assert container["env_variables"]["GPUPROXY_WORKER_TOKEN"] == "t" * 24
    assert container["env_variables"]["GPUPROXY_MODELS"] == "m"
    shown = await ionet.wait_running(created.id, timeout_s=5)
    assert shown.metadata["kind"] == "container"
    assert shown.price_per_hour == 1_190_000
    assert shown.location == "CA"
    # The address comes from the deployment's containers listing (workers[].public_url).
    assert shown.endpoint == f"https://{created.id[:8]}.containers.example"
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


# ---- issue 19: what the published API requires ------------------------------------


async def test_deployment_names_are_unique(ionet: IoNetProvider, fake_ionet: FakeIoNet) -> None:
    # io.net refuses a second deployment with a name in use; calls without a label must
    # not collide, and never look like a rental's ownership tag to the orphan reaper.
    first = await ionet.create("12~1~US", RentConfig())
    second = await ionet.create("12~1~US", RentConfig())
    names = [fake_ionet.deployments[i.id]["body"]["resource_private_name"] for i in (first, second)]
    assert names[0] != names[1]
    assert all(n.startswith("gpuproxy-direct-") and record_id_of(n) is None for n in names)
    with pytest.raises(ProviderBadRequest, match="already taken"):
        await ionet.create("12~2~US", RentConfig(label=names[0]))
    assert len(fake_ionet.deployments) == 2


async def test_vm_needs_the_operator_ssh_key(fake_ionet: FakeIoNet) -> None:
    provider = IoNetProvider(fake_ionet.api_key, fake_ionet.base_url, retry=FAST_RETRY)
    with pytest.raises(InvalidRequest, match="IONET_SSH_PUBLIC_KEY") as refused:
        await provider.create("12~1~US", RentConfig())
    assert refused.value.field == "image"
    assert not any(r.method == "POST" for r in fake_ionet.requests)  # nothing paid
    # A container needs no key.
    await provider.create("12~1~US", RentConfig(image="vllm/vllm-openai:latest"))
    await provider.aclose()


async def test_container_without_room_rents_nothing(
    ionet: IoNetProvider, fake_ionet: FakeIoNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_ionet.caas, "replicas", lambda hardware_id, qty: [])
    with pytest.raises(ProviderBadRequest, match="no room"):
        await ionet.create("7~1~CA", RentConfig(image="vllm/vllm-openai:latest"))
    hardware = fake_ionet.caas.max_gpus()
    hardware["data"]["hardware"] = [{"hardware_id": "x"}, "junk"]
    monkeypatch.setattr(fake_ionet.caas, "max_gpus", lambda: hardware)
    with pytest.raises(ProviderBadRequest, match="no containers"):
        await ionet.create("7~1~CA", RentConfig(image="vllm/vllm-openai:latest"))
    assert fake_ionet.deployments == {}


@pytest.mark.parametrize("answer", [{}, {"data": None}, {"status": "error"}, [], "accepted"])
async def test_container_endpoint_survives_odd_listings(
    ionet: IoNetProvider, fake_ionet: FakeIoNet, monkeypatch: pytest.MonkeyPatch, answer: object
) -> None:
    created = await ionet.create("7~1~CA", RentConfig(image="vllm/vllm-openai:latest"))
    monkeypatch.setattr(fake_ionet, "_containers", lambda deployment_id: json_response(answer))
    shown = await ionet.wait_running(created.id, timeout_s=5)
    assert shown.status == "running"
    assert shown.endpoint is None  # not routable yet; the poller asks again


@pytest.mark.parametrize(
    "answer", [{}, {"data": {"status": "deployment requested"}}, {"status": "error"}, [], "ok"]
)
@pytest.mark.parametrize("image", [None, "vllm/vllm-openai:latest"])
async def test_deploy_answer_without_id_is_found_by_name(
    ionet: IoNetProvider, fake_ionet: FakeIoNet, answer: object, image: str | None
) -> None:
    # The reference leaves the VM deploy answer undocumented: a paid deployment whose id
    # is missing from the answer is found by its unique name, not orphaned.
    fake_ionet.deploy_answer = answer
    created = await ionet.create("12~1~US", RentConfig(label="gpuproxy-" + "a" * 32, image=image))
    assert list(fake_ionet.deployments) == [created.id]
    assert created.label == "gpuproxy-" + "a" * 32
    assert (await ionet.get(created.id)).id == created.id


async def test_deploy_accepted_twice_keeps_one(ionet: IoNetProvider, fake_ionet: FakeIoNet) -> None:
    fake_ionet.unique_names = False
    fake_ionet.deploy_answer = {}
    label = "gpuproxy-" + "b" * 32
    fake_ionet.add_deployment(
        {"resource_private_name": label, "duration_hours": 1}, "vm", fake_ionet.hardware[0]
    )
    created = await ionet.create("12~1~US", RentConfig(label=label))
    live = [k for k, r in fake_ionet.deployments.items() if not r["destroyed"]]
    assert live == [created.id]
    assert len(fake_ionet.destroyed) == 1


async def test_deploy_answer_without_id_and_no_deployment_fails(
    ionet: IoNetProvider, fake_ionet: FakeIoNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ionet.deploy_answer = {}
    empty = json_response({"data": {"deployments": [], "total": 0}})
    monkeypatch.setattr(fake_ionet, "_list", lambda request, kind: empty)
    with pytest.raises(ProviderBadRequest, match="orphan reaper"):
        await ionet.create("12~1~US", RentConfig(label="gpuproxy-" + "c" * 32))
    lookups = [r for r in fake_ionet.requests if r.path.endswith("/vmaas/deployments")]
    assert len(lookups) == 3  # looked for it a few times before giving up
