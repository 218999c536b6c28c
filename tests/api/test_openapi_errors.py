"""The OpenAPI schema documents the errors the API really answers (gpuproxy.api.openapi_errors),
and the answers the fuzzer found undocumented or wrongly retryable are fixed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.api.conftest import AppClient, MakeUser

from gpuproxy.app import create_app
from gpuproxy.config import Settings

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture
def openapi(make_settings: Callable[..., Settings]) -> dict[str, Any]:
    schema: dict[str, Any] = create_app(make_settings()).openapi_schema.to_schema()
    return schema


def _operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield method.upper(), path, operation


def _error_schema(operation: dict[str, Any], status: int) -> Any:
    return operation["responses"][str(status)]["content"]["application/json"]["schema"]


def test_every_error_response_is_the_shared_error_body(openapi: dict[str, Any]) -> None:
    """No operation documents Litestar's `{"status_code", "detail"}` body any more."""
    checked = 0
    for method, path, operation in _operations(openapi):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, status) == ("/health/ready", "503"):
                continue  # not ready answers the readiness report itself
            if path.startswith("/v2/models/"):
                continue  # the Open Inference Protocol's own shape (tests/serving)
            assert response["content"]["application/json"]["schema"] == ERROR_REF, (
                method,
                path,
                status,
            )
            checked += 1
    assert checked > 300
    detail = openapi["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"message", "type", "code"}
    assert "param" in detail["properties"]


def test_statuses_follow_the_route_shape(openapi: dict[str, Any]) -> None:
    ops = {(method, path): op for method, path, op in _operations(openapi)}

    def statuses(method: str, path: str) -> set[int]:
        return {int(s) for s in ops[(method, path)]["responses"]}

    # Public, takes a body: 400, never 401/403; the email-taken conflict from the table.
    assert statuses("POST", "/api/v1/auth/register") == {201, 400, 409, 429, 503}
    assert "security" not in ops[("POST", "/api/v1/auth/register")]
    # Guarded by a scope, names a resource: 401, 403, 404 and both credential schemes.
    key = ops[("GET", "/api/v1/billing/payments/{payment_id}")]
    assert {400, 401, 403, 404} <= statuses("GET", "/api/v1/billing/payments/{payment_id}")
    assert key["security"] == [{"BearerAuth": []}, {"ApiKeyAuth": []}]
    assert set(openapi["components"]["securitySchemes"]) == {"BearerAuth", "ApiKeyAuth"}
    # No input at all: no 400.
    assert 400 not in statuses("GET", "/api/v1/admin/stats")
    # A payment can be declined, conflict, lack a provider or fail upstream.
    assert {402, 404, 409, 502} <= statuses("POST", "/api/v1/billing/payment")
    assert _error_schema(ops[("POST", "/api/v1/billing/payment")], 402) == ERROR_REF
    # The data plane's hot routes, documented only here, list what the data plane refuses with.
    chat = ops[("POST", "/v1/chat/completions")]
    assert {401, 402, 404, 429, 503} <= statuses("POST", "/v1/chat/completions")
    assert chat["security"] == key["security"]
    # Success statuses besides the default one stay documented.
    assert 202 in statuses("POST", "/api/v1/billing/payments/{payment_id}/crypto")


def test_prometheus_route_documents_and_sends_one_text_type(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"]["/api/monitoring/metrics/prometheus"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/plain; version=0.0.4"]


async def test_prometheus_content_type_has_one_charset(
    client: AppClient, make_user: MakeUser
) -> None:
    admin = await make_user("admin", admin=True)
    answer = await client.get("/api/monitoring/metrics/prometheus", headers=admin)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


@pytest.mark.parametrize("provider", ["stripe", "afterdark"])
async def test_unconfigured_webhook_is_a_permanent_404(client: AppClient, provider: str) -> None:
    """Not a 503: that tells the sender to retry a condition only an operator can change."""
    answer = await client.post(f"/api/v1/billing/webhooks/{provider}", content=b"{}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "provider_not_configured"
    assert "retry-after" not in answer.headers
