"""The OpenAI-compatible routes over HTTP: models, chat (plain and streamed), completions,
embeddings, and errors in the OpenAI shape. A real gateway (Granian in the test's loop)
with real simulate worker agents that registered over the WebSocket."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.conftest import gateway, gateway_env  # noqa: F401 - fixtures
from gateway.support import GatewayServer, User

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "Hello there"}], "seed": 1}


@pytest.fixture
async def alice(gateway: GatewayServer) -> User:  # noqa: F811
    user = await gateway.user()
    await gateway.spawn_worker(user, "--model", "m1", "--model", "emb")
    return user


@pytest.fixture
async def client(gateway: GatewayServer, alice: User) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=10) as c:
        yield c


def events(raw: bytes) -> list[str]:
    return [e.removeprefix("data: ") for e in raw.decode().split("\n\n") if e.strip()]


def assert_openai_error(
    response: httpx.Response, status: int, code: str | None
) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["message"]
    return error  # type: ignore[no-any-return]


async def test_models_lists_what_the_callers_workers_serve(
    gateway: GatewayServer,  # noqa: F811
    client: httpx.AsyncClient,
) -> None:
    listing = (await client.get("/v1/models")).json()
    assert listing["object"] == "list"
    assert sorted(m["id"] for m in listing["data"]) == ["emb", "m1"]
    assert {m["owned_by"] for m in listing["data"]} == {"you"}
    alias = (await client.get("/api/v1/models")).json()
    assert alias["data"] == listing["data"]
    one = (await client.get("/v1/models/m1")).json()
    assert (one["id"], one["object"]) == ("m1", "model")
    assert_openai_error(await client.get("/v1/models/nope"), 404, "model_not_found")
    bob = await gateway.user()
    theirs = await client.get("/v1/models", headers=bob.headers)
    assert theirs.json()["data"] == []  # alice's workers are hers


async def test_chat_completion_is_forwarded_and_metered(
    gateway: GatewayServer,  # noqa: F811
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/chat/completions", json=CHAT, headers={"X-Request-ID": "r-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"]
    assert response.headers["x-request-id"] == "r-1"
    usage = body["usage"]
    alias = await client.post("/api/v1/chat/completions", json=CHAT)
    assert alias.json()["choices"] == body["choices"]  # same seed, same answer
    await gateway.settle()
    rows = await gateway.services.db.fetch("SELECT * FROM gateway_usage WHERE request_id = 'r-1'")
    assert len(rows) == 1
    row = rows[0]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert (row["outcome"], row["status"], row["stream"], row["tokens_estimated"]) == (
        "ok",
        200,
        0,
        0,
    )
    assert row["cost_micros"] == 0  # own worker: tokens are covered by the GPU's hourly price
    assert row["worker_id"].startswith("wrk_")
    assert row["latency_us"] > 0
    assert row["tokens_per_s"] > 0
    assert gateway.in_flight() == 0


async def test_stream_without_include_usage_hides_the_usage_chunk(
    gateway: GatewayServer,  # noqa: F811
    client: httpx.AsyncClient,
) -> None:
    async with client.stream(
        "POST",
        "/v1/chat/completions",
        json={**CHAT, "stream": True},
        headers={"X-Request-ID": "s-1"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join([chunk async for chunk in response.aiter_bytes()])
    items = events(raw)
    assert items[-1] == "[DONE]"
    chunks = [json.loads(e) for e in items[:-1]]
    assert all(c["choices"] for c in chunks)  # no choices: [] usage chunk
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text
    await gateway.settle()
    row = await gateway.services.db.fetchrow("SELECT * FROM gateway_usage WHERE request_id = 's-1'")
    assert row is not None
    assert row["tokens_estimated"] == 0  # the gateway asked for usage on the client's behalf
    assert row["completion_tokens"] == len(text.split())
    assert row["ttft_us"] is not None


async def test_stream_with_include_usage_ends_with_the_usage_chunk(
    client: httpx.AsyncClient,
) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        raw = b"".join([chunk async for chunk in response.aiter_bytes()])
    items = events(raw)
    assert items[-1] == "[DONE]"
    last = json.loads(items[-2])
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] > 0


async def test_completions_and_embeddings(client: httpx.AsyncClient) -> None:
    completion = await client.post(
        "/v1/completions", json={"model": "m1", "prompt": "Say hi", "max_tokens": 5}
    )
    assert completion.status_code == 200
    assert completion.json()["object"] == "text_completion"
    assert completion.json()["usage"]["completion_tokens"] <= 5
    floats = await client.post("/v1/embeddings", json={"model": "emb", "input": ["a", "b"]})
    assert floats.status_code == 200
    vectors = [d["embedding"] for d in floats.json()["data"]]
    assert len(vectors) == 2
    assert isinstance(vectors[0][0], float)
    b64 = await client.post(
        "/v1/embeddings", json={"model": "emb", "input": "a", "encoding_format": "base64"}
    )
    packed = base64.b64decode(b64.json()["data"][0]["embedding"])
    assert len(packed) == 4 * len(vectors[0])


async def test_errors_are_openai_shaped(gateway: GatewayServer, client: httpx.AsyncClient) -> None:  # noqa: F811
    anonymous = httpx.AsyncClient(base_url=gateway.url, timeout=5)
    async with anonymous:
        assert_openai_error(
            await anonymous.post("/v1/chat/completions", json=CHAT), 401, "invalid_api_key"
        )
        bad_key = await anonymous.post(
            "/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer gpx_nope_nope"}
        )
        assert_openai_error(bad_key, 401, "invalid_api_key")
        assert_openai_error(await anonymous.get("/v1/models"), 401, "invalid_api_key")
    bad_json = await client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_openai_error(bad_json, 400, "invalid_json")
    no_model = await client.post("/v1/chat/completions", json={"messages": []})
    assert assert_openai_error(no_model, 400, "invalid_value")["param"] == "model"
    bad_stream = await client.post("/v1/chat/completions", json={**CHAT, "stream": "yes"})
    assert assert_openai_error(bad_stream, 400, "invalid_value")["param"] == "stream"
    bad_max = await client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 0})
    assert assert_openai_error(bad_max, 400, "invalid_value")["param"] == "max_tokens"
    unknown = await client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-9"})
    error = assert_openai_error(unknown, 404, "model_not_found")
    assert error["param"] == "model"
    assert error["type"] == "invalid_request_error"
    assert_openai_error(await client.get("/v1/chat/completions"), 405, None)
    timelimit = await client.post(
        "/v1/chat/completions", json=CHAT, headers={"X-Timelimit": "soon"}
    )
    assert assert_openai_error(timelimit, 400, None)["param"] == "X-Timelimit"
    # The worker's own 400 (bad parameter) passes through unchanged, and costs nothing.
    worker_400 = await client.post("/v1/chat/completions", json={**CHAT, "n": 100})
    assert worker_400.status_code == 400
    assert "error" in worker_400.json()
    assert gateway.in_flight() == 0


async def test_key_without_inference_scope_is_refused(gateway: GatewayServer, alice: User) -> None:  # noqa: F811
    from gpuproxy.accounts.principal import Principal

    accounts = gateway.services.accounts
    assert accounts is not None
    principal = Principal(user_id=alice.id, email=alice.email)
    _, secret = await accounts.create_api_key(principal, name="gpu only", scopes=["gpu"])
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as c:
        response = await c.post(
            "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {secret}"}
        )
    assert_openai_error(response, 403, "missing_scope")
