"""HTTP glue shared by the auth and admin controllers: error mapping, caller, client IP."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection

from gpuproxy.accounts.errors import AccountsError, InvalidInput, LoginThrottled
from gpuproxy.accounts.service import AccountsService
from gpuproxy.api.errors import error_body
from gpuproxy.services import Services

__all__ = ["ACCOUNTS_EXCEPTION_HANDLERS", "accounts_of", "client_ip", "user_agent"]


def accounts_error(request: Request[Any, Any, Any], exc: AccountsError) -> Response[Any]:
    """A domain error as the shared JSON error shape; bad input names its field."""
    status = exc.http_status
    param = exc.field if isinstance(exc, InvalidInput) else None
    headers: dict[str, str] = {}
    if isinstance(exc, LoginThrottled):
        headers["Retry-After"] = str(exc.retry_after_s)
    if status == 503:
        headers["Retry-After"] = "1"
    body = error_body(status, str(exc), code=exc.code, param=param)
    return Response(body, status_code=status, headers=headers)


ACCOUNTS_EXCEPTION_HANDLERS: dict[Any, Any] = {AccountsError: accounts_error}


def accounts_of(services: Services) -> AccountsService:
    if services.accounts is None:  # only before the startup hook ran
        raise RuntimeError("accounts service is not started")
    return services.accounts


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The peer address. X-Forwarded-For is not trusted: anyone can send it."""
    client = connection.client
    return client.host if client is not None else ""


def user_agent(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.headers.get("user-agent", "")[:300]
