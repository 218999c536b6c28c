"""The one error vocabulary: the `type` of an error answer, by status.

Every error body is `{"error": {"message", "type", "code", "param"}}`. The `type` comes
from one table, the data plane's (`ERROR_TYPES` in
`crates/gpuproxy-core/src/gateway/respond.rs`, read here through `gpuproxy._core`), so
the Rust hot routes, the gateway's Python routes and the rest of the API agree:

=======================  =====================================================
status                   type
=======================  =====================================================
400 405 413 415 422      invalid_request_error
401                      authentication_error
402                      insufficient_quota
403                      permission_error
404                      invalid_request_error (OpenAI), not_found_error (API)
408                      timeout_error
409                      conflict_error (API), invalid_request_error (OpenAI)
429                      rate_limit_error
502                      upstream_error
503                      service_unavailable
504                      upstream_timeout
other 4xx                invalid_request_error (OpenAI), api_error (API)
other 5xx                api_error
=======================  =====================================================

Two dialects of that table, chosen by the error (`ApiError.openai`):

- **OpenAI** (the inference gateway: the data plane and `GatewayError`): what OpenAI's API
  answers, so its SDK raises the right class; an unknown model is a 404
  `invalid_request_error` with code `model_not_found`, and `param` is always present
  (null when no field is at fault).
- **API** (every other route): the same table, with the two cases OpenAI has no type for
  named (404 `not_found_error`, 409 `conflict_error`), any other unlisted status called
  `api_error`, and `param` left out when no field is at fault.

There is no default `code` per status: the code is the error's own (`model_not_found`,
`spending_limit_exceeded`, ...) and null when it has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from gpuproxy._core import ERROR_TYPES

__all__ = ["API_TYPES", "OPENAI_TYPES", "error_body", "error_type"]

#: The data plane's table: status -> `type` on the OpenAI routes.
OPENAI_TYPES: Final[Mapping[int, str]] = MappingProxyType(dict(ERROR_TYPES))
#: The same table with the statuses OpenAI has no type for named, for every other route.
API_TYPES: Final[Mapping[int, str]] = MappingProxyType(
    {**OPENAI_TYPES, 404: "not_found_error", 409: "conflict_error"}
)


def error_type(status: int, *, openai: bool = False) -> str:
    """The `type` of an error answer with `status` (see the module's table)."""
    if openai:
        fallback = "api_error" if status >= 500 else "invalid_request_error"
        return OPENAI_TYPES.get(status, fallback)
    return API_TYPES.get(status, "api_error")


def error_body(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    openai: bool = False,
    top_level: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The error body of either dialect; `top_level` adds fields next to `error` (billing
    puts guard-rail `violations` there)."""
    error: dict[str, Any] = {"message": message, "type": error_type(status, openai=openai)}
    if openai:
        error["param"] = param
    error["code"] = code
    if param is not None and not openai:
        error["param"] = param
    body: dict[str, Any] = {"error": error}
    if top_level:
        body.update({k: v for k, v in top_level.items() if k != "error"})
    return body
