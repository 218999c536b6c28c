"""The gRPC server of a daemon worker: started by the app's startup (STARTUP_HOOKS) when
GRPC_PORT is set, in the control plane's event loop, over the app's `Services`.

Serves `gpuproxy.GPUProxyService`, the standard `grpc.health.v1.Health` and server
reflection (grpcurl needs no .proto). Several workers share the port (SO_REUSEPORT, gRPC's
default on Linux), like the HTTP port.

Limits: a received message may be as large as the HTTP request body limit
(GATEWAY_MAX_REQUEST_BYTES) plus framing; a sent message at most `MAX_SEND_BYTES` (a
ProxyRequest answer larger than that fails RESOURCE_EXHAUSTED: use StreamProxyRequest).
Keepalive: the server pings an idle connection every 60 s and drops it when the ping is
not answered in 20 s; clients may ping every 10 s or slower, also without calls in flight
(faster pings are answered with GOAWAY "too_many_pings").
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gpuproxy.exceptions import ConfigError
from gpuproxy.grpc_api import gpuproxy_pb2, gpuproxy_pb2_grpc
from gpuproxy.grpc_api.health import HealthRpcs, watch_readiness
from gpuproxy.grpc_api.loopback import Loopback, loopback_url
from gpuproxy.grpc_api.rpc_accounts import AccountsRpcs
from gpuproxy.grpc_api.rpc_billing import BillingRpcs
from gpuproxy.grpc_api.rpc_gpu import GpuRpcs
from gpuproxy.grpc_api.rpc_proxy import ProxyRpcs
from gpuproxy.grpc_api.tls import load_tls, server_credentials
from gpuproxy.services import Services

__all__ = ["MAX_SEND_BYTES", "GPUProxyServicer", "GrpcServer", "start_grpc"]

log = logging.getLogger(__name__)

MAX_SEND_BYTES = 64 * 1024 * 1024
_FRAMING_BYTES = 64 * 1024
_SHUTDOWN_GRACE_S = 5.0


class GPUProxyServicer(
    AccountsRpcs,
    GpuRpcs,
    BillingRpcs,
    ProxyRpcs,
    HealthRpcs,
    gpuproxy_pb2_grpc.GPUProxyServiceServicer,
):
    """Every RPC of the service; each mixin is one area over its service."""


def _options(services: Services) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length",
         services.settings.gateway_max_request_bytes + _FRAMING_BYTES),
        ("grpc.max_send_message_length", MAX_SEND_BYTES),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
    ]  # fmt: skip


class GrpcServer:
    """The started server and what it owns (closed by `close`, a shutdown hook)."""

    def __init__(self, services: Services, host: str, port: int) -> None:
        self.services = services
        tls = load_tls(services.settings)
        self.server: Any = grpc.aio.server(options=_options(services))
        self.servicer = GPUProxyServicer(services)
        base = loopback_url()
        if base is not None:
            self.servicer.loopback = Loopback(base, max_body_bytes=MAX_SEND_BYTES - _FRAMING_BYTES)
        add_servicer = gpuproxy_pb2_grpc.add_GPUProxyServiceServicer_to_server
        add_servicer(self.servicer, self.server)  # type: ignore[no-untyped-call]
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (
                gpuproxy_pb2.DESCRIPTOR.services_by_name["GPUProxyService"].full_name,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self.server,
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if tls is None:
                bound = self.server.add_insecure_port(address)
            else:
                bound = self.server.add_secure_port(address, server_credentials(tls))
        except RuntimeError as exc:
            bound, reason = 0, str(exc)
        else:
            reason = "address in use or not available"
        if not bound:
            raise ConfigError(f"GRPC_PORT={port}: cannot listen on {address} ({reason})")
        self.port: int = bound
        self.tls = tls is not None

    async def start(self) -> None:
        await self.server.start()
        self.services.supervise("grpc-health", lambda: watch_readiness(self.services, self.health))
        log.info(
            "gRPC server listening on port %s (%s)",
            self.port,
            "TLS" if self.tls else "plaintext, no TLS",
        )

    async def close(self) -> None:
        # In-flight calls get the grace period; proxy streams still open then are
        # cancelled, which closes their HTTP requests (the data plane settles them).
        await self.server.stop(_SHUTDOWN_GRACE_S)
        if self.servicer.loopback is not None:
            await self.servicer.loopback.aclose()


async def start_grpc(services: Services) -> None:
    """STARTUP_HOOKS entry: serve gRPC on GRPC_PORT (0: not at all)."""
    settings = services.settings
    if not settings.grpc_port:
        return
    server = GrpcServer(services, settings.host, settings.grpc_port)
    await server.start()
    services.grpc = server
    services.shutdown_hooks.append(server.close)
