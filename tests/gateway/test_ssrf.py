"""SSRF protection of the generic proxy: private, loopback, link-local and metadata
addresses refused unless they are the caller's worker; DNS checked and pinned."""

from __future__ import annotations

import ipaddress

import pytest

from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.ssrf import OwnEndpoint, TargetPolicy, is_public, own_endpoints


class FakeDns:
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise OSError("no such host")
        return self.table[host]


def fake_dns(table: dict[str, list[str]]) -> FakeDns:
    return FakeDns(table)


DNS = {
    "api.example.com": ["93.184.216.34"],
    "sneaky.example.com": ["127.0.0.1"],
    "mixed.example.com": ["93.184.216.34", "10.0.0.5"],
    "metadata.example.com": ["169.254.169.254"],
    "gpu-1.internal": ["10.1.2.3"],
}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/v1/models",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://0.0.0.0/",
        "http://sneaky.example.com/",
        "http://mixed.example.com/",
        "http://metadata.example.com/",
    ],
)
async def test_non_public_targets_are_refused_even_when_allowlisted(url: str) -> None:
    policy = TargetPolicy(
        ["api.example.com", "*.example.com", "0.0.0.0/0", "::/0"], resolver=fake_dns(DNS)
    )
    with pytest.raises(GatewayError) as info:
        await policy.check(url, own=[])
    assert info.value.status == 403
    assert info.value.param == "target_url"


async def test_odd_ipv4_spellings_are_checked_as_the_address_they_mean() -> None:
    # The real resolver (getaddrinfo) turns these into 127.0.0.1.
    policy = TargetPolicy(["*"])
    for host in ["127.1", "2130706433", "0x7f000001", "localhost"]:
        with pytest.raises(GatewayError) as info:
            await policy.check(f"http://{host}:9/", own=[])
        assert info.value.status == 403, host


async def test_public_allowlisted_target_is_pinned_to_the_checked_address() -> None:
    resolver = fake_dns(DNS)
    policy = TargetPolicy(["api.example.com"], resolver=resolver)
    target = await policy.check("https://api.example.com/infer?x=1", own=[])
    assert target.via == "allowlist"
    assert target.ip == ipaddress.ip_address("93.184.216.34")
    assert target.pinned_authority == "93.184.216.34:443"
    assert target.host_header == "api.example.com"
    assert target.path_and_query == "/infer?x=1"
    assert resolver.calls == ["api.example.com"]


async def test_public_target_not_on_the_allowlist_is_refused() -> None:
    policy = TargetPolicy(["other.example.org"], resolver=fake_dns(DNS))
    with pytest.raises(GatewayError) as info:
        await policy.check("http://api.example.com/", own=[])
    assert info.value.status == 403
    assert "allowlist" in info.value.message


async def test_callers_own_worker_may_be_private_or_loopback() -> None:
    policy = TargetPolicy([], resolver=fake_dns(DNS))
    own = own_endpoints([("w1", "http://127.0.0.1:8001", ()), ("w2", "gpu-1.internal:9000", ())])
    target = await policy.check("http://127.0.0.1:8001/v1/models", own=own)
    assert (target.via, target.worker_id) == ("worker", "w1")
    by_ip = await policy.check("http://10.1.2.3:9000/health", own=own)
    assert by_ip.worker_id == "w2"
    # Same host, another port: not the worker.
    with pytest.raises(GatewayError):
        await policy.check("http://127.0.0.1:5432/", own=own)


async def test_another_users_worker_is_refused() -> None:
    policy = TargetPolicy([], resolver=fake_dns(DNS))
    mine = [OwnEndpoint("w1", "127.0.0.1", 8001)]
    with pytest.raises(GatewayError):
        await policy.check("http://127.0.0.1:8002/", own=mine)


async def test_metadata_address_is_refused_even_as_a_worker() -> None:
    policy = TargetPolicy([], resolver=fake_dns(DNS))
    own = [OwnEndpoint("evil", "169.254.169.254", 80)]
    with pytest.raises(GatewayError):
        await policy.check("http://169.254.169.254/latest/meta-data/", own=own)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://api.example.com/", "scheme"),
        ("http://user:pw@api.example.com/", "credentials"),
        ("http:///nohost", "host"),
        ("http://api.example.com:99999/", "invalid URL"),
        ("http://nx.example.com/", "cannot resolve"),
    ],
)
async def test_malformed_targets_are_400_naming_the_field(url: str, message: str) -> None:
    policy = TargetPolicy(["*.example.com"], resolver=fake_dns(DNS))
    with pytest.raises(GatewayError) as info:
        await policy.check(url, own=[])
    assert info.value.status == 400
    assert message in info.value.message
    assert info.value.message.startswith("target_url")


def test_is_public() -> None:
    assert is_public(ipaddress.ip_address("8.8.8.8"))
    assert is_public(ipaddress.ip_address("2606:4700::1111"))
    assert not is_public(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert not is_public(ipaddress.ip_address("224.0.0.1"))
