"""Every error answers `{"error": {"message", "type", "code"}}` (the OpenAI shape).

Client mistakes (validation, bad JSON, unknown routes) are 4xx naming the problem; an
unexpected exception is a 500 with no internals in the body (logged with the request id).
Deliberate domain errors (`gpuproxy.exceptions.ApiError`: accounts, billing, providers,
the gateway's `GatewayError`) go through one handler: their status, code, param, extra
body fields and headers. The `type` of each status is in `gpuproxy.error_types`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from gpuproxy.error_types import error_body
from gpuproxy.exceptions import ApiError

__all__ = ["EXCEPTION_HANDLERS", "api_error_body", "error_parts"]

log = logging.getLogger(__name__)

_AT_PATH = re.compile(r"at `\$\.?([^`]*)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def _body_field(message: str) -> str | None:
    """The body field a msgspec message is about: "Expected `int`, got `str` - at `$.a.b`"
    names a.b; "Object missing required field `x` - at `$.a`" names a.x."""
    at = _AT_PATH.search(message)
    path = at.group(1) if at else ""
    missing = _MISSING_FIELD.search(message)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or None


def _validation_message(exc: ValidationException) -> tuple[str, str | None]:
    extra = exc.extra
    if isinstance(extra, list) and extra:
        first = extra[0]
        if isinstance(first, dict):
            key = first.get("key")
            message = str(first.get("message", exc.detail))
            if first.get("source") == "body" or key == "data":
                # Litestar names the whole body "data"; name the field inside it instead.
                key = _body_field(message) or key
            if key:
                return f"{key}: {message}", str(key)
            return message, None
    return str(exc.detail), None


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        message, param = _validation_message(exc)
        body = error_body(400, message, code="invalid_value", param=param)
        return Response(body, status_code=400)
    headers = dict(exc.headers or {})
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    body = error_body(exc.status_code, str(exc.detail), code=extra.get("code"))
    return Response(body, status_code=exc.status_code, headers=headers)


def api_error_body(exc: ApiError) -> dict[str, Any]:
    """The JSON body of a deliberate error: `error` plus the error's extra top-level fields."""
    return error_body(
        exc.http_status,
        str(exc),
        code=exc.code,
        param=exc.param,
        openai=exc.openai,
        top_level=exc.body_extra(),
    )


def error_parts(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for an error reported inside a larger answer (e.g. one slot of
    a GPU reservation); anything but an `ApiError` is a logged 500 with no internals."""
    if isinstance(exc, ApiError):
        return exc.http_status, api_error_body(exc), exc.headers()
    log.error("unexpected error", exc_info=exc)
    return 500, error_body(500, "internal server error", code="internal"), {}


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return Response(api_error_body(exc), status_code=exc.http_status, headers=exc.headers())


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = error_body(HTTP_500_INTERNAL_SERVER_ERROR, "internal server error", code="internal")
    return Response(body, status_code=HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: _http_exception,
    ApiError: _api_error,
    Exception: _unexpected,
}
