"""The official openai SDK against the real daemon (subprocess) and real workers: one
rented from the local fleet through the API (it registers itself), one started directly and
configured as a static shared upstream. Models, chat (plain and streamed with usage),
completions, embeddings (float and base64), and the errors the SDK maps to exceptions."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from tests.helpers import TEST_JWT_SECRET, free_port

from gpuproxy.providers._workerproc import WorkerProcess

pytestmark = pytest.mark.e2e

FLEET_MODEL = "fleet-llm"
SHARED_MODEL = "shared-llm"


def _wait(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not become ready")


@pytest.fixture(scope="module")
def shared_worker() -> Iterator[WorkerProcess]:
    worker = WorkerProcess.spawn(["--backend", "simulate", "--model", SHARED_MODEL])
    try:
        assert asyncio.run(worker.wait_healthy(30))
        yield worker
    finally:
        asyncio.run(worker.stop(grace_s=3))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_worker: WorkerProcess) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openai-e2e")
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp / "data"),
        "PORT": str(port),
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "LOG_FILE": str(tmp / "server.log"),
        "GATEWAY_UPSTREAMS": f"{SHARED_MODEL}={shared_worker.endpoint}",
        # Shared tokens cost $1000 per million completion tokens; $5 per 5 minutes (the
        # rented GPU's first hour, $0.34, is held against it too).
        "GATEWAY_DEFAULT_OUTPUT_PRICE": "1000",
        "GUARDRAILS_ENABLED": "true",
        "GUARDRAILS_MAX_5MIN_RATE": "5.00",
        # Credits are enforced (the default): each account starts with $1000, so the
        # guard rail is what refuses the $100 request below.
        "NEW_USER_CREDIT_USD": "1000",
    }
    daemon = Path(sys.executable).parent / "aiserve-gpuproxyd"
    proc = subprocess.Popen(
        [str(daemon)], env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        _wait(f"http://127.0.0.1:{port}/health", proc, "the server")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr.decode()[-2000:]


@pytest.fixture(scope="module")
def api_key(server: str) -> str:
    """A user with an API key and a local-fleet GPU rented through the API."""
    with httpx.Client(base_url=server, timeout=30) as http:
        return _user_with_key_and_gpu(http)


def _user_with_key_and_gpu(http: httpx.Client) -> str:
    credentials = {"email": "sdk-user@example.com", "password": "correct horse battery"}
    assert http.post("/api/v1/auth/register", json=credentials).status_code == 201
    token = http.post("/api/v1/auth/login", json=credentials).json()["access_token"]
    jwt = {"Authorization": f"Bearer {token}"}
    key: str = http.post("/api/v1/auth/apikeys", json={"name": "sdk"}, headers=jwt).json()["key"]
    offers = http.get("/api/v1/gpu/instances", params={"provider": "local"}, headers=jwt).json()
    cheapest = min(offers["instances"], key=lambda o: float(o["price_per_hour"]))
    offer_id = cheapest["id"]
    rented = http.post(
        f"/api/v1/gpu/instances/local/{offer_id}", json={"models": [FLEET_MODEL]}, headers=jwt
    )
    assert rented.status_code == 201, rented.text
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        listed = http.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json()
        if FLEET_MODEL in {m["id"] for m in listed["data"]}:
            return key
        time.sleep(0.2)
    raise AssertionError("the rented worker never registered")


@pytest.fixture
def client(server: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=api_key, max_retries=0, timeout=30)


def test_models(client: openai.OpenAI) -> None:
    models = {m.id: m.owned_by for m in client.models.list()}
    assert models == {FLEET_MODEL: "you", SHARED_MODEL: "static"}
    assert client.models.retrieve(FLEET_MODEL).id == FLEET_MODEL


def test_chat_plain_and_streamed_with_usage(client: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me about GPUs"}]
    plain = client.chat.completions.create(model=FLEET_MODEL, messages=messages, seed=7)
    assert plain.choices[0].message.content
    assert plain.usage is not None
    assert plain.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model=FLEET_MODEL,
        messages=messages,
        seed=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == plain.choices[0].message.content
    assert usage is not None
    assert usage.completion_tokens == plain.usage.completion_tokens


def test_completions_and_embeddings(client: openai.OpenAI) -> None:
    completion = client.completions.create(model=FLEET_MODEL, prompt="Once upon", max_tokens=6)
    assert completion.choices[0].text
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 6
    as_base64 = client.embeddings.create(model=FLEET_MODEL, input=["alpha", "beta"])
    as_float = client.embeddings.create(
        model=FLEET_MODEL, input=["alpha", "beta"], encoding_format="float"
    )
    assert len(as_base64.data) == 2
    assert as_base64.data[0].embedding == pytest.approx(as_float.data[0].embedding, rel=1e-6)


def test_errors_map_to_sdk_exceptions(server: str, client: openai.OpenAI) -> None:
    bad = openai.OpenAI(base_url=f"{server}/v1", api_key="gpx_bad_key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.code == "model_not_found"
    # Shared tokens are priced: 100k completion tokens would cost $100, over the $5 window.
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(
            model=SHARED_MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=100_000
        )
    assert refused.value.status_code == 402
    assert refused.value.response.headers["x-guardrails-exceeded"] == "true"
    small = client.chat.completions.create(
        model=SHARED_MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=3
    )
    assert small.choices[0].message.content
