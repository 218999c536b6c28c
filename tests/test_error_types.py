"""One error vocabulary: the data plane's table, read by the control plane in two dialects,
and `GatewayError` answered by the app's one `ApiError` handler."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from gpuproxy import _core
from gpuproxy.api.errors import EXCEPTION_HANDLERS
from gpuproxy.error_types import API_TYPES, OPENAI_TYPES, error_body, error_type
from gpuproxy.exceptions import ApiError
from gpuproxy.gateway.errors import GatewayError


def test_the_openai_dialect_is_the_data_plane_table() -> None:
    assert dict(_core.ERROR_TYPES) == dict(OPENAI_TYPES)
    for status in range(400, 600):
        fallback = "api_error" if status >= 500 else "invalid_request_error"
        assert error_type(status, openai=True) == OPENAI_TYPES.get(status, fallback)


@pytest.mark.parametrize(
    ("status", "openai", "api"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (404, "invalid_request_error", "not_found_error"),
        (409, "invalid_request_error", "conflict_error"),
        (418, "invalid_request_error", "api_error"),
        (429, "rate_limit_error", "rate_limit_error"),
        (500, "api_error", "api_error"),
        (504, "upstream_timeout", "upstream_timeout"),
    ],
)
def test_the_dialects_differ_only_where_openai_has_no_type(
    status: int, openai: str, api: str
) -> None:
    assert error_type(status, openai=True) == openai
    assert error_type(status) == api
    assert API_TYPES.get(status, "api_error") == api


def test_the_openai_dialect_always_carries_param() -> None:
    assert error_body(404, "m", code="model_not_found", openai=True) == {
        "error": {
            "message": "m",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }
    assert error_body(404, "m", code="x") == {
        "error": {"message": "m", "type": "not_found_error", "code": "x"}
    }


@get("/gateway-refusal")
async def gateway_refusal() -> None:
    raise GatewayError(404, "no shared pool named 'x'", code="not_found")


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = Litestar([gateway_refusal], exception_handlers=EXCEPTION_HANDLERS, logging_config=None)
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def test_a_gateway_error_is_answered_by_the_api_error_handler(
    client: AsyncTestClient[Litestar],
) -> None:
    assert issubclass(GatewayError, ApiError)
    response = await client.get("/gateway-refusal")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "no shared pool named 'x'",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }
