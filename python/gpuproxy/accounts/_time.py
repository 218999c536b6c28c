"""Clock helpers: stored times are integer unix milliseconds."""

from __future__ import annotations

import time
import uuid

__all__ = ["new_id", "now_ms"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """A random opaque id (32 hex characters)."""
    return uuid.uuid4().hex
