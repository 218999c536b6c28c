"""Gateway errors in the OpenAI shape: `{"error": {"message", "type", "param", "code"}}`.

Raised by the control plane's gateway routes (monitoring, the generic protocol proxy) and
used to word the refusals billing hands to the data plane; the status code decides which
exception the openai SDK raises (401 AuthenticationError, 404 NotFoundError, 429
RateLimitError, ...). `GatewayError` is an `ApiError`, so the app's one handler answers
it; its `type` is the OpenAI dialect of `gpuproxy.error_types`.
"""

from __future__ import annotations

import msgspec

from gpuproxy.error_types import error_body
from gpuproxy.exceptions import ApiError

__all__ = ["GatewayError", "error_json"]

_encoder = msgspec.json.Encoder()


def error_json(exc: ApiError) -> bytes:
    """The encoded OpenAI-shaped body of `exc`, whichever area raised it (billing's
    refusals reach clients through the data plane)."""
    body = error_body(
        exc.http_status,
        str(exc),
        code=exc.code,
        param=exc.param,
        openai=True,
        top_level=exc.body_extra(),
    )
    return _encoder.encode(body)


class GatewayError(ApiError):
    """An answer other than a forwarded one: status and OpenAI error fields."""

    code: str | None = None
    openai = True

    def __init__(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message, code=code, param=param)
        self.http_status = status

    @property
    def status(self) -> int:
        return self.http_status

    def body(self) -> bytes:
        return error_json(self)

    def __repr__(self) -> str:
        return f"GatewayError({self.status}, {self.message!r}, code={self.code!r})"
