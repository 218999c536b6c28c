"""`aiserve-gpuproxy-admin`: operator commands (migrations, users, spending)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from gpuproxy.cli._common import not_built
from gpuproxy.config import load_settings
from gpuproxy.exceptions import ConfigError, GpuProxyError
from gpuproxy.storage.database import open_database
from gpuproxy.storage.migrations import apply_migrations

__all__ = ["build_parser", "main"]

PROG = "aiserve-gpuproxy-admin"

#: Commands of the seeds that later issues implement; they exit 2 saying so.
_PENDING = {
    "users": "list users",
    "make-admin": "grant admin privilege to a user (email)",
    "guardrails-spending": "show a user's spending over the guard-rail windows (email)",
    "guardrails-reset": "reset a user's spending windows (email)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Administer an aiserve-gpuproxy.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="apply pending database migrations (uses DB_* settings)")
    for name, text in _PENDING.items():
        pending = commands.add_parser(name, help=f"{text} [not implemented yet]")
        pending.add_argument("args", nargs="*")
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
        return not_built(PROG, args.command)
    except (ConfigError, GpuProxyError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
