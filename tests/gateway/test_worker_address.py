"""Workers register only where their instance runs (or on public / trusted networks), and
what was checked is pinned: no SSRF through worker registration."""

from __future__ import annotations

import pytest

from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.ssrf import TargetPolicy, own_endpoints
from gpuproxy.gateway.worker_address import WorkerAddressPolicy, connect_address
from gpuproxy.gateway.workers import RegistrationError, WorkerRegistry
from gpuproxy.worker.protocol import RegisterMsg


class Dns:
    """A resolver whose answers the test changes (DNS rebinding)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {"gpu.example": ["93.184.216.34"]}

    async def __call__(self, host: str, port: int) -> list[str]:
        if host not in self.answers:
            raise OSError("no such host")
        return self.answers[host]


@pytest.fixture
def dns() -> Dns:
    return Dns()


def _registry(
    dns: Dns, endpoints: dict[str, str], networks: tuple[str, ...] = ()
) -> WorkerRegistry:
    async def endpoint(instance_id: str) -> str | None:
        return endpoints.get(instance_id)

    policy = WorkerAddressPolicy(
        allowed_networks=networks, instance_endpoint=endpoint, resolver=dns
    )
    return WorkerRegistry(address_policy=policy)


async def _register(registry: WorkerRegistry, token: str, address: str) -> None:
    await registry.register(RegisterMsg(address=address, token=token, models=["m"]))


async def _refusal(registry: WorkerRegistry, token: str, address: str) -> str:
    with pytest.raises(RegistrationError) as refused:
        await _register(registry, token, address)
    return refused.value.code


async def test_an_instance_worker_registers_only_at_its_instance_address(dns: Dns) -> None:
    endpoints = {"inst-1": "http://93.184.216.34:40123"}
    registry = _registry(dns, endpoints)
    token = await registry.issue_token("alice", instance_id="inst-1")
    # Before the fix any http(s) address was accepted, loopback and metadata included.
    assert await _refusal(registry, token, "http://127.0.0.1:8080") == "address_mismatch"
    assert await _refusal(registry, token, "http://93.184.216.34:22") == "address_mismatch"
    assert await _refusal(registry, token, "http://169.254.169.254") == "address_forbidden"
    await _register(registry, token, "http://gpu.example:40123")  # resolves to the instance
    (worker,) = registry.workers()
    assert worker.pinned_ips == ["93.184.216.34"]


async def test_a_worker_retries_until_the_provider_reports_the_address(dns: Dns) -> None:
    endpoints: dict[str, str] = {}
    registry = _registry(dns, endpoints)
    token = await registry.issue_token("alice", instance_id="inst-2")
    assert await _refusal(registry, token, "http://93.184.216.34:9000") == "address_unverified"
    endpoints["inst-2"] = "http://93.184.216.34:9000"
    await _register(registry, token, "http://93.184.216.34:9000")  # the same token still works
    assert len(registry.workers()) == 1


async def test_operator_workers_need_public_or_trusted_addresses(dns: Dns) -> None:
    registry = _registry(dns, {})
    for address in ("http://127.0.0.1:8001", "http://10.1.2.3:8001", "http://[::1]:8001"):
        token = await registry.issue_token("bob")
        assert await _refusal(registry, token, address) == "address_forbidden"
    await _register(registry, await registry.issue_token("bob"), "http://gpu.example:8001")
    trusted = _registry(dns, {}, networks=("10.0.0.0/8", "0.0.0.0/0"))
    await _register(trusted, await trusted.issue_token("bob"), "http://10.1.2.3:8001")
    # Link-local (cloud metadata) is refused even inside a trusted network.
    token = await trusted.issue_token("bob")
    assert await _refusal(trusted, token, "http://169.254.169.254:80") == "address_forbidden"


async def test_a_resume_at_another_address_is_checked_again(dns: Dns) -> None:
    registry = _registry(dns, {})
    token = await registry.issue_token("bob")
    info, answer = await registry.register(
        RegisterMsg(address="http://gpu.example:8001", token=token, models=["m"])
    )
    registry.disconnect(info.worker_id)
    with pytest.raises(RegistrationError) as refused:
        await registry.register(
            RegisterMsg(
                address="http://127.0.0.1:8001",
                worker_id=info.worker_id,
                resume_token=answer.resume_token,
                models=["m"],
            )
        )
    assert refused.value.code == "address_forbidden"


async def test_a_dns_change_after_registration_does_not_move_the_worker(dns: Dns) -> None:
    registry = _registry(dns, {})
    await _register(registry, await registry.issue_token("carol"), "http://gpu.example:8001")
    (worker,) = registry.workers()
    targets = TargetPolicy(resolver=dns)
    own = own_endpoints([(worker.worker_id, worker.address, worker.pinned_ips)])
    target = await targets.check("http://gpu.example:8001/v1/models", own)
    assert (target.via, str(target.ip)) == ("worker", "93.184.216.34")
    dns.answers["gpu.example"] = ["10.0.0.5"]  # rebinding to an internal host
    with pytest.raises(GatewayError) as refused:
        await targets.check("http://gpu.example:8001/v1/models", own)
    assert refused.value.status == 403
    # The data plane connects to the pinned address, not to whatever the name says now.
    assert connect_address(worker.address, worker.pinned_ips) == "http://93.184.216.34:8001"
    assert connect_address("https://gpu.example:8443", ["93.184.216.34"]) == (
        "https://gpu.example:8443"
    )
