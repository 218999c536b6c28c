"""Gateway errors in the OpenAI shape: `{"error": {"message", "type", "param", "code"}}`.

Raised by the control plane's gateway routes (monitoring, the generic protocol proxy) and
used to word the refusals billing hands to the data plane; the status code decides which
exception the openai SDK raises (401 AuthenticationError, 404 NotFoundError, 429
RateLimitError, ...).
"""

from __future__ import annotations

from typing import Any

import msgspec

from gpuproxy.exceptions import GpuProxyError

__all__ = ["GatewayError", "error_json"]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    499: "cancelled",
    502: "upstream_error",
    503: "service_unavailable",
    504: "upstream_timeout",
}

_encoder = msgspec.json.Encoder()


def error_json(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    extra: dict[str, Any] | None = None,
    top_level: dict[str, Any] | None = None,
) -> bytes:
    """The encoded OpenAI error body; `extra` adds fields inside `error`, `top_level` next
    to it (billing puts guard-rail `violations` there)."""
    error: dict[str, Any] = {
        "message": message,
        "type": _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
        "param": param,
        "code": code,
    }
    if extra:
        error.update(extra)
    body: dict[str, Any] = {"error": error}
    if top_level:
        body.update({k: v for k, v in top_level.items() if k != "error"})
    return _encoder.encode(body)


class GatewayError(GpuProxyError):
    """An answer other than a forwarded one: status, OpenAI error fields, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        extra: dict[str, Any] | None = None,
        top_level: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or []
        self.extra = extra
        self.top_level = top_level

    def body(self) -> bytes:
        return error_json(
            self.status,
            self.message,
            code=self.code,
            param=self.param,
            extra=self.extra,
            top_level=self.top_level,
        )

    def __repr__(self) -> str:
        return f"GatewayError({self.status}, {self.message!r}, code={self.code!r})"
