"""Start the real daemon in a subprocess and talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.helpers import TEST_JWT_SECRET, free_port

pytestmark = pytest.mark.e2e


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready in 30 s")


def _start_daemon(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "PORT": str(port),
        "JWT_SECRET": TEST_JWT_SECRET,
        "LOG_FILE": str(tmp_path / "server.log"),
    }
    daemon = Path(sys.executable).parent / "aiserve-gpuproxyd"
    proc = subprocess.Popen(
        [str(daemon)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    return proc, port


def test_daemon_serves_health_and_stops_cleanly(tmp_path: Path) -> None:
    proc, port = _start_daemon(tmp_path)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health", proc)
        response = httpx.get(
            f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": "e2e-1"}, timeout=5
        )
        assert response.json()["status"] == "ok"
        assert isinstance(response.json()["timestamp"], int)
        assert response.headers["x-request-id"] == "e2e-1"
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"] == "ok"
        schema = httpx.get(f"http://127.0.0.1:{port}/schema/openapi.json", timeout=5)
        assert "/health" in schema.json()["paths"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    assert (tmp_path / "data" / "gpuproxy.db").exists()


def test_bad_configuration_exits_2_naming_the_variable(tmp_path: Path) -> None:
    daemon = Path(sys.executable).parent / "aiserve-gpuproxyd"
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DB_TYPE": "oracle"}
    result = subprocess.run(
        [str(daemon)], env=env, cwd=tmp_path, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert b"DB_TYPE='oracle' is invalid" in result.stderr


def test_an_early_answer_to_an_upload_reaches_the_client(tmp_path: Path) -> None:
    """The control plane refuses an unauthenticated upload before reading its body; the
    client, still sending, must get that answer, not a connection reset (the data plane
    reads and discards the rest of the body instead of closing on unread data)."""
    proc, port = _start_daemon(tmp_path)
    total = 4 * 1024 * 1024
    chunk = b"\0" * 65536
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health", proc)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(
                b"POST /api/v1/models/upload HTTP/1.1\r\nHost: gpuproxy\r\n"
                b"Content-Type: application/octet-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % total
            )
            conn.sendall(chunk)
            time.sleep(0.5)  # the 401 is written while most of the body is still to come
            for _ in range(total // len(chunk) - 1):
                conn.sendall(chunk)
            answer = b""
            while b"\r\n\r\n" not in answer:
                data = conn.recv(65536)
                assert data, f"connection closed before the answer: {answer!r}"
                answer += data
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
