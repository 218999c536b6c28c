"""Client-side pacing of a provider's endpoints, so requests are spaced as the provider asks.

vast.ai limits each endpoint to a minimum interval between calls (and some to N calls per
period), answers a too-early call with 429 and no Retry-After, and may add a penalty to
the offender's wait. Retrying blindly only earns more 429s, so each endpoint gets a
`PaceRule` and every call (first tries and retries alike) waits for its slot first.

Slots are reserved synchronously (no await between reading and writing the schedule), so
concurrent callers on one event loop queue up in order instead of all firing at once. The
schedule is per `Pacer`, i.e. per provider client in one process: several processes that
share one API key and IP share the provider's budget too (see README, "vast.ai").
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

import msgspec

__all__ = ["PaceRule", "Pacer"]


class PaceRule(msgspec.Struct, kw_only=True, frozen=True):
    """How often one endpoint may be called.

    - `min_interval_s`: seconds between the starts of two calls.
    - `max_calls` per `period_s`: at most that many calls in any window of that length.
    - `penalty_s`: after the provider refused a call as too frequent, wait this long
      (counted from the refusal) before the next one.
    """

    min_interval_s: float = 0.0
    max_calls: int = 0
    period_s: float = 0.0
    penalty_s: float = 0.0

    def __post_init__(self) -> None:
        if min(self.min_interval_s, self.period_s, self.penalty_s) < 0 or self.max_calls < 0:
            raise ValueError("pacing values must not be negative")
        if self.max_calls and self.period_s <= 0:
            raise ValueError("max_calls needs a positive period_s")

    def scaled(self, factor: float) -> PaceRule:
        """The same rule with every duration multiplied by `factor` (tests shrink it)."""
        return PaceRule(
            min_interval_s=self.min_interval_s * factor,
            max_calls=self.max_calls if factor > 0 else 0,
            period_s=self.period_s * factor,
            penalty_s=self.penalty_s * factor,
        )


class _Schedule:
    __slots__ = ("blocked_until", "last", "recent", "rule")

    def __init__(self, rule: PaceRule) -> None:
        self.rule = rule
        self.last: float | None = None
        self.blocked_until = 0.0
        self.recent: deque[float] = deque(maxlen=rule.max_calls or None)

    def reserve(self, now: float) -> float:
        """The earliest start allowed for the next call; that start is taken."""
        rule = self.rule
        at = max(now, self.blocked_until)
        if self.last is not None:
            at = max(at, self.last + rule.min_interval_s)
        if rule.max_calls and len(self.recent) == rule.max_calls:
            at = max(at, self.recent[0] + rule.period_s)
        self.last = at
        if rule.max_calls:
            self.recent.append(at)  # the deque keeps only the last max_calls starts
        return at


class Pacer:
    """Per-endpoint schedules; endpoints without a rule are never delayed."""

    def __init__(
        self,
        rules: Mapping[str, PaceRule],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rules = dict(rules)
        self._clock = clock
        self._sleep = sleep
        self._schedules = {name: _Schedule(rule) for name, rule in self.rules.items()}

    async def wait(self, endpoint: str) -> float:
        """Wait for `endpoint`'s next slot; returns the seconds waited."""
        schedule = self._schedules.get(endpoint)
        if schedule is None:
            return 0.0
        now = self._clock()
        delay = schedule.reserve(now) - now
        if delay > 0:
            await self._sleep(delay)
        return max(delay, 0.0)

    def refused(self, endpoint: str) -> None:
        """The provider answered `endpoint` "too frequent": hold its next call back."""
        schedule = self._schedules.get(endpoint)
        if schedule is None:
            return
        rule = schedule.rule
        hold = max(rule.penalty_s, rule.min_interval_s)
        schedule.blocked_until = max(schedule.blocked_until, self._clock() + hold)
