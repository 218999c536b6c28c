"""`aiserve-gpuproxy-seed FILE [--dry-run]`: create admin and client users from an INI file.

    [admins]
    alice = a-long-password
    [clients]
    acme = another-long-password

creates `alice@admin.local` (admin) and `acme@client.local`. Idempotent: an existing user
is left as it is (its password is not changed), except that a user listed under
[admins] is made admin if it is not. Prints one line per user saying what it did.
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from gpuproxy.accounts.errors import AccountsError
from gpuproxy.accounts.passwords import validate_new_password
from gpuproxy.cli._accounts_commands import CLI_ACTOR, open_accounts
from gpuproxy.exceptions import ConfigError, GpuProxyError

__all__ = ["SeedEntry", "build_parser", "main", "read_seed_file"]

PROG = "aiserve-gpuproxy-seed"
_SECTIONS = {"admins": "admin.local", "clients": "client.local"}
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


class SeedEntry:
    __slots__ = ("email", "is_admin", "name", "password")

    def __init__(self, name: str, password: str, is_admin: bool) -> None:
        self.name = name
        self.password = password
        self.is_admin = is_admin
        self.email = f"{name}@{_SECTIONS['admins' if is_admin else 'clients']}"


class SeedFileError(GpuProxyError):
    """The seed file cannot be used; the message names the section and entry."""


def read_seed_file(path: Path) -> list[SeedEntry]:
    parser = configparser.ConfigParser(
        interpolation=None, delimiters=("=",), comment_prefixes=("#", ";"), strict=True
    )
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise SeedFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except configparser.Error as exc:
        raise SeedFileError(f"{path} is not a valid INI file: {exc.message}") from exc
    unknown = [s for s in parser.sections() if s not in _SECTIONS]
    if unknown:
        raise SeedFileError(f"unknown section [{unknown[0]}]: expected [admins] and [clients]")
    entries: list[SeedEntry] = []
    for section in _SECTIONS:
        if not parser.has_section(section):
            continue
        for name, password in parser.items(section):
            where = f"[{section}] {name}"
            if not _NAME.match(name):
                raise SeedFileError(
                    f"{where}: a name is lowercase letters, digits, '.', '_' or '-'"
                )
            try:
                validate_new_password(password, field=where)
            except AccountsError as exc:
                raise SeedFileError(str(exc)) from exc
            entries.append(SeedEntry(name, password, section == "admins"))
    emails = [e.email for e in entries]
    if not entries:
        raise SeedFileError(f"{path} has no users in [admins] or [clients]")
    if len(set(emails)) != len(emails):
        raise SeedFileError("a name appears twice in one section")
    return entries


async def _seed(entries: list[SeedEntry], dry_run: bool) -> list[tuple[str, str]]:
    report: list[tuple[str, str]] = []
    async with open_accounts() as accounts:
        for entry in entries:
            user = await accounts.users.get_by_email(entry.email)
            if user is None:
                if not dry_run:
                    await accounts.register(
                        email=entry.email,
                        password=entry.password,
                        name=entry.name,
                        is_admin=entry.is_admin,
                        created_by=CLI_ACTOR,
                    )
                report.append((entry.email, "created" + (" admin" if entry.is_admin else "")))
            elif entry.is_admin and not user.is_admin:
                if not dry_run:
                    await accounts.update_user(CLI_ACTOR, user.id, is_admin=True)
                report.append((entry.email, "exists, made admin"))
            else:
                report.append((entry.email, "exists, unchanged"))
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Create users from an INI file: [admins] and [clients] sections of name=password "
            "lines become <name>@admin.local (admins) and <name>@client.local. Idempotent."
        ),
    )
    parser.add_argument("file", type=Path, help="the INI file")
    parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        entries = read_seed_file(args.file)
        report = asyncio.run(_seed(entries, args.dry_run))
    except (ConfigError, GpuProxyError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    prefix = "[dry run] " if args.dry_run else ""
    for email, what in report:
        print(f"{prefix}{email}: {what}")
    created = sum(1 for _, what in report if what.startswith("created"))
    verb = "would create" if args.dry_run else "created"
    print(f"{verb} {created} of {len(report)} users")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
