"""`aiserve-gpuproxy-seed`: fill a database with demo users, keys and GPUs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gpuproxy.cli._common import not_built

__all__ = ["build_parser", "main"]

PROG = "aiserve-gpuproxy-seed"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Seed the database with an admin, demo users and API keys."
    )
    parser.add_argument("--admin-email", default="admin@example.com")
    parser.add_argument("--users", type=int, default=3, help="number of demo users")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return not_built(PROG, "seed")


if __name__ == "__main__":
    raise SystemExit(main())
