"""Exception classes of gpuproxy; the Rust extension raises these too.

`gpuproxy._core` imports this module at load time (PyO3 `import_exception!`), so the
classes here are the one place error types are defined for both languages.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "BackendNotFound",
    "ConfigError",
    "GpuProxyError",
    "NoBackendAvailable",
    "RateLimited",
    "SpendLimitExceeded",
    "UpstreamError",
]


class GpuProxyError(Exception):
    """Base class of every error gpuproxy raises on purpose."""


class ApiError(GpuProxyError):
    """A deliberate, client-facing error: the one app-wide handler (`gpuproxy.api.errors`)
    answers `http_status` with `{"error": {"message", "type", "code", "param"}}`, the
    fields of `body_extra()` next to `error`, and the `headers()`.

    Areas subclass it (accounts, billing, providers, the gateway) and set `http_status`
    and `code` as class attributes; `param` names the field or header the error is about.
    `openai` picks the dialect of `gpuproxy.error_types` the body is written in: OpenAI's
    own (the inference gateway's errors) or the API's.
    """

    http_status: int = 400
    code: str | None = "invalid_request"
    param: str | None = None
    openai: bool = False

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if param is not None:
            self.param = param

    def body_extra(self) -> dict[str, Any]:
        """Top-level fields added next to `error` in the response body."""
        return {}

    def headers(self) -> dict[str, str]:
        """Response headers (e.g. Retry-After)."""
        return {}


class ConfigError(GpuProxyError):
    """A setting is missing or invalid; the message names the variable and accepted values."""


class NoBackendAvailable(GpuProxyError):
    """No healthy backend can take a request (all drained, unhealthy or at max concurrency)."""


class BackendNotFound(GpuProxyError, KeyError):
    """A backend id is not in the pool."""


class SpendLimitExceeded(ApiError):
    """A reservation would take one or more spend windows past their limit (402).

    `windows` lists the names of the windows that would be exceeded (e.g. ``"5min"``,
    ``"1440min"``, ``"48h"``; all names are in ``gpuproxy._core.SPEND_WINDOWS``).
    """

    http_status = 402
    code = "spending_limit_exceeded"

    def __init__(self, message: str, windows: list[str] | None = None) -> None:
        super().__init__(message)
        self.windows: list[str] = list(windows or [])

    def body_extra(self) -> dict[str, Any]:
        return {"windows": list(self.windows)}

    def headers(self) -> dict[str, str]:
        return {"X-GuardRails-Exceeded": "true"}


class RateLimited(GpuProxyError):
    """The rate limiter refused; `retry_after_ms` says when the request would be allowed."""

    def __init__(self, message: str, retry_after_ms: int = 0) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class UpstreamError(GpuProxyError):
    """Forwarding failed; `kind` is one of connect, timeout, reset, protocol, body_too_large."""

    def __init__(self, message: str, kind: str = "protocol", status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self._status = status

    @property
    def http_status(self) -> int:
        """The status a gateway answers: as classified by the core when it raised this
        (413 for a request body over the limit), else 504 for timeouts and 502 otherwise."""
        if self._status is not None:
            return self._status
        return 504 if self.kind == "timeout" else 502
