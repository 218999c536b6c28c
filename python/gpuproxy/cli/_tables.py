"""Plain-text tables and a progress bar for the client CLI (no dependencies, pipe-friendly)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["ProgressBar", "cell", "render_table"]


def cell(value: Any) -> str:
    """How one value prints in a table: empty/None as "-", floats trimmed."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"
    return str(value)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers are right-aligned."""
    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    numeric = [True] * len(headers)
    for row, raw in zip(text_rows, rows, strict=True):
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
            if raw[i] is not None and not isinstance(raw[i], int | float):
                numeric[i] = False

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in text_rows)
    return "\n".join(out)


class ProgressBar:
    """`[#####.....] 3/8 label` on a terminal (redrawn in place), one line per change otherwise."""

    def __init__(self, total: int, stream: TextIO, *, width: int = 30) -> None:
        self.total = max(1, total)
        self.stream = stream
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = ""

    def update(self, done: int, label: str) -> None:
        filled = round(self.width * min(done, self.total) / self.total)
        text = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {label}"
        if text == self._last:
            return
        self._last = text
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()
