"""Helpers shared by the command-line tools."""

from __future__ import annotations

import sys

__all__ = ["EXIT_NOT_BUILT", "not_built"]

#: Exit status of a command that exists in the product but is not implemented yet.
EXIT_NOT_BUILT = 2


def not_built(program: str, command: str) -> int:
    print(
        f"{program}: '{command}' is not implemented yet in this version (see README: Status).",
        file=sys.stderr,
    )
    return EXIT_NOT_BUILT
