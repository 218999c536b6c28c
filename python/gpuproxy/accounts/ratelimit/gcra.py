"""GCRA (generic cell rate algorithm) shared by every worker through one Redis script.

A bucket stores one number, its theoretical arrival time (TAT, microseconds). With the
emission interval T = 60 s / limit and a tolerance of burst x T, a request is allowed when
`max(TAT, now) + T - now <= burst x T`, and then moves the TAT forward by T. The Lua script
reads Redis' own clock (`TIME`), so instances with skewed clocks still share one limit; it
is a single EVALSHA per request. The Python twin runs the same arithmetic on the in-memory
store; the Rust core's limiter (local.py) implements the same algorithm in process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpuproxy.storage.kv import LocalState, Script

__all__ = ["GCRA_SCRIPT", "PERIOD_US", "gcra_step"]

PERIOD_US = 60_000_000  # limits are per minute

# Returns {allowed, remaining, retry_after_us, reset_after_us}. Numbers are formatted with
# %d because Lua's default number-to-string conversion would round large microsecond values.
_GCRA_LUA = """
local limit = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = math.floor(tonumber(ARGV[3]) / limit)
if interval < 1 then interval = 1 end
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
local remaining = math.floor((now + tolerance - new_tat) / interval)
local reset = new_tat - now
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor(reset / 1000) + 1)
return {1, remaining, 0, reset}
"""


def gcra_step(
    tat: int | None, now: int, limit: int, burst: int, period_us: int = PERIOD_US
) -> tuple[bool, int, int, int, int]:
    """(allowed, new_tat, remaining, retry_after_us, reset_after_us) for one request."""
    interval = max(1, period_us // limit)
    tolerance = interval * burst
    current = now if tat is None or tat < now else tat
    new_tat = current + interval
    allow_at = new_tat - tolerance
    if now < allow_at:
        return False, current, 0, allow_at - now, current - now
    return True, new_tat, (now + tolerance - new_tat) // interval, 0, new_tat - now


def _gcra_local(state: LocalState, keys: Sequence[str], args: Sequence[Any]) -> list[int]:
    import time

    now = time.time_ns() // 1000
    raw = state.get_now(keys[0])
    allowed, new_tat, remaining, retry, reset = gcra_step(
        None if raw is None else int(raw), now, int(args[0]), int(args[1]), int(args[2])
    )
    if allowed:
        state.set_now(keys[0], str(new_tat).encode(), reset / 1_000_000 + 0.001)
    return [int(allowed), remaining, retry, reset]


GCRA_SCRIPT = Script(_GCRA_LUA, _gcra_local)
