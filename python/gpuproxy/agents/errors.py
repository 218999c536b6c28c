"""Errors of the agent layer: deliberate `ApiError`s, so REST-like callers get the usual
`{"error": ...}` body and protocols turn them into their own error forms (MCP `isError`)."""

from __future__ import annotations

from gpuproxy.exceptions import ApiError

__all__ = [
    "ActionFailed",
    "ActionForbidden",
    "ActionInvalid",
    "InferenceFailed",
    "UnknownAction",
]


class ActionInvalid(ApiError):
    """An argument is missing or has the wrong type or value; `param` names it (400)."""

    http_status = 400
    code = "invalid_value"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", param=field)


class ActionForbidden(ApiError):
    """The caller's credential lacks the scope the action needs (403), as on REST."""

    http_status = 403
    code = "forbidden"


class UnknownAction(ApiError):
    """No action or tool of that name (404)."""

    http_status = 404
    code = "unknown_tool"


class ActionFailed(ApiError):
    """An action failed with the status a REST caller would see (its status, message and
    code kept: 402 credits, 429 rate limit, 502 provider, ...)."""

    def __init__(self, status: int, message: str, code: str | None) -> None:
        super().__init__(message, code=code or "action_failed")
        self.http_status = status


class InferenceFailed(ActionFailed):
    """The data plane refused or failed an inference call."""
