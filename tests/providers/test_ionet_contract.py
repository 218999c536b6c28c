"""The io.net contract: every endpoint the product calls is one the contract knows (with its
source), and the fake refuses what the published API refuses."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.fakes.ionet import TEST_SSH_PUBLIC_KEY, FakeIoNet
from tests.fakes.ionet_contract import CAAS, IONET, VM

from gpuproxy.providers._http import RetryPolicy
from gpuproxy.providers.ionet import IoNetProvider
from gpuproxy.providers.params import OfferFilters, RentConfig

#: Every (verb, path) the product calls; `{id}` is a deployment id.
PRODUCT_CALLS = {
    ("GET", f"{VM}/hardware"),
    ("GET", f"{VM}/price"),
    ("POST", f"{VM}/deploy"),
    ("GET", f"{VM}/deployments"),
    ("GET", f"{VM}/deployment/{{id}}"),
    ("GET", f"{VM}/deployment/{{id}}/vms"),
    ("DELETE", f"{VM}/deployment/{{id}}"),
    ("GET", f"{CAAS}/hardware/max-gpus-per-container"),
    ("GET", f"{CAAS}/available-replicas"),
    ("POST", f"{CAAS}/deploy"),
    ("GET", f"{CAAS}/deployments"),
    ("GET", f"{CAAS}/deployment/{{id}}"),
    ("GET", f"{CAAS}/deployment/{{id}}/containers"),
    ("DELETE", f"{CAAS}/deployment/{{id}}"),
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
async def fake() -> AsyncIterator[FakeIoNet]:
    async with FakeIoNet(boot_s=0.05) as server:
        yield server


def test_every_product_call_is_in_the_contract_with_a_source() -> None:
    sample = str(uuid.uuid4())
    for method, path in sorted(PRODUCT_CALLS):
        endpoint = IONET.endpoint(method, path.replace("{id}", sample))
        assert endpoint is not None, f"{method} {path} is not in the io.net contract"
        assert endpoint.source
        fields = [*endpoint.query, *(endpoint.body or ())]
        assert all(f.source for f in fields), f"{method} {path} has a field without a source"


async def test_the_product_calls_only_known_endpoints(fake: FakeIoNet) -> None:
    provider = IoNetProvider(
        fake.api_key,
        fake.base_url,
        retry=RetryPolicy(2, 0.01, 0.01),
        poll_interval_s=0.02,
        ssh_public_keys=[TEST_SSH_PUBLIC_KEY],
    )
    await provider.list_offers(OfferFilters(gpu_model="4090", min_vram_gb=24))
    await provider.price("12~2~US", duration_hours=2)
    vm = await provider.create("12~2~US", RentConfig(ports=[8000], start_timeout_s=5))
    container = await provider.create(
        "7~1~CA", RentConfig(image="vllm/vllm-openai:latest", args=["--port", "8000"])
    )
    await provider.wait_running(container.id, timeout_s=5)
    fake.deploy_answer = {}  # the undocumented answer: found by name
    await provider.create("12~1~US", RentConfig(image="vllm/vllm-openai:latest"))
    await provider.list_instances()
    for instance in (vm, container):
        await provider.destroy(instance.id)
    await provider.aclose()

    assert IONET.unknown(fake.requests) == []
    called = {(r.method, _UUID.sub("{id}", r.path)) for r in fake.requests}
    assert called <= PRODUCT_CALLS, called - PRODUCT_CALLS
    assert called == PRODUCT_CALLS  # this test exercises every call the product makes


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        # Containers take the inventory's integer ids, never country codes.
        (
            f"{CAAS}/deploy",
            {"location_ids": ["CA"]},
            ["body", "location_ids", "0"],
        ),
        # The image belongs in registry_config, which is required.
        (f"{CAAS}/deploy", {"registry_config": None}, ["body", "registry_config"]),
        (f"{CAAS}/deploy", {"registry_config": {}}, ["body", "registry_config", "image_url"]),
        (f"{VM}/deploy", {"ssh_keys": None}, ["body", "ssh_keys"]),
        (f"{VM}/deploy", {"ssh_keys": []}, ["body", "ssh_keys"]),
        (f"{VM}/deploy", {"surprise": 1}, ["body", "surprise"]),
    ],
)
async def test_the_fake_refuses_what_io_net_refuses(
    fake: FakeIoNet, path: str, body: dict[str, object], field: list[str]
) -> None:
    base = {
        "resource_private_name": "gpuproxy-contract",
        "duration_hours": 1,
        "hardware_id": 200,
        "location_ids": [1],
    }
    if path.startswith(CAAS):
        base |= {
            "gpus_per_container": 1,
            "container_config": {"replica_count": 1, "traffic_port": 8000},
            "registry_config": {"image_url": "vllm/vllm-openai:latest"},
        }
    else:
        base |= {"gpus_per_vm": 1, "ssh_keys": [TEST_SSH_PUBLIC_KEY], "location_ids": ["US"]}
    payload = {k: v for k, v in (base | body).items() if v is not None}
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        answer = await http.post(path, json=payload, headers={"x-api-key": fake.api_key})
    assert answer.status_code == 422
    assert field in [item["loc"] for item in answer.json()["detail"]]
    assert fake.deployments == {}
