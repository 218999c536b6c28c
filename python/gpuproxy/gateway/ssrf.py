"""Target checks for the generic protocol proxy: no open SSRF relay.

A target is allowed when it is
- a registered worker of the caller, at the addresses checked and pinned when it registered
  (see `gpuproxy.gateway.worker_address`: the instance's own address, or public / operator
  trusted networks), private or loopback included, because that is where the caller's own
  GPUs are; or
- on the admin allowlist (GATEWAY_PROXY_ALLOWLIST: host names, `*.suffix` wildcards or
  CIDRs) and every address it resolves to is public (globally routable).

Link-local addresses (cloud metadata) are refused even for workers. Everything else is
refused, and so are private (RFC 1918, ULA), loopback,
link-local (which holds the cloud metadata endpoints 169.254.169.254 / fd00:ec2::254),
CGNAT (Alibaba's 100.100.100.200), multicast, reserved and unspecified addresses that do
not belong to a worker of the caller. IPv4 addresses hidden in IPv6 (mapped, NAT64, 6to4,
Teredo) are unwrapped first; odd IPv4 spellings (`127.1`, `0x7f000001`, `2130706433`)
resolve through getaddrinfo like any name, so they are checked as the address they mean.

DNS is resolved once, here, and the connection is made to the address that was checked
(the `ProxyTarget.ip`), so a name cannot pass the check and then rebind to a private
address for the actual request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from gpuproxy.gateway.errors import GatewayError

__all__ = [
    "IpAddress",
    "OwnEndpoint",
    "ProxyTarget",
    "Resolver",
    "TargetPolicy",
    "is_link_local",
    "is_public",
    "own_endpoints",
    "system_resolver",
]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (getaddrinfo on the loop's executor)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _unwrap(ip: IpAddress) -> IpAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return ip


def is_public(ip: IpAddress) -> bool:
    """Globally routable, after unwrapping IPv4-in-IPv6 forms."""
    inner = _unwrap(ip)
    if inner is not ip and not inner.is_global:
        return False
    return ip.is_global and inner.is_global and not inner.is_multicast


def is_link_local(ip: IpAddress) -> bool:
    """Link-local (where the cloud metadata services are), after unwrapping."""
    return _unwrap(ip).is_link_local


def _parse_ip(text: str) -> IpAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])


@dataclass(frozen=True, slots=True)
class ProxyTarget:
    scheme: str
    host: str
    port: int
    path_and_query: str
    #: The checked address the connection must go to (pinned: no second DNS lookup).
    ip: IpAddress
    #: "worker" (a registered worker of the caller) or "allowlist".
    via: str
    #: The worker's id when `via == "worker"`.
    worker_id: str | None = None

    @property
    def pinned_authority(self) -> str:
        host = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        return f"{host}:{self.port}"

    @property
    def host_header(self) -> str:
        default = _DEFAULT_PORTS.get(self.scheme)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class OwnEndpoint:
    """An address the caller owns (a registered worker's base URL) and the addresses that
    were checked for it at registration (empty: resolve the name now)."""

    worker_id: str
    host: str
    port: int
    pinned: frozenset[IpAddress] = frozenset()


class TargetPolicy:
    """Checks and resolves proxy targets (one instance per app)."""

    def __init__(self, allowlist: Sequence[str] = (), resolver: Resolver | None = None) -> None:
        self._resolver = resolver or system_resolver
        self._names: set[str] = set()
        self._suffixes: list[str] = []
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for raw in allowlist:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            if entry.startswith("*."):
                self._suffixes.append(entry[1:])
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._names.add(entry)

    def allowlisted(self, host: str, ips: Iterable[IpAddress]) -> bool:
        name = host.lower().rstrip(".")
        if name in self._names or any(name.endswith(s) for s in self._suffixes):
            return True
        addresses = list(ips)
        return (
            bool(self._networks)
            and bool(addresses)
            and all(any(ip in net for net in self._networks) for ip in addresses)
        )

    async def resolve(self, host: str, port: int) -> list[IpAddress]:
        """Every address of `host` (a literal is itself); GatewayError 400 when none."""
        try:
            literal = _parse_ip(host)
        except ValueError:
            literal = None
        if literal is not None:
            return [literal]
        try:
            found = await self._resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise GatewayError(
                400, f"target_url: cannot resolve {host!r}", param="target_url", code="dns_error"
            ) from exc
        ips: list[IpAddress] = []
        for text in found:
            try:
                ips.append(_parse_ip(text))
            except ValueError:
                continue
        if not ips:
            raise GatewayError(
                400, f"target_url: {host!r} has no address", param="target_url", code="dns_error"
            )
        return ips

    async def check(self, url: str, own: Iterable[OwnEndpoint]) -> ProxyTarget:
        """The target to connect to, or GatewayError 400 (malformed) / 403 (not allowed)."""
        scheme, host, port, path = _split(url)
        ips = await self.resolve(host, port)
        metadata = [ip for ip in ips if is_link_local(ip)]
        if metadata:
            # No worker legitimately lives at a link-local address, and that is where the
            # cloud metadata services are: refused even for a worker's self-reported address.
            raise GatewayError(
                403,
                f"target_url: {host} resolves to a link-local address ({metadata[0]})",
                param="target_url",
                code="target_forbidden",
            )
        owned = await self._owned(host, port, ips, own)
        if owned is not None:
            endpoint, ip = owned
            return ProxyTarget(scheme, host, port, path, ip, "worker", endpoint.worker_id)
        blocked = [ip for ip in ips if not is_public(ip)]
        if blocked:
            raise GatewayError(
                403,
                f"target_url: {host} resolves to a non-public address ({blocked[0]}); only "
                "your own registered workers may be reached at private, loopback or "
                "link-local addresses",
                param="target_url",
                code="target_forbidden",
            )
        if not self.allowlisted(host, ips):
            raise GatewayError(
                403,
                f"target_url: {host} is neither one of your workers nor on the proxy allowlist",
                param="target_url",
                code="target_forbidden",
            )
        return ProxyTarget(scheme, host, port, path, ips[0], "allowlist")

    async def _owned(
        self, host: str, port: int, ips: list[IpAddress], own: Iterable[OwnEndpoint]
    ) -> tuple[OwnEndpoint, IpAddress] | None:
        """The caller's endpoint this target is, when every resolved address is one the
        endpoint was checked at (a name resolving to both a worker and something else, or
        a worker's name that now resolves elsewhere, is not owned)."""
        for endpoint in own:
            if endpoint.port != port:
                continue
            endpoint_ips = endpoint.pinned
            if not endpoint_ips:
                try:
                    endpoint_ips = frozenset(await self.resolve(endpoint.host, endpoint.port))
                except GatewayError:
                    continue
            if all(ip in endpoint_ips for ip in ips):
                return endpoint, ips[0]
        return None


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise GatewayError(
            400, f"target_url: invalid URL ({exc})", param="target_url", code="invalid_url"
        ) from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise GatewayError(
            400, "target_url: scheme must be http or https", param="target_url", code="invalid_url"
        )
    if parts.username is not None or parts.password is not None:
        raise GatewayError(
            400,
            "target_url: credentials in the URL are not accepted (send a header)",
            param="target_url",
            code="invalid_url",
        )
    host = parts.hostname or ""
    if not host or "%" in host:
        raise GatewayError(
            400, "target_url: a host is required", param="target_url", code="invalid_url"
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or _DEFAULT_PORTS[scheme], path


def own_endpoints(addresses: Iterable[tuple[str, str, Sequence[str]]]) -> list[OwnEndpoint]:
    """(worker_id, base URL or host:port, pinned IPs) -> endpoints; unparsable ones are
    skipped."""
    result: list[OwnEndpoint] = []
    for worker_id, address, pinned in addresses:
        text = address if "://" in address else "http://" + address
        try:
            parts = urlsplit(text)
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 80)
        except ValueError:
            continue
        if parts.hostname:
            ips = frozenset(_parse_ip(ip) for ip in pinned)
            result.append(OwnEndpoint(worker_id, parts.hostname, port, ips))
    return result
