"""Fixtures of the model-serving tests: a real gateway (the Rust data plane on a port, the
app behind it on Granian) with model serving's limits set small enough to test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from tests.gateway.support import FAST_ENV, GatewayServer, User, running_gateway

from gpuproxy.config import Settings

from .builders import linear_onnx


@pytest.fixture
def serving_env() -> dict[str, str]:
    """Extra environment for the `gateway` fixture (tests override this fixture)."""
    return {}


@pytest.fixture
async def gateway(
    make_settings: Callable[..., Settings], serving_env: dict[str, str]
) -> AsyncIterator[GatewayServer]:
    env = {**FAST_ENV, "MODELS_MAX_UPLOAD_BYTES": "65536", **serving_env}
    async with running_gateway(make_settings(**env)) as server:
        yield server


async def upload(
    gateway: GatewayServer,
    user: User,
    content: bytes,
    *,
    filename: str = "model.onnx",
    **fields: str,
) -> httpx.Response:
    """POST /api/v1/models/upload as the seed's curl does (-F model=@file -F name=...)."""
    data = {"name": "linear", **fields}
    async with httpx.AsyncClient(base_url=gateway.url, headers=user.headers, timeout=30) as c:
        return await c.post(
            "/api/v1/ml/models/upload", data=data, files={"model": (filename, content)}
        )


async def uploaded_linear(gateway: GatewayServer, user: User, **fields: str) -> str:
    response = await upload(gateway, user, linear_onnx(), **fields)
    assert response.status_code == 201, response.text
    model_id: str = response.json()["model_id"]
    return model_id


def multipart_bytes(content: bytes, **fields: str) -> tuple[bytes, dict[str, str]]:
    """A whole multipart body and its content type, to send in one write."""
    request = httpx.Request(
        "POST", "http://x/", data=fields, files={"model": ("model.onnx", content)}
    )
    return request.read(), {"content-type": request.headers["content-type"]}
