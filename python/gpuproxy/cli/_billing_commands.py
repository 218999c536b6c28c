"""The billing commands of `aiserve-gpuproxy-admin`, working directly on the database:

- `reconcile [--check]`: rebuild cached balances from the ledger (`--check`: report only,
  exit 1 when any differ).
- `guardrails-spending EMAIL`: spending, limit, remaining per window. With REDIS_URL, the
  shared windows every server books into (reservations included); without it, the
  committed spending in the ledger (a server's in-memory windows are not reachable).
- `guardrails-reset EMAIL`: forget the user's spending; every server applies it within
  a few seconds (at once with Redis).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from gpuproxy.billing.errors import BillingNotFound
from gpuproxy.billing.reconcile import reconcile
from gpuproxy.billing.resets import ledger_spending
from gpuproxy.billing.service import BillingService
from gpuproxy.billing.windows import WINDOW_NAMES
from gpuproxy.cli._output import emit
from gpuproxy.config import load_settings
from gpuproxy.money import micros_to_dollars
from gpuproxy.storage.database import open_database
from gpuproxy.storage.kv import open_kv
from gpuproxy.storage.migrations import apply_migrations

__all__ = ["BILLING_COMMANDS", "add_billing_commands"]

CLI_ACTOR = "cli"


@contextlib.asynccontextmanager
async def _open_billing() -> AsyncIterator[BillingService]:
    settings = load_settings()
    db = await open_database(settings)
    try:
        await apply_migrations(db)
        kv = await open_kv(settings)
        try:
            service = BillingService(settings, db, kv)
            await service.start(background=False)
            try:
                yield service
            finally:
                await service.close()
        finally:
            await kv.close()
    finally:
        await db.close()


async def _user_id(service: BillingService, email: str) -> str:
    found = await service.db.fetchval(
        "SELECT id FROM users WHERE email = $1", email.strip().lower()
    )
    if found is None:
        raise BillingNotFound(f"no user with email {email.strip().lower()!r}")
    return str(found)


def _money(micros: int | None) -> str | None:
    return None if micros is None else micros_to_dollars(micros)


async def _spending_rows(service: BillingService, user_id: str) -> tuple[str, list[dict[str, Any]]]:
    limits = service.guard.limits(user_id)
    if service.guard.shared:
        views = await service.guard.status(user_id)
        spent = {v.window: v.spent for v in views}
        source = "shared windows (Redis)"
    else:
        spent = await ledger_spending(service.db, user_id)
        source = "ledger (committed spending)"
    rows = []
    for name in WINDOW_NAMES:
        limit = limits[name]
        rows.append(
            {
                "window": name,
                "spent": _money(spent[name]),
                "limit": _money(limit),
                "remaining": None if limit is None else _money(max(limit - spent[name], 0)),
                "exceeded": limit is not None and spent[name] > limit,
            }
        )
    return source, rows


async def cmd_guardrails_spending(args: argparse.Namespace) -> int:
    async with _open_billing() as service:
        user_id = await _user_id(service, args.email)
        source, rows = await _spending_rows(service, user_id)
    if args.json:
        emit(
            {
                "email": args.email.strip().lower(),
                "user_id": user_id,
                "guard_rails_enabled": service.guard.enabled,
                "source": source,
                "windows": rows,
            },
            as_json=True,
        )
    else:
        enabled = "on" if service.guard.enabled else "off (tracking only)"
        print(f"{args.email.strip().lower()} ({user_id}); guard rails {enabled}; from {source}")
        emit(rows, as_json=False, columns=["window", "spent", "limit", "remaining", "exceeded"])
    return 0


async def cmd_guardrails_reset(args: argparse.Namespace) -> int:
    async with _open_billing() as service:
        user_id = await _user_id(service, args.email)
        await service.guard.reset(user_id, CLI_ACTOR)
    result = {"email": args.email.strip().lower(), "user_id": user_id, "reset": True}
    if args.json:
        emit(result, as_json=True)
    else:
        print(f"spending of {result['email']} reset; servers apply it within 5 s")
    return 0


async def cmd_reconcile(args: argparse.Namespace) -> int:
    async with _open_billing() as service:
        checked, mismatches = await reconcile(service.db, repair=not args.check)
    rows = [
        {
            "user_id": m.user_id,
            "cached_balance": micros_to_dollars(m.cached_balance),
            "ledger_balance": micros_to_dollars(m.ledger_balance),
            "cached_entries": m.cached_entries,
            "ledger_entries": m.ledger_entries,
        }
        for m in mismatches
    ]
    if args.json:
        emit({"checked": checked, "mismatches": rows, "repaired": not args.check}, as_json=True)
    else:
        verb = "differ" if args.check else "repaired"
        print(f"checked {checked} account(s); {len(rows)} {verb}")
        if rows:
            emit(rows, as_json=False, columns=list(rows[0]))
    return 1 if args.check and mismatches else 0


BILLING_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "guardrails-spending": cmd_guardrails_spending,
    "guardrails-reset": cmd_guardrails_reset,
    "reconcile": cmd_reconcile,
}


def add_billing_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    spending = commands.add_parser(
        "guardrails-spending",
        parents=[common],
        help="a user's spending over the 17 guard-rail windows (email)",
    )
    spending.add_argument("email")
    reset = commands.add_parser(
        "guardrails-reset", parents=[common], help="reset a user's spending windows (email)"
    )
    reset.add_argument("email")
    rec = commands.add_parser(
        "reconcile",
        parents=[common],
        help="rebuild cached credit balances from the ledger (--check: report only)",
    )
    rec.add_argument("--check", action="store_true", help="only report differences (exit 1 if any)")
