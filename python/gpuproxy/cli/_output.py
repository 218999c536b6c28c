"""Output of the operator CLIs: aligned tables for people, JSON for scripts (--json)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec

__all__ = ["emit", "format_ms", "table"]


def format_ms(value: int | None) -> str:
    """Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC ("-" for none)."""
    if value is None:
        return "-"
    return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | frozenset | set):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    out.write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    out.write("\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def emit(
    data: Any,
    *,
    as_json: bool,
    columns: Sequence[str] | None = None,
    out: TextIO | None = None,
) -> None:
    """Print `data` (a mapping, or a list of mappings with `columns`) as a table or JSON."""
    out = out or sys.stdout
    if as_json:
        out.write(msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n")
        return
    if columns is not None:
        table(data, columns, out)
        return
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        out.write(f"{key.ljust(width)}  {_cell(value)}\n")
