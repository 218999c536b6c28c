"""Small shared helpers: ids, JSON."""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

from gpuproxy.clock import now_ms

__all__ = ["dumps", "loads_object", "new_id"]

#: Orders ids made in the same millisecond by this process (listings sort by id).
_sequence = itertools.count()


def new_id(prefix: str) -> str:
    """Time-ordered id: 12 hex digits of unix ms, 6 of a per-process sequence (so ids of
    one millisecond keep their order), then 10 random hex digits."""
    return f"{prefix}_{now_ms():012x}{next(_sequence) & 0xFFFFFF:06x}{os.urandom(5).hex()}"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
