"""aiserve-gpuproxyd with GRPC_PORT, in a subprocess: the gRPC server runs in the daemon's
worker next to the HTTP port, its proxy RPCs reach the data plane, and a bad certificate
stops the start with one clear line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import msgspec
import pytest
from tests.helpers import TEST_JWT_SECRET, free_port

from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api import gpuproxy_pb2_grpc

pytestmark = pytest.mark.e2e

DAEMON = Path(sys.executable).parent / "aiserve-gpuproxyd"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "LOG_FILE": str(tmp_path / "server.log"),
        **extra,
    }


def test_daemon_serves_grpc_next_to_http(tmp_path: Path) -> None:
    port, grpc_port = free_port(), free_port()
    env = _env(tmp_path, PORT=str(port), GRPC_PORT=str(grpc_port))
    proc = subprocess.Popen(
        [str(DAEMON)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = gpuproxy_pb2_grpc.GPUProxyServiceStub(channel)
            assert stub.HealthCheck(pb.HealthCheckRequest(), timeout=5).status == "healthy"
            registered = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/auth/register",
                json={"email": "d@example.com", "password": "correct horse battery"},
                timeout=10,
            )
            assert registered.status_code == 201, registered.text
            login = stub.Login(
                pb.LoginRequest(email="d@example.com", password="correct horse battery"),
                timeout=10,
            )
            metadata = (("authorization", f"Bearer {login.token}"),)
            models = stub.ProxyRequest(
                pb.ProxyRequestMessage(target_url="/v1/models", method="GET"),
                metadata=metadata,
                timeout=10,
            )
            assert models.status_code == 200
            assert msgspec.json.decode(models.body)["object"] == "list"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    assert f"gRPC on 127.0.0.1:{grpc_port}".encode() in stderr


def test_unreadable_certificate_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        GRPC_PORT=str(free_port()),
        GRPC_TLS_CERT=str(tmp_path / "missing.crt"),
        GRPC_TLS_KEY=str(tmp_path / "missing.key"),
    )
    started = time.monotonic()
    result = subprocess.run(
        [str(DAEMON)], env=env, cwd=tmp_path, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert b"GRPC_TLS_CERT=" in result.stderr
    assert b"cannot read it" in result.stderr
    assert time.monotonic() - started < 30
