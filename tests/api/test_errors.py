"""Validation errors name the field inside the body, not Litestar's "data"; every `ApiError`
subclass is answered by the one app-wide handler with its status, code, param, headers and
extra body fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import AsyncTestClient

from gpuproxy.accounts.errors import AccountsError, AuthUnavailable, InvalidInput, LoginThrottled
from gpuproxy.api.errors import EXCEPTION_HANDLERS, error_parts
from gpuproxy.billing.errors import BillingError, QuotaExceededError
from gpuproxy.exceptions import ApiError
from gpuproxy.providers.errors import ProviderError, ProviderNotFound


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


class _Teapot(ApiError):
    """A made-up area error: every hook of the base class overridden."""

    http_status = 418
    code = "teapot"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "7", "X-Teapot": "short"}

    def body_extra(self) -> dict[str, Any]:
        return {"spout": {"width": 3}}


@get("/raise/{name:str}")
async def raise_named(name: FromPath[str]) -> None:
    errors: dict[str, Exception] = {
        "teapot": _Teapot("no coffee here", param="beverage"),
        "input": InvalidInput("email", "is required"),
        "throttled": LoginThrottled(12),
        "unavailable": AuthUnavailable("the session store is unavailable"),
        "quota": QuotaExceededError("request quota reached", retry_after=0),
        "provider": ProviderNotFound("vast.ai", "offer 7 is gone"),
        "plain": RuntimeError("secret internals"),
    }
    raise errors[name]


@pytest.fixture
async def raising_client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = Litestar([raise_named], exception_handlers=EXCEPTION_HANDLERS, logging_config=None)
    async with AsyncTestClient(app) as test_client:
        yield test_client


def test_area_errors_share_the_one_base() -> None:
    for area in (AccountsError, BillingError, ProviderError):
        assert issubclass(area, ApiError)


async def test_one_handler_renders_an_api_error_subclass(
    raising_client: AsyncTestClient[Litestar],
) -> None:
    response = await raising_client.get("/raise/teapot")
    assert response.status_code == 418
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-teapot"] == "short"
    assert response.json() == {
        "error": {
            "message": "no coffee here",
            "type": "api_error",
            "code": "teapot",
            "param": "beverage",
        },
        "spout": {"width": 3},
    }
    assert error_parts(_Teapot("x"))[0] == 418


@pytest.mark.parametrize(
    ("name", "status", "code", "param", "headers"),
    [
        ("input", 400, "invalid_value", "email", {}),
        ("throttled", 429, "login_throttled", None, {"retry-after": "12"}),
        ("unavailable", 503, "auth_unavailable", None, {"retry-after": "1"}),
        ("quota", 429, "quota_exceeded", None, {"retry-after": "1"}),
        ("provider", 404, "provider_not_found", None, {}),
    ],
)
async def test_area_errors_keep_status_code_param_and_headers(
    raising_client: AsyncTestClient[Litestar],
    name: str,
    status: int,
    code: str,
    param: str | None,
    headers: dict[str, str],
) -> None:
    response = await raising_client.get(f"/raise/{name}")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error.get("param") == param
    for key, value in headers.items():
        assert response.headers[key] == value
    if not headers:
        assert "retry-after" not in response.headers


async def test_other_exceptions_stay_a_bare_500(raising_client: AsyncTestClient[Litestar]) -> None:
    response = await raising_client.get("/raise/plain")
    assert response.status_code == 500
    assert response.json()["error"] == {
        "message": "internal server error",
        "type": "api_error",
        "code": "internal",
    }
