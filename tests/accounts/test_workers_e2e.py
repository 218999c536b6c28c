"""The real daemon with two Granian worker processes sharing Redis: a key revoked by the
admin CLI (a third process) and a logout on one worker are refused by every worker within
a second. Each request opens a new connection so both workers keep serving."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from tests.helpers import TEST_JWT_SECRET, free_port

from gpuproxy.accounts.invalidation import CHANNEL

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery"


def _cli(env: dict[str, str], *argv: str) -> str:
    result = subprocess.run(
        [str(BIN / "aiserve-gpuproxy-admin"), *argv],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def _statuses(url: str, headers: dict[str, str], n: int) -> list[int]:
    # httpx.get opens a fresh connection each time: the kernel spreads them over workers.
    return [httpx.get(url, headers=headers, timeout=5).status_code for _ in range(n)]


def _refused_everywhere_within(url: str, headers: dict[str, str], since: float) -> None:
    """Every request that starts 1 s or more after `since` is refused (checked until 20
    in a row are refused; slow requests on a loaded machine do not count against it)."""
    in_a_row = 0
    while in_a_row < 20:
        started = time.monotonic()
        status = httpx.get(url, headers=headers, timeout=5).status_code
        if status == 401:
            in_a_row += 1
            continue
        assert status == 200
        assert started - since < 1.0, "a worker still accepts the credential after 1 s"
        in_a_row = 0


def test_revocations_reach_every_worker(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "PORT": str(port),
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "BOOTSTRAP_ADMIN": "false",
        "REDIS_URL": redis_url,
        "SESSION_MODE": "redis",
        "RATE_LIMIT_PER_MINUTE": "0",
        "LOG_FILE": str(tmp_path / "server.log"),
    }
    _cli(env, "migrate")  # before the workers start, so they do not race on it
    _cli(env, "create-user", "e2e@example.com", PASSWORD, "E2E")
    key = json.loads(_cli(env, "create-apikey", "e2e@example.com", "e2e", "--json"))
    proc = subprocess.Popen(
        [str(BIN / "aiserve-gpuproxyd"), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    me = f"{base}/api/v1/auth/me"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "server exited early"
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready in 30 s"
            time.sleep(0.2)

        # Both workers listen on the invalidation channel (other test runs may add more).
        client = redis.Redis.from_url(redis_url)
        try:
            subscribers = dict(client.pubsub_numsub(CHANNEL))[CHANNEL.encode()]
        finally:
            client.close()
        assert subscribers >= 2

        key_headers = {"X-API-Key": key["key"]}
        assert _statuses(me, key_headers, 30) == [200] * 30  # cached by both workers
        _cli(env, "revoke-apikey", key["id"])
        _refused_everywhere_within(me, key_headers, time.monotonic())

        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"email": "e2e@example.com", "password": PASSWORD},
            timeout=5,
        )
        assert login.status_code == 200
        token_headers = {"Authorization": f"Bearer {login.json()['token']}"}
        assert _statuses(me, token_headers, 30) == [200] * 30
        out = httpx.post(f"{base}/api/v1/auth/logout", headers=token_headers, timeout=5)
        assert out.status_code == 200
        _refused_everywhere_within(me, token_headers, time.monotonic())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert b"Traceback" not in stderr, stderr.decode()
