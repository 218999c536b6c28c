"""The worker's OpenAI-compatible API (simulate and openai backends) through the openai SDK."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
from openai import AsyncOpenAI
from tests.worker._spawn import SpawnWorker, worker_spawner


@pytest.fixture
async def spawn_worker() -> AsyncIterator[SpawnWorker]:
    async with worker_spawner() as spawn:
        yield spawn


def _client(endpoint: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{endpoint}/v1", api_key="unused", max_retries=0)


async def test_chat_is_deterministic_with_usage(spawn_worker: SpawnWorker) -> None:
    worker = await spawn_worker("--model", "sim-a", "--model", "sim-b")
    client = _client(worker.endpoint)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi GPU"}]
    one = await client.chat.completions.create(model="sim-a", messages=messages, seed=7)  # type: ignore[arg-type]
    two = await client.chat.completions.create(model="sim-a", messages=messages, seed=7)  # type: ignore[arg-type]
    other = await client.chat.completions.create(model="sim-b", messages=messages, seed=7)  # type: ignore[arg-type]
    text = one.choices[0].message.content or ""
    assert text
    assert text == two.choices[0].message.content
    assert text != other.choices[0].message.content
    assert one.choices[0].finish_reason == "stop"
    assert text.endswith(".")
    assert one.usage is not None
    assert one.usage.completion_tokens == len(text.split())
    assert one.usage.prompt_tokens == (2 + 3) + (2 + 3) + 3
    assert one.usage.total_tokens == one.usage.prompt_tokens + one.usage.completion_tokens

    capped = await client.chat.completions.create(
        model="sim-a", messages=messages, max_tokens=3, n=2
    )  # type: ignore[arg-type]
    assert [c.finish_reason for c in capped.choices] == ["length", "length"]
    assert capped.usage is not None
    assert capped.usage.completion_tokens == 6
    exact = await client.chat.completions.create(
        model="sim-a",
        messages=messages,
        max_tokens=50,
        extra_body={"ignore_eos": True},  # type: ignore[arg-type]
    )
    assert exact.usage is not None
    assert exact.usage.completion_tokens == 50
    await client.close()


async def test_streaming_matches_and_reports_usage(spawn_worker: SpawnWorker) -> None:
    worker = await spawn_worker("--model", "sim")
    client = _client(worker.endpoint)
    messages = [{"role": "user", "content": "stream please"}]
    full = await client.chat.completions.create(model="sim", messages=messages, max_tokens=12)  # type: ignore[arg-type]
    stream = await client.chat.completions.create(
        model="sim",
        messages=messages,
        max_tokens=12,
        stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    )
    pieces, usage, finish = [], None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == full.choices[0].message.content
    assert finish == full.choices[0].finish_reason
    assert usage is not None
    assert full.usage is not None
    assert usage.completion_tokens == full.usage.completion_tokens

    async with httpx.AsyncClient() as raw:
        body = {"model": "sim", "messages": messages, "max_tokens": 2, "stream": True}
        text = (await raw.post(f"{worker.endpoint}/v1/chat/completions", json=body)).text
    events = [line for line in text.split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    assert '"usage"' not in text
    await client.close()


async def test_text_completions(spawn_worker: SpawnWorker) -> None:
    worker = await spawn_worker("--model", "sim")
    client = _client(worker.endpoint)
    done = await client.completions.create(model="sim", prompt="Once upon a time", max_tokens=5)
    assert done.object == "text_completion"
    assert done.usage is not None
    assert done.usage.prompt_tokens == 4
    assert done.usage.completion_tokens == 5
    stream = await client.completions.create(
        model="sim",
        prompt="Once upon a time",
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    async for chunk in stream:
        text += "".join(c.text for c in chunk.choices)
    assert text == done.choices[0].text
    await client.close()


async def test_embeddings_float_and_base64(spawn_worker: SpawnWorker) -> None:
    worker = await spawn_worker("--model", "embed", "--embedding-dim", "16")
    client = _client(worker.endpoint)
    result = await client.embeddings.create(model="embed", input=["alpha", "beta gamma"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 16
    assert result.usage.prompt_tokens == 3
    assert abs(sum(v * v for v in result.data[0].embedding) - 1.0) < 1e-5
    async with httpx.AsyncClient() as raw:
        url = f"{worker.endpoint}/v1/embeddings"
        floats = (await raw.post(url, json={"model": "embed", "input": "alpha"})).json()
        encoded = (
            await raw.post(
                url, json={"model": "embed", "input": "alpha", "encoding_format": "base64"}
            )
        ).json()
        shorter = (
            await raw.post(url, json={"model": "embed", "input": "alpha", "dimensions": 4})
        ).json()
    vector = floats["data"][0]["embedding"]
    decoded = struct.unpack("<16f", base64.b64decode(encoded["data"][0]["embedding"]))
    assert vector == pytest.approx(list(decoded), abs=1e-6)
    assert vector == pytest.approx(result.data[0].embedding, abs=1e-6)
    assert len(shorter["data"][0]["embedding"]) == 4
    await client.close()


async def test_errors_in_openai_shape(spawn_worker: SpawnWorker) -> None:
    worker = await spawn_worker("--model", "sim")
    client = _client(worker.endpoint)
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(
            model="sim", messages=[{"role": "user", "content": "x"}], max_tokens=0
        )
    assert bad.value.param == "max_tokens"
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="sim", messages=[])
    async with httpx.AsyncClient() as raw:
        junk = await raw.post(f"{worker.endpoint}/v1/chat/completions", content=b"{not json")
        assert junk.status_code == 400
        assert junk.json()["error"]["code"] == "invalid_json"
        assert (await raw.get(f"{worker.endpoint}/v1/chat/completions")).status_code == 405
        assert (await raw.get(f"{worker.endpoint}/nowhere")).status_code == 404
        health = (await raw.get(f"{worker.endpoint}/health")).json()
    assert health["status"] == "ok"
    assert health["models"] == ["sim"]
    assert health["gpus"][0]["simulated"] is True
    await client.close()


async def test_token_rate_paces_the_stream(spawn_worker: SpawnWorker) -> None:
    worker = await spawn_worker("--model", "sim", "--token-rate", "50")
    client = _client(worker.endpoint)
    started = time.monotonic()
    stream = await client.chat.completions.create(
        model="sim",
        messages=[{"role": "user", "content": "pace"}],
        max_tokens=10,
        stream=True,
        extra_body={"ignore_eos": True},
    )
    arrivals = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 10
    assert arrivals[-1] >= 0.18  # 10 tokens at 50/s
    assert arrivals[-1] - arrivals[0] >= 0.15  # spread out, not one burst
    await client.close()


async def test_openai_backend_fronts_an_upstream(spawn_worker: SpawnWorker) -> None:
    upstream = await spawn_worker("--model", "sim")
    front = await spawn_worker("--backend", "openai", "--upstream", upstream.endpoint)
    direct, proxied = _client(upstream.endpoint), _client(front.endpoint)
    messages = [{"role": "user", "content": "through the front"}]
    a = await direct.chat.completions.create(model="sim", messages=messages, seed=1)  # type: ignore[arg-type]
    b = await proxied.chat.completions.create(model="sim", messages=messages, seed=1)  # type: ignore[arg-type]
    assert a.choices[0].message.content == b.choices[0].message.content
    stream = await proxied.chat.completions.create(
        model="sim",
        messages=messages,
        seed=1,
        stream=True,  # type: ignore[arg-type]
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == a.choices[0].message.content
    assert [m.id for m in (await proxied.models.list()).data] == ["sim"]
    await direct.close()
    await proxied.close()


async def test_client_disconnect_stops_generation(spawn_worker: SpawnWorker) -> None:
    worker = await spawn_worker("--model", "sim", "--token-rate", "20")
    body = {
        "model": "sim",
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 200,
        "ignore_eos": True,
        "stream": True,
    }
    async with httpx.AsyncClient() as client:
        async with client.stream(
            "POST", f"{worker.endpoint}/v1/chat/completions", json=body
        ) as response:
            async for _ in response.aiter_lines():
                break  # leave after the first event of a 10 s stream
        in_flight = 1
        for _ in range(50):
            in_flight = (await client.get(f"{worker.endpoint}/health")).json()["in_flight"]
            if in_flight == 0:
                break
            await asyncio.sleep(0.02)
        assert in_flight == 0  # generation stopped, not running on for 10 s
        bad = await client.post(
            f"{worker.endpoint}/v1/chat/completions",
            json={"model": "sim", "messages": [], "stream": True},
        )
        assert bad.status_code == 400  # errors still surface on the watched path
