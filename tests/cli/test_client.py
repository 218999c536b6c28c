"""aiserve-gpuproxy-client against a running server (the real daemon in a subprocess)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gpuproxy.cli.client import main

pytestmark = pytest.mark.e2e

_JWT_SECRET = "cli-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
_PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Server:
    url: str
    alice: str
    bob: str
    admin: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited early with {proc.returncode}"
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready in 30 s")


def _api_key(url: str, email: str, password: str, scopes: list[str] | None = None) -> str:
    login = httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    body: dict[str, object] = {"name": "cli tests", **({"scopes": scopes} if scopes else {})}
    created = httpx.post(
        f"{url}/api/v1/auth/apikey",
        json=body,
        headers={"Authorization": f"Bearer {login.json()['token']}"},
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["api_key"]
    return key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("cli-server")
    port = _free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(home / "data"),
        "PORT": str(port),
        "JWT_SECRET": _JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "RATE_LIMIT_PER_MINUTE": "0",
        "GPU_POLL_INTERVAL_SECONDS": "3600",
        "LOG_FILE": str(home / "server.log"),
        # Credits are enforced (the default): each account starts with $100.
        "NEW_USER_CREDIT_USD": "100",
    }
    daemon = Path(sys.executable).parent / "aiserve-gpuproxyd"
    proc = subprocess.Popen(
        [str(daemon)], env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        admin_password = (home / "data" / "admin_password").read_text().strip()
        admin = _api_key(
            url, "admin@gpucloud.local", admin_password, ["inference", "gpu", "billing", "admin"]
        )
        keys = []
        for name in ("alice", "bob"):
            email = f"{name}@example.com"
            registered = httpx.post(
                f"{url}/api/v1/auth/register", json={"email": email, "password": _PASSWORD}
            )
            assert registered.status_code == 201, registered.text
            keys.append(_api_key(url, email, _PASSWORD))
        yield Server(url=url, alice=keys[0], bob=keys[1], admin=admin)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr


def run(
    capsys: pytest.CaptureFixture[str], server: Server, key: str, *args: str
) -> tuple[int, str, str]:
    code = main(["-key", key, "--url", server.url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_list_prints_a_table_and_json_on_request(
    capsys: pytest.CaptureFixture[str], server: Server
) -> None:
    code, out, _ = run(capsys, server, server.alice, "list")
    assert code == 0
    header = out.splitlines()[0].split()
    assert header[:3] == ["PROVIDER", "OFFER", "ID"]
    assert "RTX 4090 24GB" in out
    assert out.strip().endswith("14 offer(s)")
    code, out, _ = run(
        capsys, server, server.alice, "list", "local", "--gpu-model", "A100", "--json"
    )
    assert code == 0
    offers = json.loads(out)["instances"]
    assert len(offers) == 4
    assert all(o["gpu_model"] == "A100 80GB" for o in offers)


def test_create_show_destroy_and_other_users_get_one_line_errors(
    capsys: pytest.CaptureFixture[str], server: Server
) -> None:
    code, out, _ = run(
        capsys, server, server.alice, "--json", "create", "local", "rtx-a6000-48gb-1"
    )
    assert code == 0
    instance = json.loads(out)
    assert instance["status"] == "running"
    for command in ("show", "destroy"):
        code, _, err = run(capsys, server, server.bob, command, "local", instance["id"])
        assert code == 1
        line = _one_error_line(err)
        assert "404 instance_not_found" in line
    code, out, _ = run(capsys, server, server.alice, "show", "local", instance["id"])
    assert code == 0
    assert "running" in out
    assert instance["endpoint"] in out
    code, out, _ = run(capsys, server, server.alice, "destroy", "local", instance["id"])
    assert code == 0
    assert out.strip() == f"local {instance['id']}: destroyed"


def test_reserve_shows_progress_until_the_gpus_run(
    capsys: pytest.CaptureFixture[str], server: Server
) -> None:
    args = ("reserve", "2", "--provider", "local", "--gpu-model", "4090", "--poll-interval", "0.1")
    code, out, err = run(capsys, server, server.alice, *args)
    assert code == 0, err
    assert "2/2 GPUs running" in err
    assert "[" + "#" * 30 + "]" in err
    rows = [line for line in out.splitlines() if line.startswith("local ")]
    assert len(rows) == 2
    assert all(" running " in row for row in rows)
    assert "reserved 2 of 2 GPU(s)" in out
    # Each worker registered with the proxy using the one-time token issued at rent time.
    for _ in range(100):
        code, out, _ = run(capsys, server, server.alice, "load", "server", "--json")
        loads = json.loads(out)["server"]
        if len(loads) == 2 and all(load["healthy"] for load in loads):
            break
        time.sleep(0.1)
    assert [bool(load["worker_id"]) for load in loads] == [True, True]
    assert all(load["healthy"] for load in loads)
    code, out, _ = run(capsys, server, server.alice, "mine", "--json")
    for instance in json.loads(out)["instances"]:
        code, _, _ = run(capsys, server, server.alice, "destroy", "local", instance["id"])
        assert code == 0
    code, out, _ = run(capsys, server, server.alice, "mine", "--json")
    assert json.loads(out)["instances"] == []


def test_lb_strategy_read_by_users_and_set_by_admins(
    capsys: pytest.CaptureFixture[str], server: Server
) -> None:
    code, out, _ = run(capsys, server, server.alice, "lb-strategy")
    assert code == 0
    assert out.splitlines()[0] == "strategy: p2c_ewma"
    assert "least_connections" in out.splitlines()[1]
    code, _, err = run(capsys, server, server.alice, "lb-strategy", "round_robin")
    assert code == 1
    assert "403" in _one_error_line(err)
    code, _, err = run(capsys, server, server.admin, "lb-strategy", "fastest")
    assert code == 1
    assert "strategy: must be one of" in _one_error_line(err)
    code, out, _ = run(capsys, server, server.admin, "lb-strategy", "round_robin")
    assert code == 0
    assert out.strip() == "strategy: round_robin (was p2c_ewma)"
    code, out, _ = run(capsys, server, server.admin, "lb-strategy", "p2c_ewma")
    assert code == 0


def test_load_tables(capsys: pytest.CaptureFixture[str], server: Server) -> None:
    code, out, _ = run(capsys, server, server.alice, "load", "provider")
    assert code == 0
    assert "provider load" in out
    assert "server load" not in out
    local_row = next(line for line in out.splitlines() if line.startswith("local"))
    assert local_row.split()[1:3] == ["14", "14"]
    code, out, _ = run(capsys, server, server.alice, "load", "server")
    assert code == 0
    assert "server load" in out
    assert "provider load" not in out


def test_failures_are_one_clear_line_with_a_nonzero_exit(
    capsys: pytest.CaptureFixture[str], server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, server, server.alice, "reserve", "17")
    assert code == 1
    assert "count: must be between 1 and 16" in _one_error_line(err)
    code, _, err = run(capsys, server, "gpx_wrong", "list")
    assert code == 1
    assert "401" in _one_error_line(err)
    code = main(["-key", server.alice, "--url", f"http://127.0.0.1:{_free_port()}", "list"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "cannot reach" in _one_error_line(err)
    monkeypatch.delenv("GPUPROXY_API_KEY", raising=False)
    code = main(["--url", server.url, "list"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "GPUPROXY_API_KEY" in err
    # The protocol proxy refuses a loopback target (or is absent): one line either way.
    code, _, err = run(capsys, server, server.alice, "proxy", "http", "http://127.0.0.1:1/")
    assert code == 1
    assert _one_error_line(err).startswith("error: POST /api/v1/gpu/proxy: ")


def test_console_script_reads_the_environment_and_never_prints_the_key(server: Server) -> None:
    script = Path(sys.executable).parent / "aiserve-gpuproxy-client"
    env = {**os.environ, "GPUPROXY_API_KEY": server.alice, "GPUPROXY_URL": server.url}
    result = subprocess.run(
        [str(script), "-dv", "-dm", "lb-strategy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("strategy: ")
    assert f"> GET {server.url}/api/v1/loadbalancer/strategy" in result.stderr
    assert "< 200 in " in result.stderr
    assert "x-api-key: gpx_" in result.stderr.lower()
    assert server.alice not in result.stderr
