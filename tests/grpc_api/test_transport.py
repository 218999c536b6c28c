"""Transport-level parts with clients nobody here wrote: the standard grpc.health.v1 client,
server reflection (the descriptor database grpcurl-like tools use), sync stubs, TLS with a
self-signed certificate, and clear start-up errors for bad certificate files."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from tests.gateway.support import FAST_ENV, running_gateway
from tests.helpers import free_port

from gpuproxy.config import Settings
from gpuproxy.exceptions import ConfigError
from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api import gpuproxy_pb2_grpc
from gpuproxy.grpc_api.tls import load_tls

from .support import GrpcGateway


def self_signed(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_standard_health_service_reports_serving(grpc_gateway: GrpcGateway) -> None:
    health = health_pb2_grpc.HealthStub(grpc_gateway.channel)
    for service in ("", "gpuproxy.GPUProxyService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_and_sync_stubs(grpc_gateway: GrpcGateway) -> None:
    def with_sync_client() -> tuple[list[str], list[str], str]:
        # A blocking client in a thread: the server runs on this test's event loop.
        with grpc.insecure_channel(grpc_gateway.target) as channel:
            database = ProtoReflectionDescriptorDatabase(channel)
            services = list(database.get_services())
            described = database.FindFileContainingSymbol("gpuproxy.GPUProxyService")
            methods = [m.name for m in described.service[0].method]
            stub = gpuproxy_pb2_grpc.GPUProxyServiceStub(channel)
            status = stub.HealthCheck(pb.HealthCheckRequest(), timeout=5).status
            return services, methods, status

    services, methods, status = await asyncio.to_thread(with_sync_client)
    assert "gpuproxy.GPUProxyService" in services
    assert "grpc.health.v1.Health" in services
    assert "StreamProxyRequest" in methods
    assert len(methods) == 16
    assert status == "healthy"


@pytest.fixture
async def tls_gateway(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[tuple[str, bytes]]:
    cert, key = self_signed(tmp_path)
    port = free_port()
    settings = make_settings(**FAST_ENV, GRPC_TLS_CERT=str(cert), GRPC_TLS_KEY=str(key))
    async with running_gateway(msgspec.structs.replace(settings, grpc_port=port)):
        yield f"localhost:{port}", cert.read_bytes()


async def test_tls_with_a_self_signed_certificate(tls_gateway: tuple[str, bytes]) -> None:
    target, cert = tls_gateway
    credentials = grpc.ssl_channel_credentials(root_certificates=cert)
    async with grpc.aio.secure_channel(target, credentials) as channel:
        stub = gpuproxy_pb2_grpc.GPUProxyServiceStub(channel)
        answer = await stub.HealthCheck(pb.HealthCheckRequest(), timeout=5)
        assert answer.status == "healthy"
    async with grpc.aio.insecure_channel(target) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await gpuproxy_pb2_grpc.GPUProxyServiceStub(plain).HealthCheck(
                pb.HealthCheckRequest(), timeout=2
            )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_bad_certificate_files_are_clear_configuration_errors(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, "one")
    other_cert, _other_key = self_signed(tmp_path, "two")
    cases = {
        "cannot read": {"GRPC_TLS_CERT": str(tmp_path / "missing.crt"), "GRPC_TLS_KEY": str(key)},
        "does not match": {"GRPC_TLS_CERT": str(other_cert), "GRPC_TLS_KEY": str(key)},
        "not a PEM certificate": {"GRPC_TLS_CERT": str(key), "GRPC_TLS_KEY": str(key)},
        "go together": {"GRPC_TLS_CERT": str(cert)},
    }
    for expected, env in cases.items():
        with pytest.raises(ConfigError, match=expected):
            load_tls(make_settings(**env))
    assert load_tls(make_settings()) is None
    assert load_tls(make_settings(GRPC_TLS_CERT=str(cert), GRPC_TLS_KEY=str(key))) is not None


async def test_client_certificates_are_required_with_a_client_ca(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    client_cert, client_key = self_signed(tmp_path, "client")
    port = free_port()
    settings = make_settings(
        **FAST_ENV, GRPC_TLS_CERT=str(cert), GRPC_TLS_KEY=str(key),
        GRPC_TLS_CLIENT_CA=str(client_cert),
    )  # fmt: skip
    async with running_gateway(msgspec.structs.replace(settings, grpc_port=port)):
        target = f"localhost:{port}"
        anonymous = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(target, anonymous) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await gpuproxy_pb2_grpc.GPUProxyServiceStub(channel).HealthCheck(
                    pb.HealthCheckRequest(), timeout=3
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        presented = grpc.ssl_channel_credentials(
            root_certificates=cert.read_bytes(),
            private_key=client_key.read_bytes(),
            certificate_chain=client_cert.read_bytes(),
        )
        async with grpc.aio.secure_channel(target, presented) as channel:
            answer = await gpuproxy_pb2_grpc.GPUProxyServiceStub(channel).HealthCheck(
                pb.HealthCheckRequest(), timeout=5
            )
            assert answer.status == "healthy"
