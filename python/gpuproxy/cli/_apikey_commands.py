"""The API key commands of `aiserve-gpuproxy-admin`: create, change, revoke.

Changes are announced on the invalidation channel like every account change (see
`_accounts_commands`): with Redis every running server applies them to the key's next
request; without Redis within AUTH_CACHE_TTL_SECONDS.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from gpuproxy.accounts.apikeys import ApiKey
from gpuproxy.accounts.errors import InvalidInput
from gpuproxy.accounts.keyrules import DEFAULT_KEY_SCOPES, PRIORITY_MAX, PRIORITY_MIN
from gpuproxy.accounts.principal import ALL_SCOPES
from gpuproxy.cli._accounts_commands import CLI_ACTOR, open_accounts, user_by_email
from gpuproxy.cli._output import emit, format_ms

__all__ = ["KEY_COMMANDS", "add_key_commands"]


def _key_row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": list(key.scopes),
        "rate_limit": key.rate_limit_per_minute,
        "priority": key.priority,
        "expires": format_ms(key.expires_at),
    }


async def cmd_create_apikey(args: argparse.Namespace) -> int:
    scopes = None
    if args.scopes:
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    expires = None
    if args.expires_days is not None:
        if args.expires_days <= 0:
            raise InvalidInput("--expires-days", "must be a positive number of days")
        expires = int((time.time() + args.expires_days * 86_400) * 1000)
    async with open_accounts() as accounts:
        owner = await user_by_email(accounts, args.email)
        key, full_key = await accounts.create_api_key(
            CLI_ACTOR,
            name=args.name,
            scopes=scopes,
            rate_limit_per_minute=args.rate_limit,
            expires_at_ms=expires,
            priority=args.priority,
            owner=owner,
        )
    row = _key_row(key)
    emit(
        {
            "id": key.id,
            "key": full_key,
            "user": owner.email,
            **{k: v for k, v in row.items() if k != "id"},
            "note": "the key is shown only now; store it safely",
        },
        as_json=args.json,
    )
    return 0


async def cmd_update_apikey(args: argparse.Namespace) -> int:
    if args.priority is None and args.rate_limit is None:
        raise InvalidInput("--priority", "give --priority and/or --rate-limit")
    async with open_accounts() as accounts:
        key = await accounts.update_api_key(
            CLI_ACTOR, args.id, priority=args.priority, rate_limit_per_minute=args.rate_limit
        )
    emit(_key_row(key), as_json=args.json)
    return 0


async def cmd_revoke_apikey(args: argparse.Namespace) -> int:
    async with open_accounts() as accounts:
        key = await accounts.revoke_api_key(CLI_ACTOR, args.id, any_owner=True)
    emit({"id": key.id, "revoked": format_ms(key.revoked_at)}, as_json=args.json)
    return 0


KEY_COMMANDS: dict[str, Any] = {
    "create-apikey": cmd_create_apikey,
    "update-apikey": cmd_update_apikey,
    "revoke-apikey": cmd_revoke_apikey,
}

_PRIORITY_HELP = f"admission-queue priority, {PRIORITY_MIN}-{PRIORITY_MAX}, higher first"


def add_key_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register the API key sub-commands on `commands` (with `common` options: --json)."""
    p = commands.add_parser("create-apikey", parents=[common], help="create an API key")
    p.add_argument("email")
    p.add_argument("name")
    p.add_argument(
        "--scopes",
        help=f"comma-separated, of {','.join(sorted(ALL_SCOPES))} "
        f"(default: {','.join(DEFAULT_KEY_SCOPES)})",
    )
    p.add_argument(
        "--rate-limit", type=int, help="this key's requests per minute (at most the user's)"
    )
    p.add_argument("--expires-days", type=float, help="expire after this many days")
    p.add_argument("--priority", type=int, default=0, help=f"{_PRIORITY_HELP} (default 0)")
    p = commands.add_parser(
        "update-apikey", parents=[common], help="change an API key's priority or rate limit"
    )
    p.add_argument("id")
    p.add_argument("--priority", type=int, help=_PRIORITY_HELP)
    p.add_argument(
        "--rate-limit",
        type=int,
        help="this key's requests per minute, at most the user's (0: only the user's limit)",
    )
    p = commands.add_parser("revoke-apikey", parents=[common], help="revoke an API key by id")
    p.add_argument("id")
