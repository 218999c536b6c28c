"""Transport checks of the MCP endpoint: Origin (against DNS rebinding), Content-Type,
Accept, and the MCP-Protocol-Version header. Each refusal is an HTTP status with a
JSON-RPC error body (`id: null`), which is what MCP clients read."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response

from gpuproxy.agents.mcp.rpc import INVALID_REQUEST, error_response
from gpuproxy.agents.mcp.versions import SUPPORTED

__all__ = [
    "McpRefused",
    "accepts_sse",
    "check_origin",
    "check_post_headers",
    "header_version",
    "refusal_response",
]

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class McpRefused(Exception):
    """Refuse the HTTP request: (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def refusal_response(exc: McpRefused) -> Response[Any]:
    return Response(error_response(None, INVALID_REQUEST, exc.message), status_code=exc.status)


def _origin_allowed(request: Request[Any, Any, Any], origin: str, public_url: str) -> bool:
    """No Origin (not a browser), the server's own origin, its PUBLIC_URL, or loopback."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname in _LOOPBACK:
        return True
    own = request.headers.get("host", "")
    if own and parts.netloc.lower() == own.lower():
        return True
    public = urlsplit(public_url)
    return bool(public.netloc) and (public.scheme, public.netloc.lower()) == (
        parts.scheme,
        parts.netloc.lower(),
    )


def check_origin(request: Request[Any, Any, Any], public_url: str) -> None:
    origin = request.headers.get("origin")
    if origin is not None and not _origin_allowed(request, origin, public_url):
        raise McpRefused(403, f"Origin: {origin[:200]!r} is not allowed to use this server")


def accepts_sse(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "text/event-stream" in accept or "*/*" in accept


def check_post_headers(request: Request[Any, Any, Any], public_url: str) -> None:
    check_origin(request, public_url)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise McpRefused(415, "Content-Type: must be application/json")
    accept = request.headers.get("accept")
    if accept and not any(k in accept.lower() for k in ("application/json", "*/*")):
        raise McpRefused(406, "Accept: must include application/json and text/event-stream")


def header_version(request: Request[Any, Any, Any], session_version: str) -> str:
    """The revision of a request in a session: the header's, which must be one this server
    speaks and the session's; without the header, the session's."""
    raw = request.headers.get("mcp-protocol-version")
    if raw is None:
        return session_version
    if raw not in SUPPORTED:
        raise McpRefused(
            400, f"MCP-Protocol-Version: {raw[:40]!r} is not supported ({', '.join(SUPPORTED)})"
        )
    if raw != session_version:
        raise McpRefused(
            400, f"MCP-Protocol-Version: {raw} differs from the session's {session_version}"
        )
    return raw
