"""The account commands of `aiserve-gpuproxy-admin`, working directly on the database.

Changes that running servers cache (keys, admin flags) are also announced on the
key-value store's invalidation channel, so with Redis every server drops them at once;
without Redis a server notices within AUTH_CACHE_TTL_SECONDS (1 s by default).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from gpuproxy.accounts.errors import NotFound
from gpuproxy.accounts.principal import Principal
from gpuproxy.accounts.service import AccountsService
from gpuproxy.accounts.users import User
from gpuproxy.cli._output import emit, format_ms
from gpuproxy.clock import now_ms
from gpuproxy.config import load_settings
from gpuproxy.gateway.usage_queries import user_totals_since
from gpuproxy.storage.database import open_database
from gpuproxy.storage.kv import open_kv
from gpuproxy.storage.migrations import apply_migrations

__all__ = ["CLI_ACTOR", "COMMANDS", "add_account_commands", "open_accounts", "user_by_email"]

#: Who the audit log names for changes made with this tool.
CLI_ACTOR = Principal(user_id="cli", email="aiserve-gpuproxy-admin", is_admin=True)


@contextlib.asynccontextmanager
async def open_accounts() -> AsyncIterator[AccountsService]:
    settings = load_settings()
    db = await open_database(settings)
    try:
        await apply_migrations(db)
        kv = await open_kv(settings)
        try:
            yield AccountsService(settings, db, kv)
        finally:
            await kv.close()
    finally:
        await db.close()


async def user_by_email(accounts: AccountsService, email: str) -> User:
    from gpuproxy.accounts.emails import normalize_email

    user = await accounts.users.get_by_email(normalize_email(email))
    if user is None:
        raise NotFound(f"no user with email {email.strip().lower()!r}")
    return user


def _user_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "admin": user.is_admin,
        "active": user.is_active,
        "rate_limit": user.rate_limit_per_minute,
        "created": format_ms(user.created_at),
        "last_login": format_ms(user.last_login_at),
    }


async def cmd_users(args: argparse.Namespace) -> int:
    async with open_accounts() as accounts:
        users = await accounts.users.list(limit=args.limit, search=args.search.lower())
    columns = ["id", "email", "name", "admin", "active", "rate_limit", "created", "last_login"]
    emit([_user_row(u) for u in users], as_json=args.json, columns=columns)
    return 0


async def cmd_create_user(args: argparse.Namespace) -> int:
    async with open_accounts() as accounts:
        user = await accounts.register(
            email=args.email,
            password=args.password,
            name=args.name,
            is_admin=args.admin,
            rate_limit_per_minute=args.rate_limit,
            created_by=CLI_ACTOR,
        )
    emit(_user_row(user), as_json=args.json)
    return 0


async def cmd_make_admin(args: argparse.Namespace) -> int:
    async with open_accounts() as accounts:
        user = await user_by_email(accounts, args.email)
        user = await accounts.update_user(CLI_ACTOR, user.id, is_admin=not args.revoke)
    emit(_user_row(user), as_json=args.json)
    return 0


async def _gateway_usage(accounts: AccountsService, user_id: str) -> dict[str, Any] | None:
    """Inference totals from the gateway's usage table (absent in older schemas)."""
    now = now_ms()
    totals: dict[str, Any] = {}
    try:
        for label, since in (("24h", now - 86_400_000), ("30d", now - 30 * 86_400_000)):
            sums = await user_totals_since(accounts.db, user_id, since)
            totals[f"requests_{label}"] = sums.requests
            totals[f"tokens_{label}"] = sums.prompt_tokens + sums.completion_tokens
            totals[f"cost_usd_{label}"] = f"{sums.cost_micros / 1_000_000:.6f}"
    except Exception:  # the gateway's table is not there (or has another shape)
        return None
    return totals


async def cmd_usage(args: argparse.Namespace) -> int:
    async with open_accounts() as accounts:
        user = await user_by_email(accounts, args.email)
        keys = await accounts.list_api_keys(user.id)
        gateway = await _gateway_usage(accounts, user.id)
    now = now_ms()
    key_rows = [
        {
            "id": k.id,
            "name": k.name,
            "scopes": list(k.scopes),
            "requests": k.request_count,
            "last_used": format_ms(k.last_used_at),
            "state": "revoked"
            if k.revoked_at is not None
            else ("expired" if k.expires_at is not None and k.expires_at <= now else "active"),
        }
        for k in keys
    ]
    summary: dict[str, Any] = {
        "email": user.email,
        "api_keys": len(keys),
        "api_key_requests": sum(k.request_count for k in keys),
        "last_login": format_ms(user.last_login_at),
    }
    if gateway is not None:
        summary.update(gateway)
    if args.json:
        emit({**summary, "keys": key_rows}, as_json=True)
        return 0
    emit(summary, as_json=False)
    print()
    emit(
        key_rows, as_json=False, columns=["id", "name", "scopes", "requests", "last_used", "state"]
    )
    return 0


async def cmd_stats(args: argparse.Namespace) -> int:
    async with open_accounts() as accounts:
        stats = await accounts.stats()
    emit(stats, as_json=args.json)
    return 0


async def cmd_audit(args: argparse.Namespace) -> int:
    async with open_accounts() as accounts:
        actor_id = None
        if args.email:
            actor_id = (await user_by_email(accounts, args.email)).id
        events = await accounts.audit.list(limit=args.limit, action=args.action, actor_id=actor_id)
    rows = [
        {
            "at": format_ms(e.at),
            "action": e.action,
            "ok": e.success,
            "actor": e.actor_email or e.actor_id,
            "target": e.target,
            "ip": e.ip,
        }
        for e in events
    ]
    if args.json:
        emit(
            [{**r, "at_ms": e.at, "detail": e.detail} for r, e in zip(rows, events, strict=True)],
            as_json=True,
        )
        return 0
    emit(rows, as_json=False, columns=["at", "action", "ok", "actor", "target", "ip"])
    return 0


COMMANDS: dict[str, Any] = {
    "users": cmd_users,
    "create-user": cmd_create_user,
    "make-admin": cmd_make_admin,
    "usage": cmd_usage,
    "stats": cmd_stats,
    "audit": cmd_audit,
}


def add_account_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register the account sub-commands on `commands` (with `common` options: --json)."""
    p = commands.add_parser("users", parents=[common], help="list users")
    p.add_argument("--search", default="", help="email prefix")
    p.add_argument("--limit", type=int, default=1000)
    p = commands.add_parser("create-user", parents=[common], help="create a user")
    p.add_argument("email")
    p.add_argument("password")
    p.add_argument("name")
    p.add_argument("--admin", action="store_true", help="with admin privilege")
    p.add_argument("--rate-limit", type=int, help="requests per minute (default: server's)")
    p = commands.add_parser("make-admin", parents=[common], help="grant admin privilege")
    p.add_argument("email")
    p.add_argument("--revoke", action="store_true", help="take admin privilege away instead")
    p = commands.add_parser("usage", parents=[common], help="a user's keys and inference usage")
    p.add_argument("email")
    commands.add_parser("stats", parents=[common], help="account statistics")
    p = commands.add_parser("audit", parents=[common], help="security events, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--action", help="e.g. login, apikey.create, user.update")
    p.add_argument("--email", help="only events by this user")
