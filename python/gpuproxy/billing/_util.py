"""Small shared helpers: ids, clocks, JSON."""

from __future__ import annotations

import json
import os
import time
from typing import Any

__all__ = ["dumps", "loads_object", "new_id", "now_ms"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> str:
    """Time-ordered id: 12 hex digits of unix ms, then 16 random hex digits."""
    return f"{prefix}_{now_ms():012x}{os.urandom(8).hex()}"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
