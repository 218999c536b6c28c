"""Where a worker may register: the address of the instance it was issued for, and nothing
the gateway must never reach.

A registered worker's address becomes a target the caller may reach through the generic
protocol proxy (private and loopback included: that is where the caller's own GPUs are) and
a backend the data plane forwards to. So a worker may not register just anywhere:

- a token issued for an instance (every rent): the address must be the one the provider
  reports for that instance (the public IP and port of a marketplace host; the loopback port
  the local fleet spawned): same port, and every address the host resolves to is one of the
  instance's. While the provider reports no address yet the worker is told to retry.
- a token without an instance (a worker the operator runs): every address must be public,
  or inside WORKER_ALLOWED_NETWORKS (CIDRs the operator trusts, such as an on-premises
  GPU subnet).
- link-local addresses (cloud metadata at 169.254.169.254 / fd00:ec2::254) never.

The addresses checked here are pinned on the worker (`WorkerInfo.pinned_ips`): the data
plane and the protocol proxy connect to them, so a later DNS change cannot move a worker
onto an address that was never checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.ssrf import IpAddress, Resolver, TargetPolicy, is_link_local, is_public

__all__ = ["AddressRefused", "InstanceEndpoint", "WorkerAddressPolicy", "connect_address"]

#: instance (rental record) id -> the base URL its provider reports, or None when unknown yet
InstanceEndpoint = Callable[[str], Awaitable[str | None]]
_DEFAULT_PORTS = {"http": 80, "https": 443}


class AddressRefused(Exception):
    """`code`: address_forbidden / address_mismatch (final) or address_unverified (retry)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _split(address: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(address if "://" in address else "http://" + address)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused("address_forbidden", f"address: invalid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise AddressRefused("address_forbidden", "address must be an http(s) URL with a host")
    return scheme, parts.hostname, port or _DEFAULT_PORTS[scheme]


def connect_address(address: str, pinned_ips: Sequence[str]) -> str:
    """The URL to connect to: an http address with its host replaced by the pinned IP (no
    second DNS lookup); https keeps the name, which its certificate is checked against."""
    if not pinned_ips:
        return address
    scheme, _host, port = _split(address)
    if scheme != "http":
        return address
    ip = ipaddress.ip_address(pinned_ips[0])
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"http://{host}:{port}"


class WorkerAddressPolicy:
    def __init__(
        self,
        *,
        allowed_networks: Sequence[str] = (),
        instance_endpoint: InstanceEndpoint | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._networks = [ipaddress.ip_network(n.strip(), strict=False) for n in allowed_networks]
        self._instance_endpoint = instance_endpoint
        self._targets = TargetPolicy(resolver=resolver)

    async def _resolve(self, host: str, port: int) -> list[IpAddress]:
        try:
            return await self._targets.resolve(host, port)
        except GatewayError as exc:
            raise AddressRefused("address_unverified", f"address: {exc}") from exc

    async def verify(self, instance_id: str | None, address: str) -> list[str]:
        """The checked addresses to pin, or AddressRefused."""
        _scheme, host, port = _split(address)
        ips = await self._resolve(host, port)
        metadata = [ip for ip in ips if is_link_local(ip)]
        if metadata:
            raise AddressRefused(
                "address_forbidden", f"address: {host} is link-local ({metadata[0]})"
            )
        if instance_id is not None:
            await self._check_instance(instance_id, host, port, ips)
        else:
            refused = [ip for ip in ips if not is_public(ip) and not self._trusted(ip)]
            if refused:
                raise AddressRefused(
                    "address_forbidden",
                    f"address: {host} resolves to a non-public address ({refused[0]}) outside "
                    "WORKER_ALLOWED_NETWORKS",
                )
        return [str(ip) for ip in ips]

    def _trusted(self, ip: IpAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self._networks)

    async def _check_instance(
        self, instance_id: str, host: str, port: int, ips: list[IpAddress]
    ) -> None:
        endpoint = None
        if self._instance_endpoint is not None:
            endpoint = await self._instance_endpoint(instance_id)
        if not endpoint:
            raise AddressRefused(
                "address_unverified",
                f"the provider reports no address for instance {instance_id} yet; retry",
            )
        _scheme, expected_host, expected_port = _split(endpoint)
        expected = set(await self._resolve(expected_host, expected_port))
        if port != expected_port or not set(ips) <= expected:
            raise AddressRefused(
                "address_mismatch",
                f"address: {host}:{port} is not where instance {instance_id} runs "
                f"({expected_host}:{expected_port})",
            )
