"""Which requests the Rust data plane answers and which reach the Litestar control plane,
and that the data plane answers the way the control plane documents (request id, auth,
rate-limit headers and refusals, OpenAI-shaped errors).

A real gateway as the daemon serves it: the data plane on the port, the app on a Unix
socket behind it (tests/gateway/support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gateway.conftest import gateway, gateway_env  # noqa: F401 - fixtures
from gateway.support import GatewayServer, User
from gpuproxy.app import create_app

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "Hello there"}], "seed": 1}
#: Browsers send Origin.
BROWSER = {"Origin": "http://elsewhere.example"}
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
def litestar_seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """(path, client) of each HTTP request that reached the Litestar app."""
    seen: list[tuple[str, Any]] = []
    original: Callable[..., Any] = Litestar.__call__

    async def recording(self: Litestar, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append((scope["path"], scope["client"]))
        await original(self, scope, receive, send)

    monkeypatch.setattr(Litestar, "__call__", recording)
    return seen


async def test_hot_routes_never_reach_litestar_and_others_do(
    http: httpx.AsyncClient, alice: User, litestar_seen: list[tuple[str, Any]]
) -> None:
    ok = await http.post("/v1/chat/completions", json=CHAT, headers=alice.headers)
    assert ok.status_code == 200, ok.text
    assert (await http.get("/api/v1/models", headers=alice.headers)).status_code == 200
    assert (await http.get("/v1/models/m1", headers=alice.headers)).json()["id"] == "m1"
    browser = await http.post(
        "/v1/chat/completions", json=CHAT, headers={**alice.headers, **BROWSER}
    )
    assert browser.status_code == 200
    assert "access-control-allow-origin" not in browser.headers  # no cross-origin reads
    assert litestar_seen == []
    await http.get("/health")
    await http.options("/v1/chat/completions", headers={**alice.headers, **BROWSER})
    assert [path for path, _ in litestar_seen] == ["/health", "/v1/chat/completions"]


async def test_openapi_still_documents_the_v1_routes(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/schema/openapi.json")).json()["paths"]
    assert {"/v1/chat/completions", "/v1/models", "/api/v1/embeddings"} <= set(paths)
    operation = paths["/v1/chat/completions"]["post"]
    assert operation["operationId"].endswith("ChatCompletions")
    assert "data plane" in operation["description"]


async def test_in_process_app_without_the_data_plane_says_so() -> None:
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=create_app()) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "data_plane_required"


async def test_errors_and_limits_are_openai_shaped(
    gateway: GatewayServer,  # noqa: F811
    http: httpx.AsyncClient,
    alice: User,
) -> None:
    bad = await http.post("/v1/chat/completions", content=b"{not json", headers=alice.headers)
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "invalid_json",
        None,
    )
    assert error["message"].startswith("the request body is not valid JSON (")
    assert bad.headers["x-ratelimit-limit"] == str(LIMIT)
    missing = await http.post("/v1/chat/completions", json={**CHAT, "model": "nope"},
                              headers=alice.headers)  # fmt: skip
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "message": "The model `nope` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    anonymous = await http.post("/v1/chat/completions", json=CHAT)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "invalid_api_key"
    assert "x-ratelimit-limit" not in anonymous.headers
    # Over the limit (LIMIT per minute, burst LIMIT; two requests above counted).
    for _ in range(LIMIT):
        refused = await http.get("/v1/models", headers=alice.headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert int(refused.headers["retry-after"]) >= 1
    # The control plane counts in the same bucket (one limiter for both).
    me = await http.get("/api/v1/auth/me", headers=alice.headers)
    assert me.status_code == 429, (me.status_code, dict(me.headers))


async def test_request_id_kept_or_made(http: httpx.AsyncClient) -> None:
    kept = await http.get("/v1/models", headers={"X-Request-ID": "abc-123"})
    assert kept.status_code == 401
    assert kept.headers["x-request-id"] == "abc-123"
    made = await http.get("/v1/models", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] not in ("", "bad id with spaces")
    assert len(made.headers["x-request-id"]) == 32


async def test_client_address_reaches_the_control_plane_from_the_last_hop(
    http: httpx.AsyncClient, litestar_seen: list[tuple[str, Any]]
) -> None:
    await http.get("/health", headers={"X-Forwarded-For": "6.6.6.6"})
    assert litestar_seen == [("/health", ("127.0.0.1", 0))]  # the spoofed entry is not trusted
