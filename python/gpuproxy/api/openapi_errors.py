"""The OpenAPI schema's account of errors and credentials, added to every route at once.

Every error answers `{"error": {"message", "type", "code"}}` (`gpuproxy.api.errors`), but
Litestar's generator documents its own `{"status_code", "detail"}` 400 and nothing else, so
clients and schema-driven tools (schemathesis in `tests/api/test_fuzz_openapi.py`) were told
the wrong body and too few status codes. `ErrorDocsPlugin` fixes that where routes are
registered, from each route's shape, so no controller has to repeat it:

- 400 when the route takes input (path, query or header parameters, a body, the request);
- 401 when a guard from `gpuproxy.api.guards` authenticates the caller, and 403 when that
  guard also checks a scope or admin privilege (those operations also name the two
  credential schemes, `security`);
- 404 when the path names a resource (`{id}`);
- 429 and 503 on every route: the authentication middleware rate-limits any request that
  carries credentials and answers 503 (retry) when the credential store is down.

A route adds its own statuses (402, 409, 502, ...) in its decorator's `responses=` or through
`ROUTE_ERRORS` below; what a route declares itself wins over these defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec
from litestar.constants import RESERVED_KWARGS
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute

from gpuproxy.api import guards

__all__ = [
    "CREDENTIALS",
    "ROUTE_ERRORS",
    "SECURITY_COMPONENTS",
    "ErrorBody",
    "ErrorDetail",
    "ErrorDocsPlugin",
    "error_response",
    "error_responses",
    "route_error_statuses",
]


class ErrorDetail(msgspec.Struct, kw_only=True):
    message: str
    type: str
    code: str | None
    param: str | None = None


class ErrorBody(msgspec.Struct, kw_only=True):
    """An error answer. Some carry more top-level fields (a 402 from the guard rails adds
    `violations`), which the schema allows."""

    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Invalid input: `error.param` names the field, header or parameter",
    401: "Missing or invalid credentials (JWT, API key, password or refresh token)",
    402: "Not enough credits, a quota or a spending limit reached, or a card declined",
    403: "The credentials lack the scope or the admin privilege this route needs",
    404: "No such resource, or a feature this server is not configured for",
    409: "Conflicts with the current state (e.g. an idempotency key reused with other input)",
    413: "The body is too large",
    429: "Rate limit or usage quota reached: retry after `Retry-After` seconds",
    502: "An upstream service (provider, payment processor, chain) failed",
    503: "A service this route needs is unavailable right now: retry later",
    504: "An upstream service timed out",
}

#: Statuses particular to one operation, keyed `"METHOD /path"` (the path as Litestar
#: formats it, `/api/v1/x/{id}`), for answers the route's shape does not tell.
ROUTE_ERRORS: dict[str, tuple[int, ...]] = {
    "POST /api/v1/auth/login": (401,),  # wrong email or password
    "POST /api/v1/auth/refresh": (401,),  # expired or revoked refresh token
    "POST /api/v1/auth/register": (409,),  # email taken
    "POST /api/v1/admin/users": (409,),  # email taken
    # Money: declined or short of credits, a payment method this server lacks (404), an
    # idempotency key reused with other input, the processor or chain failing.
    "POST /api/v1/billing/payment": (402, 404, 409, 502),
    "POST /api/v1/billing/payments/{payment_id}/crypto": (409, 502),
    "POST /api/v1/billing/webhooks/stripe": (404, 502),
    "POST /api/v1/billing/webhooks/afterdark": (404,),
    # GPU marketplaces: credits or limits, an offer gone, the provider failing.
    "GET /api/v1/gpu/instances": (502,),
    "POST /api/v1/gpu/instances/{provider}/{offer_id}": (402, 409, 502),
    "POST /api/v1/gpu/instances/reserve": (402, 502),
    "GET /api/v1/gpu/instances/{provider}/{instance_id}": (502,),
    "DELETE /api/v1/gpu/instances/{provider}/{instance_id}": (502,),
    "POST /api/v1/gpu/proxy": (502, 504),  # the target unreachable or too slow
}

_BEARER = "BearerAuth"
_API_KEY = "ApiKeyAuth"
SECURITY_COMPONENTS = Components(
    security_schemes={
        _BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="A JWT from /api/v1/auth/login, or an API key (`gpx_...`)",
        ),
        _API_KEY: SecurityScheme(
            type="apiKey", name="X-API-Key", security_scheme_in="header", description="An API key"
        ),
    }
)
#: The `security` of an operation that needs credentials: either scheme.
CREDENTIALS: list[dict[str, list[str]]] = [{_BEARER: []}, {_API_KEY: []}]


def error_response(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=ErrorBody,
        description=_DESCRIPTIONS.get(status, "Error"),
        generate_examples=False,
    )


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` for a route whose errors its shape does not tell (e.g. the documented-only
    data-plane routes)."""
    return {status: error_response(status) for status in statuses}


def _guard_statuses(handler: HTTPRouteHandler) -> set[int]:
    """401 (and 403) for a route guarded by `gpuproxy.api.guards`; the raw guards, because
    `resolve_guards` wraps them."""
    statuses: set[int] = set()
    for layer in handler.ownership_layers:
        for guard in layer.guards or ():
            if getattr(guard, "__module__", None) != guards.__name__:
                continue
            statuses.add(401)
            if guard is not guards.requires_auth:
                statuses.add(403)
    return statuses


def _takes_input(handler: HTTPRouteHandler, route: HTTPRoute) -> bool:
    if route.path_parameters:
        return True
    dependencies = handler.resolve_dependencies()
    for name in handler.parsed_fn_signature.parameters:
        if name in ("data", "body", "request", "query", "headers", "cookies"):
            return True
        if name not in RESERVED_KWARGS and name not in dependencies:
            return True
    return False


def route_error_statuses(handler: HTTPRouteHandler, route: HTTPRoute) -> set[int]:
    """The error statuses `handler` on `route` documents (see the module docstring)."""
    statuses = {429, 503} | _guard_statuses(handler)
    if _takes_input(handler, route):
        statuses.add(400)
    if route.path_parameters:
        statuses.add(404)
    path = route.path_format or "/"
    for method in handler.http_methods:
        statuses.update(ROUTE_ERRORS.get(f"{method} {path}", ()))
    return statuses


def _merged(
    declared: Mapping[int, ResponseSpec] | None, statuses: Iterable[int]
) -> dict[int, ResponseSpec]:
    responses = error_responses(*sorted(statuses))
    responses.update(declared or {})
    return responses


class ErrorDocsPlugin(ReceiveRoutePlugin):
    """Documents each HTTP route's error statuses (and credentials) as it is registered."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            handler.responses = _merged(handler.responses, route_error_statuses(handler, route))
            if 401 in _guard_statuses(handler) and handler.security is None:
                handler.security = list(CREDENTIALS)
