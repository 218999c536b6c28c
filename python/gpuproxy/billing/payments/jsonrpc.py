"""A JSON-RPC 2.0 client for EVM nodes and node gateways (Infura, Alchemy, public RPCs).

What it survives, because real endpoints answer it:
- Rate limits, retried with back-off inside a small budget: HTTP 429 (Alchemy, Infura; a
  `Retry-After` in seconds is honoured), error code -32005 "limit exceeded" (EIP-1474; Infura
  adds `data.backoff_seconds`) and error code 429 (Alchemy, MetaMask/Infura key limits). A
  limit that outlasts the budget becomes a 503 with Retry-After for our caller.
- An `error` that is a string (some gateways) or an object (the spec), and `"error": null`
  next to a result.
- Anything else unusable (HTML error pages, a body without `result`) is a 502.
The endpoint URL often embeds an API key, so it is never logged or put in a message.

Sources: https://www.jsonrpc.org/specification (error object), EIP-1474 (-32005),
https://docs.infura.io/api/networks/ethereum/how-to/avoid-rate-limiting,
https://docs.alchemy.com/reference/throughput (429, Retry-After, exponential back-off).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from gpuproxy.billing.errors import PaymentProviderBusy, PaymentProviderError

__all__ = ["JsonRpcClient", "quantity"]

log = logging.getLogger(__name__)

_RATE_LIMIT_CODES = frozenset({-32005, 429})
_MESSAGE_LIMIT = 200


def quantity(value: Any, what: str) -> int:
    """An Ethereum hex quantity ("0x1b4") as an int; anything else is the endpoint's fault."""
    if isinstance(value, str) and value.startswith("0x") and len(value) > 2:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise PaymentProviderError(
        f"the blockchain endpoint answered an invalid {what}", code="rpc_error"
    )


class _RateLimited(Exception):
    def __init__(self, wait: float | None) -> None:
        self.wait = wait


class JsonRpcClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 15,
        attempts: int = 4,
        first_delay: float = 0.25,
        budget: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._url = url
        self._http = httpx.AsyncClient(timeout=timeout)
        self._attempts = attempts
        self._first_delay = first_delay
        self._budget = budget
        self._sleep = sleep
        self._id = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, params: list[Any]) -> Any:
        """`result` of one call; raises PaymentProviderBusy / PaymentProviderError."""
        waited = 0.0
        for attempt in range(self._attempts):
            try:
                return await self._once(method, params)
            except _RateLimited as limited:
                backoff = self._first_delay * 2**attempt * (1 + random.random() / 4)  # noqa: S311
                wait = max(limited.wait or 0.0, backoff)
                if attempt == self._attempts - 1 or waited + wait > self._budget:
                    log.warning("JSON-RPC %s rate-limited; giving up", method)
                    raise PaymentProviderBusy(
                        "the blockchain endpoint is rate-limiting us; try again later",
                        retry_after=max(1, round(limited.wait or wait)),
                        code="rpc_rate_limited",
                    ) from None
                log.info("JSON-RPC %s rate-limited; retrying in %.2f s", method, wait)
                waited += wait
                await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        payload = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        try:
            response = await self._http.post(self._url, json=payload)
        except httpx.HTTPError as exc:
            log.warning("JSON-RPC %s failed: %s", method, type(exc).__name__)
            raise PaymentProviderError(
                "the blockchain endpoint did not answer; try again later", code="rpc_error"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code == 429 or _error_code(error) in _RATE_LIMIT_CODES:
            raise _RateLimited(_retry_after(response, error))
        if error is not None:
            raise PaymentProviderError(
                f"the blockchain endpoint refused {method}: {_error_message(error)}",
                code="rpc_error",
            )
        if not isinstance(body, dict) or "result" not in body:
            log.warning("JSON-RPC %s: unusable answer (HTTP %s)", method, response.status_code)
            raise PaymentProviderError(
                f"the blockchain endpoint gave no usable answer to {method}", code="rpc_error"
            )
        return body["result"]


def _error_code(error: Any) -> Any:
    return error.get("code") if isinstance(error, dict) else None


def _error_message(error: Any) -> str:
    text = error.get("message") if isinstance(error, dict) else error
    return str(text)[:_MESSAGE_LIMIT]


def _retry_after(response: httpx.Response, error: Any) -> float | None:
    """Seconds the endpoint asked us to wait: `Retry-After` or Infura's `backoff_seconds`."""
    header = response.headers.get("retry-after", "")
    if header.strip().isdigit():
        return float(header)
    data = error.get("data") if isinstance(error, dict) else None
    backoff = data.get("backoff_seconds") if isinstance(data, dict) else None
    if isinstance(backoff, (int, float)) and not isinstance(backoff, bool) and backoff >= 0:
        return float(backoff)
    return None
