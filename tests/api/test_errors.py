"""Validation errors name the field inside the body, not Litestar's "data"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar, post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient

from gpuproxy.api.errors import EXCEPTION_HANDLERS


class Inner(msgspec.Struct):
    count: int


class Body(msgspec.Struct):
    email: str
    inner: Inner | None = None


@post("/echo")
async def echo(data: JSONBody[Body]) -> dict[str, str]:
    return {"email": data.email}


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = Litestar([echo], exception_handlers=EXCEPTION_HANDLERS, logging_config=None)
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "email"),
        ({"email": 5}, "email"),
        # Litestar reports nested fields by their own name (it drops the path).
        ({"email": "a@b.c", "inner": {}}, "count"),
        ({"email": "a@b.c", "inner": {"count": "x"}}, "inner.count"),
    ],
)
async def test_body_errors_name_the_field(
    client: AsyncTestClient[Litestar], body: dict[str, object], param: str
) -> None:
    response = await client.post("/echo", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param
    assert error["message"].startswith(param + ":")
    assert error["type"] == "invalid_request_error"


async def test_malformed_json_is_400(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post(
        "/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
