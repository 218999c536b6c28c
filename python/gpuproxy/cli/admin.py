"""`aiserve-gpuproxy-admin`: operator commands (migrations, users, keys, audit, spending).

Works directly on the configured database (DB_* settings). Tables by default, `--json`
for scripts. Exit status: 0 done, 1 refused or failed (message on stderr), 2 not built.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from gpuproxy.accounts.errors import AccountsError
from gpuproxy.cli._accounts_commands import COMMANDS, add_account_commands
from gpuproxy.cli._apikey_commands import KEY_COMMANDS, add_key_commands
from gpuproxy.cli._billing_commands import BILLING_COMMANDS, add_billing_commands
from gpuproxy.config import load_settings
from gpuproxy.exceptions import ConfigError, GpuProxyError
from gpuproxy.storage.database import open_database
from gpuproxy.storage.migrations import apply_migrations

__all__ = ["build_parser", "main"]

PROG = "aiserve-gpuproxy-admin"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="JSON output for scripts")
    parser = argparse.ArgumentParser(prog=PROG, description="Administer an aiserve-gpuproxy.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "migrate", parents=[common], help="apply pending database migrations (uses DB_* settings)"
    )
    add_account_commands(commands, common)
    add_key_commands(commands, common)
    add_billing_commands(commands, common)
    return parser


async def _migrate() -> int:
    settings = load_settings()
    db = await open_database(settings)
    try:
        applied = await apply_migrations(db)
    finally:
        await db.close()
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "migrate":
            return asyncio.run(_migrate())
        command = (
            COMMANDS.get(args.command)
            or KEY_COMMANDS.get(args.command)
            or BILLING_COMMANDS.get(args.command)
        )
        if command is None:  # argparse only accepts the commands registered above
            raise AssertionError(f"no handler for {args.command}")
        result: int = asyncio.run(command(args))
        return result
    except (ConfigError, GpuProxyError) as exc:
        message = str(exc)
        if isinstance(exc, AccountsError) and exc.http_status == 409:
            message = "a user with this email exists already"
        print(f"{PROG}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
