"""Exception classes of gpuproxy; the Rust extension raises these too.

`gpuproxy._core` imports this module at load time (PyO3 `import_exception!`), so the
classes here are the one place error types are defined for both languages.
"""

from __future__ import annotations

__all__ = [
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


class ConfigError(GpuProxyError):
    """A setting is missing or invalid; the message names the variable and accepted values."""


class NoBackendAvailable(GpuProxyError):
    """No healthy backend can take a request (all drained, unhealthy or at max concurrency)."""


class BackendNotFound(GpuProxyError, KeyError):
    """A backend id is not in the pool."""


class SpendLimitExceeded(GpuProxyError):
    """A reservation would take one or more spend windows past their limit.

    `windows` lists the names of the windows that would be exceeded (e.g. ``"5min"``,
    ``"1440min"``, ``"48h"``; all names are in ``gpuproxy._core.SPEND_WINDOWS``).
    """

    def __init__(self, message: str, windows: list[str] | None = None) -> None:
        super().__init__(message)
        self.windows: list[str] = list(windows or [])


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
