"""A running gateway with its gRPC port, and clients built from the generated stubs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import msgspec
from tests.gateway.support import GatewayServer, running_gateway
from tests.helpers import free_port

from gpuproxy.config import Settings
from gpuproxy.grpc_api import gpuproxy_pb2_grpc

__all__ = ["GrpcGateway", "bearer", "running_grpc_gateway"]


def bearer(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


@dataclass
class GrpcGateway:
    http: GatewayServer
    target: str
    channel: grpc.aio.Channel
    stub: gpuproxy_pb2_grpc.GPUProxyServiceStub


@contextlib.asynccontextmanager
async def running_grpc_gateway(settings: Settings) -> AsyncIterator[GrpcGateway]:
    port = free_port()
    async with running_gateway(msgspec.structs.replace(settings, grpc_port=port)) as http:
        target = f"127.0.0.1:{port}"
        async with grpc.aio.insecure_channel(target) as channel:
            yield GrpcGateway(http, target, channel, gpuproxy_pb2_grpc.GPUProxyServiceStub(channel))
