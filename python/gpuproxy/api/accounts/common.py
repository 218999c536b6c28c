"""HTTP glue shared by the auth and admin controllers: the service, caller, client IP."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from gpuproxy.accounts.service import AccountsService
from gpuproxy.services import Services

__all__ = ["accounts_of", "client_ip", "user_agent"]


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
