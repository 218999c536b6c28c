"""The inference fast path (`gpuproxy.api.fast_path.FastPathApp`): the hot OpenAI routes
skip Litestar and still answer exactly as the middleware path does (request id, auth,
rate-limit headers and refusals, OpenAI-shaped errors); everything else reaches Litestar.

A real gateway served by Granian with the fast path in front (as the daemon serves it);
a request carrying an `Origin` header takes the Litestar path, which is what the parity
tests compare against."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gateway.conftest import gateway, gateway_env  # noqa: F401 - fixtures
from gateway.support import GatewayServer, User
from gpuproxy.api import fast_path
from gpuproxy.api.fast_path import FAST_PATHS

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "Hello there"}], "seed": 1}
#: Browsers send Origin; such requests go through Litestar (its CORS middleware).
VIA_LITESTAR = {"Origin": "http://elsewhere.example"}
LIMIT = 4


@pytest.fixture
def gateway_env() -> dict[str, str]:  # noqa: F811
    return {"RATE_LIMIT_PER_MINUTE": str(LIMIT)}


@pytest.fixture
async def alice(gateway: GatewayServer) -> User:  # noqa: F811
    user = await gateway.user()
    await gateway.spawn_worker(user, "--model", "m1")
    return user


@pytest.fixture
async def http(gateway: GatewayServer) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


@pytest.fixture
def litestar_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths of the requests that reached the Litestar app."""
    calls: list[str] = []
    original: Callable[..., Any] = Litestar.__call__

    async def counting(self: Litestar, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            calls.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(Litestar, "__call__", counting)
    return calls


def test_fast_paths_are_the_raw_openai_routes() -> None:
    assert set(FAST_PATHS) == {
        f"{prefix}/{name}"
        for prefix in ("/v1", "/api/v1")
        for name in ("chat/completions", "completions", "embeddings", "models")
    }


async def test_hot_routes_skip_litestar_and_others_reach_it(
    http: httpx.AsyncClient, alice: User, litestar_calls: list[str]
) -> None:
    ok = await http.post("/v1/chat/completions", json=CHAT, headers=alice.headers)
    assert ok.status_code == 200, ok.text
    assert (await http.get("/api/v1/models", headers=alice.headers)).status_code == 200
    assert litestar_calls == []
    await http.get("/v1/models/m1", headers=alice.headers)  # path parameter: a Litestar route
    await http.get("/health")
    await http.post("/v1/chat/completions", json=CHAT, headers={**alice.headers, **VIA_LITESTAR})
    await http.options("/v1/chat/completions", headers=alice.headers)
    assert litestar_calls == [
        "/v1/models/m1",
        "/health",
        "/v1/chat/completions",
        "/v1/chat/completions",
    ]


async def test_openapi_still_documents_the_v1_routes(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/schema/openapi.json")).json()["paths"]
    assert {"/v1/chat/completions", "/v1/models", "/api/v1/embeddings"} <= set(paths)


def _comparable(response: httpx.Response) -> tuple[int, Any, set[str]]:
    body = response.json()
    if "id" in body:
        body.pop("id")
        body.pop("created", None)
    names = {n for n in response.headers if n.startswith(("x-ratelimit", "x-request", "retry"))}
    return response.status_code, body, names


async def test_answers_match_the_middleware_path(
    gateway: GatewayServer,  # noqa: F811
    http: httpx.AsyncClient,
    alice: User,
) -> None:
    fast_user, slow_user = alice, await gateway.user()
    await gateway.spawn_worker(slow_user, "--model", "m1")
    cases: list[tuple[str, dict[str, Any] | bytes, bool]] = [
        ("/v1/chat/completions", CHAT, True),  # ok, with rate-limit headers
        ("/v1/chat/completions", b"{not json", True),  # 400 invalid_json
        ("/v1/chat/completions", {**CHAT, "model": "nope"}, True),  # 404 model_not_found
        ("/v1/chat/completions", CHAT, False),  # 401 without a key
    ]
    for path, body, with_key in cases:
        answers = []
        for user, extra in ((fast_user, {}), (slow_user, VIA_LITESTAR)):
            headers = {**(user.headers if with_key else {}), **extra}
            if isinstance(body, bytes):
                response = await http.post(path, content=body, headers=headers)
            else:
                response = await http.post(path, json=body, headers=headers)
            answers.append(_comparable(response))
        assert answers[0] == answers[1], (path, body)
    # Over the limit (LIMIT per minute, burst LIMIT): the same 429 both ways.
    refusals = []
    for user, extra in ((fast_user, {}), (slow_user, VIA_LITESTAR)):
        for _ in range(LIMIT):
            response = await http.get("/v1/models", headers={**user.headers, **extra})
        assert response.status_code == 429
        assert response.headers["retry-after"]
        refusals.append(_comparable(response))
    assert refusals[0] == refusals[1]
    assert refusals[0][1]["error"]["code"] == "rate_limited"


async def test_request_id_kept_or_made(http: httpx.AsyncClient) -> None:
    kept = await http.get("/v1/models", headers={"X-Request-ID": "abc-123"})
    assert kept.status_code == 401
    assert kept.headers["x-request-id"] == "abc-123"
    made = await http.get("/v1/models", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] not in ("", "bad id with spaces")
    assert len(made.headers["x-request-id"]) == 32


async def test_unexpected_error_is_an_openai_500_with_the_request_id(
    http: httpx.AsyncClient, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(fast_path.FAST_PATHS, "/v1/embeddings", broken)
    response = await http.post(
        "/v1/embeddings", json={"model": "m1", "input": "x"}, headers=alice.headers
    )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert "boom" not in response.text
    assert response.headers["x-request-id"]
    assert response.headers["x-ratelimit-limit"] == str(LIMIT)
