"""The HTTP side of `aiserve-gpuproxy-client`: one authenticated httpx client, errors as
one clear line, and the developer (-dv) / debug (-dm) request traces on stderr.

Keys are never printed: traces show only the key's first characters.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, TextIO

import httpx
import msgspec

__all__ = ["ApiClient", "ApiError", "auth_headers"]


class ApiError(Exception):
    """A failed call, already phrased as the one line the CLI prints."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def auth_headers(key: str) -> dict[str, str]:
    """API keys (gpx_...) go in X-API-Key as the seed documents; anything else is a Bearer."""
    if key.startswith("gpx_"):
        return {"X-API-Key": key}
    return {"Authorization": f"Bearer {key}"}


def _redact(name: str, value: str) -> str:
    if name.lower() in ("x-api-key", "authorization", "cookie"):
        return value[:11] + "..." if len(value) > 11 else "..."
    return value


def _error_line(method: str, path: str, response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        code = error.get("code") or error.get("type") or ""
        label = f"{response.status_code} {code}".strip()
        return f"{method} {path}: {label}: {error['message']}"
    reason = response.reason_phrase or "error"
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    detail = f": {text}" if text and text != reason else ""
    return f"{method} {path}: {response.status_code} {reason}{detail}"


class ApiClient:
    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout_s: float = 60.0,
        developer: bool = False,
        debug: bool = False,
        trace: TextIO | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.developer = developer or debug
        self.debug = debug
        self.trace = trace or sys.stderr
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={**auth_headers(key), "User-Agent": "aiserve-gpuproxy-client"},
            timeout=timeout_s,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (),
    ) -> Any:
        """The decoded JSON answer of a 2xx (or a status in `ok`); ApiError otherwise."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        started = time.perf_counter()
        if self.developer:
            query = "?" + str(httpx.QueryParams(params)) if params else ""
            print(f"> {method} {self.base_url}{path}{query}", file=self.trace)
            if self.debug:
                for name, value in self._http.headers.items():
                    print(f">   {name}: {_redact(name, value)}", file=self.trace)
                if json is not None:
                    print(f">   {msgspec.json.encode(json).decode()}", file=self.trace)
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException:
            raise ApiError(f"{method} {path}: no answer from {self.base_url} in time") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach {self.base_url}: {exc}") from None
        if self.developer:
            elapsed_ms = (time.perf_counter() - started) * 1000
            request_id = response.headers.get("x-request-id", "-")
            print(
                f"< {response.status_code} in {elapsed_ms:.1f} ms (request id {request_id})",
                file=self.trace,
            )
            if self.debug:
                for name, value in response.headers.items():
                    print(f"<   {name}: {value}", file=self.trace)
                print(f"<   {response.text[:4000]}", file=self.trace)
        if response.is_success or response.status_code in ok:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                return response.text
        body = None
        with contextlib.suppress(ValueError):
            body = response.json()
        raise ApiError(_error_line(method, path, response), status=response.status_code, body=body)
