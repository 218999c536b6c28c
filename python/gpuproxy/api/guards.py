"""Litestar guards shared by every controller: authentication, scopes, admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from gpuproxy.accounts.principal import MANAGE_KEYS_SCOPE, Principal

__all__ = [
    "principal_of",
    "requires_admin",
    "requires_auth",
    "requires_key_management",
    "requires_scope",
]

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated caller, or 401 when the request carried no valid credentials."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthorizedException("authentication required: send a Bearer token or X-API-Key")
    return user


def requires_auth(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal_of(connection)


def requires_scope(scope: str) -> Guard:
    """Guard factory: the caller must be authenticated and hold `scope` (403 otherwise)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not principal_of(connection).has_scope(scope):
            raise PermissionDeniedException(f"this API key lacks the '{scope}' scope")

    return guard


def requires_key_management(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Creating, listing and revoking keys needs the `keys` scope (JWT logins hold it).

    A key may always revoke itself (the route's `key_id` is its own): giving up one's own
    access grants nothing."""
    principal = principal_of(connection)
    if principal.has_scope(MANAGE_KEYS_SCOPE):
        return
    own = principal.api_key_id
    if own is not None and connection.path_params.get("key_id") == own:
        return
    raise PermissionDeniedException(
        f"this API key lacks the '{MANAGE_KEYS_SCOPE}' scope needed to manage API keys"
    )


def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = principal_of(connection)
    if not principal.is_admin or not principal.has_scope("admin"):
        raise PermissionDeniedException("admin privilege required")
