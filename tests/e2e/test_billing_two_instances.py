"""Two server processes, one PostgreSQL, one Redis: concurrent requests at a small guard-rail
limit never spend more than the limit together (the stated bound: 0 over the limit while
commits do not exceed their estimates; see README "Billing, payments and guard rails")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from tests.fakes._http import FakeHttpServer, Request, Response, json_response
from tests.fakes._thread import serving_in_thread
from tests.helpers import TEST_JWT_SECRET, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

MAX_TOKENS = 10
PRICE_PER_TOKEN = 10_000  # micro-dollars: 10 completion tokens cost 0.10
LIMIT = "1.00"  # so exactly 10 requests fit, across both servers together


def _stub_upstream() -> FakeHttpServer:
    """An OpenAI-compatible upstream that uses exactly the tokens it was allowed."""
    server = FakeHttpServer()

    @server.route("POST", "/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = request.json()
        await asyncio.sleep(0.05)  # keep requests in flight together
        tokens = int(body.get("max_tokens") or MAX_TOKENS)
        return json_response(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok " * tokens},
                        "finish_reason": "length",
                    }
                ],
                "usage": {
                    "prompt_tokens": 1,
                    "completion_tokens": tokens,
                    "total_tokens": tokens + 1,
                },
            }
        )

    return server


@pytest.fixture
def upstream() -> Iterator[str]:
    with serving_in_thread(_stub_upstream()) as url:
        yield url


def _start(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    daemon = Path(sys.executable).parent / "aiserve-gpuproxyd"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(daemon)], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 40
    url = f"http://127.0.0.1:{env['PORT']}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/health/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not become ready in 40 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _base_env(postgres_dsn: str, redis_url: str, upstream: str) -> dict[str, str]:
    pg = urlparse(postgres_dsn)
    return {
        **os.environ,
        "DB_TYPE": "postgres",
        "DB_HOST": pg.hostname or "127.0.0.1",
        "DB_PORT": str(pg.port or 5432),
        "DB_USER": pg.username or "postgres",
        "DB_PASSWORD": pg.password or "",
        "DB_NAME": pg.path.lstrip("/"),
        "DB_MAX_CONNS": "5",
        "REDIS_URL": redis_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "BOOTSTRAP_ADMIN": "false",
        "RATE_LIMIT_PER_MINUTE": "0",
        "LOCAL_FLEET_ENABLED": "false",
        "GUARDRAILS_ENABLED": "true",
        "GUARDRAILS_MAX_5MIN_RATE": LIMIT,
        "GATEWAY_UPSTREAMS": f"stub={upstream}",
        "GATEWAY_DEFAULT_INPUT_PRICE": "0",
        "GATEWAY_DEFAULT_OUTPUT_PRICE": str(PRICE_PER_TOKEN),  # dollars per million tokens
        "BILLING_FLUSH_INTERVAL_MS": "100",
        # Credits are enforced (the default): each account starts with $100.
        "NEW_USER_CREDIT_USD": "100",
    }


async def test_two_servers_share_the_windows_and_never_overspend(
    tmp_path: Path, postgres_dsn: str, redis_url: str, upstream: str
) -> None:
    base = _base_env(postgres_dsn, redis_url, upstream)
    with _two_servers(tmp_path, base) as servers:
        urls = [url for _, url in servers]
        async with httpx.AsyncClient(timeout=30) as client:
            token = await _login(client, urls, "two@example.com")
            headers = {"Authorization": f"Bearer {token}"}
            body = {
                "model": "stub",
                "max_tokens": MAX_TOKENS,
                "messages": [{"role": "user", "content": "hi"}],
            }
            # Both servers spend first (so the shared windows are exercised whatever the
            # scheduling), then a concurrent burst races for the rest of the budget.
            warm_up = [
                await client.post(urls[i % 2] + "/v1/chat/completions", json=body, headers=headers)
                for i in range(4)
            ]
            burst = await asyncio.gather(
                *(
                    client.post(urls[i % 2] + "/v1/chat/completions", json=body, headers=headers)
                    for i in range(4, 40)
                )
            )
            responses = [*warm_up, *burst]
            statuses = [r.status_code for r in responses]
            served = [i % 2 for i, r in enumerate(responses) if r.status_code == 200]
            assert statuses.count(200) == 10, [
                r.text[:200] for r in responses if r.status_code != 402
            ]
            assert statuses.count(402) == 30
            assert set(served) == {0, 1}  # both servers admitted part of the budget
            refused = next(r for r in responses if r.status_code == 402)
            assert refused.headers["x-guardrails-exceeded"] == "true"
            violation = refused.json()["violations"][0]
            assert violation["window"] == "5min"
            assert violation["limit"] == "1.000000"
            for url in urls:
                spending = (
                    await client.get(url + "/api/v1/guardrails/spending", headers=headers)
                ).json()
                assert spending["shared"] is True
                assert spending["windows"][0]["spent"] == "1.000000"
    for proc, _ in servers:
        assert proc.returncode == 0
    # Both servers drained their batched ledger rows at shutdown: 10 x 0.10 debited, once.
    import asyncpg

    conn = await asyncpg.connect(postgres_dsn)
    try:
        total = await conn.fetchval(
            "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger_entries WHERE type = 'usage'"
        )
        cached = await conn.fetchval("SELECT SUM(balance_micros) FROM credit_accounts")
        starting = await conn.fetchval(
            "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger_entries "
            "WHERE type = 'adjustment' AND provider = 'signup'"
        )
    finally:
        await conn.close()
    assert int(total) == -1_000_000
    assert int(starting) > 0, "the starting credit was granted once per account"
    assert int(cached) == int(starting) - 1_000_000
    for name in ("a", "b"):
        for line in (tmp_path / f"{name}.log").read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                billing = str(record.get("logger", "")).startswith("gpuproxy.billing")
                assert not (billing and record["level"] in ("error", "critical")), line


@contextlib.contextmanager
def _two_servers(
    tmp_path: Path, base: dict[str, str]
) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    """Two servers on one database and Redis; both stopped on the way out, whatever failed."""
    servers: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for name in ("a", "b"):  # one after the other: the first applies the migrations
            env = {**base, "PORT": str(free_port()), "DATA_DIR": str(tmp_path / name)}
            proc = _start(env, tmp_path, tmp_path / f"{name}.log")
            servers.append((proc, f"http://127.0.0.1:{env['PORT']}"))
        yield servers
    finally:
        for proc, _ in servers:
            _stop(proc)


async def _login(client: httpx.AsyncClient, urls: list[str], email: str) -> str:
    """Register on the first server, log in on the second: the access token."""
    password = "correct horse battery staple"
    credentials = {"email": email, "password": password}
    registered = await client.post(urls[0] + "/api/v1/auth/register", json=credentials)
    assert registered.status_code == 201, registered.text
    login = await client.post(urls[1] + "/api/v1/auth/login", json=credentials)
    assert login.status_code == 200, login.text
    token: str = login.json()["token"]
    return token


async def test_two_servers_count_one_rate_limit(
    tmp_path: Path, postgres_dsn: str, redis_url: str, upstream: str
) -> None:
    """Each server's data plane counts the per-user limit in Redis: 5 per minute across
    both servers together, not 5 each."""
    base = {
        **_base_env(postgres_dsn, redis_url, upstream),
        "RATE_LIMIT_PER_MINUTE": "5",
        "GUARDRAILS_ENABLED": "false",
    }
    with _two_servers(tmp_path, base) as servers:
        urls = [url for _, url in servers]
        async with httpx.AsyncClient(timeout=30) as client:
            token = await _login(client, urls, "rate@example.com")
            key = await client.post(
                urls[0] + "/api/v1/auth/apikeys",
                json={"name": "k", "scopes": ["inference"]},
                headers={"Authorization": f"Bearer {token}"},
            )
            # (the logins and the key above counted too: they went through the middleware)
            headers = {"Authorization": f"Bearer {key.json()['key']}"}
            body = {
                "model": "stub",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": "x"}],
            }
            statuses = [
                (
                    await client.post(
                        urls[i % 2] + "/v1/chat/completions", json=body, headers=headers
                    )
                )
                for i in range(10)
            ]
    codes = [r.status_code for r in statuses]
    assert set(codes) <= {200, 429}, [r.text[:200] for r in statuses]
    # 5 per minute for the user across both servers; creating the key took one of them.
    assert codes.count(200) == 4, codes
    assert codes[-1] == 429
    assert statuses[-1].headers["x-ratelimit-remaining"] == "0"
    assert int(statuses[-1].headers["retry-after"]) >= 1
