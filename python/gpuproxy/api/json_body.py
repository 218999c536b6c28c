"""The request body as a JSON object, for the routes that read their body by hand (GPU and
agent routes alike)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from gpuproxy.providers.errors import InvalidRequest

__all__ = ["MAX_JSON_BODY", "json_object"]

MAX_JSON_BODY = 256 * 1024


async def json_object(request: Request[Any, Any, Any], *, required: bool) -> dict[str, Any]:
    """The request body as a JSON object; 400 naming `body` for anything else."""
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise InvalidRequest("body", f"larger than {MAX_JSON_BODY} bytes")
    if not raw.strip():
        if required:
            raise InvalidRequest("body", "a JSON object is required")
        return {}
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidRequest("body", "is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("body", "must be a JSON object")
    return data
