"""Wall-clock time as stored everywhere: integer unix milliseconds."""

from __future__ import annotations

import time

__all__ = ["now_ms", "utc_timestamp"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def utc_timestamp() -> str:
    """Now as RFC 3339 UTC with milliseconds (ProtoJSON's Timestamp; what the agent
    protocols' SDKs parse as an aware datetime)."""
    ms = now_ms()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
