"""The HTTP plumbing shared by the marketplace clients: one pooled httpx client per
provider, bounded retries on 429 (with or without Retry-After), and one error mapping.

Only requests the provider has certainly not processed are retried: a 429, a connect
error (nothing was sent), and, for idempotent methods, 502/503/504 and read timeouts. A
rent (PUT/POST) that timed out is never re-sent, since that could rent twice.

A request may name the endpoint it calls (`pace=`): with a `Pacer`, every attempt of it
first waits for that endpoint's slot, and a 429 pushes the endpoint's next slot back
(providers/pacing.py), so retries are spaced as the provider asks, not by guesswork.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from gpuproxy.providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
)
from gpuproxy.providers.pacing import Pacer

__all__ = ["ApiClient", "RetryPolicy", "default_error", "error_text"]

log = logging.getLogger(__name__)

_IDEMPOTENT = frozenset({"GET", "DELETE", "HEAD"})
_RETRY_5XX = frozenset({502, 503, 504})

ErrorMapper = Callable[[str, httpx.Response], ProviderError]


class RetryPolicy:
    """Bounded exponential backoff with full jitter; Retry-After wins when present."""

    def __init__(
        self, attempts: int = 5, base_s: float = 0.5, max_s: float = 8.0, jitter: bool = True
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.attempts = attempts
        self.base_s = base_s
        self.max_s = max_s
        self.jitter = jitter

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        if response is not None:
            after = response.headers.get("retry-after", "")
            if after.replace(".", "", 1).isdigit():
                return min(float(after), self.max_s)
        ceiling = min(self.max_s, self.base_s * (2**attempt))
        # Full jitter keeps several proxy instances from retrying in lockstep.
        return random.uniform(ceiling / 2, ceiling) if self.jitter else ceiling  # noqa: S311


def error_text(response: httpx.Response, limit: int = 300) -> str:
    """The provider's error message from a JSON body ({"msg"}, {"error"}, {"detail"}) or text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:limit] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("msg", "message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:limit]
            if isinstance(value, list) and value:
                parts = []
                for item in value[:5]:
                    if isinstance(item, dict):
                        loc = ".".join(str(p) for p in item.get("loc", []))
                        parts.append(f"{loc}: {item.get('msg', '')}".strip(": "))
                    else:
                        parts.append(str(item))
                return "; ".join(parts)[:limit]
    return str(body)[:limit]


def default_error(provider: str, response: httpx.Response) -> ProviderError:
    status = response.status_code
    message = f"HTTP {status}: {error_text(response)}"
    if status in (401, 403):
        return ProviderAuthError(provider, message, status=status)
    if status in (404, 410):
        return ProviderNotFound(provider, message, status=status)
    if status == 429:
        return ProviderRateLimited(provider, message, status=status)
    if 400 <= status < 500:
        return ProviderBadRequest(provider, message, status=status)
    return ProviderUnavailable(provider, message, status=status)


class ApiClient:
    """A JSON API at `base_url` with fixed auth headers; `request` returns 2xx responses."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        error_mapper: ErrorMapper = default_error,
        transport: httpx.AsyncBaseTransport | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self.pacer = pacer
        self._error_mapper = error_mapper
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Accept": "application/json", "User-Agent": "aiserve-gpuproxy", **headers},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        pace: str | None = None,
    ) -> httpx.Response:
        """Send with retries; `pace` names the endpoint whose pacing applies (if any)."""
        method = method.upper()
        last: httpx.Response | None = None
        for attempt in range(self.retry.attempts):
            final = attempt == self.retry.attempts - 1
            if self.pacer is not None and pace is not None:
                await self.pacer.wait(pace)
            try:
                response = await self._client.request(method, path, params=params, json=json)
            except httpx.ConnectError as exc:
                if final:
                    raise ProviderUnavailable(self.provider, f"cannot connect: {exc}") from None
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            except httpx.TimeoutException as exc:
                if final or method not in _IDEMPOTENT:
                    raise ProviderUnavailable(
                        self.provider, f"{method} {path} timed out ({type(exc).__name__})"
                    ) from None
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            except httpx.HTTPError as exc:
                raise ProviderUnavailable(self.provider, f"{method} {path}: {exc}") from None
            if response.status_code < 400:
                return response
            last = response
            if response.status_code == 429 and self.pacer is not None and pace is not None:
                self.pacer.refused(pace)
            retryable = response.status_code == 429 or (
                method in _IDEMPOTENT and response.status_code in _RETRY_5XX
            )
            if not retryable or final:
                break
            delay = self.retry.delay(attempt, response)
            log.info(
                "%s: %s %s answered %d, retrying in %.2fs",
                self.provider,
                method,
                path,
                response.status_code,
                delay,
            )
            await asyncio.sleep(delay)
        assert last is not None
        raise self._error_mapper(self.provider, last)
