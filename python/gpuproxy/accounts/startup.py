"""The accounts startup hook (registered in `gpuproxy.app.STARTUP_HOOKS`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpuproxy.accounts.bootstrap import ensure_default_admin
from gpuproxy.accounts.service import AccountsService

if TYPE_CHECKING:
    from gpuproxy.services import Services

__all__ = ["start_accounts"]


async def start_accounts(services: Services) -> None:
    accounts = AccountsService(services.settings, services.db, services.kv)
    services.accounts = accounts
    services.shutdown_hooks.append(accounts.close)
    await accounts.start(services.supervise)
    if services.settings.bootstrap_admin:
        await ensure_default_admin(accounts, services.settings.data_dir)
