"""The 17 spend windows: names, the interface billing uses, and the Rust implementation.

Every spend goes through `gpuproxy._core.SpendWindows` (the Rust core): true sliding windows
in buckets of at most 1/60 of a window (never under-count, over-count at most one bucket),
all-or-nothing reservations that count against every window, commit at the actual cost.
`SpendWindowsApi` is the small interface billing codes against; `RustWindows` adapts the
extension class to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gpuproxy import _core
from gpuproxy.config import GUARDRAIL_WINDOWS_MINUTES

__all__ = [
    "WINDOW_NAMES",
    "HeldSpend",
    "RustWindows",
    "SpendWindowsApi",
    "WindowState",
    "local_windows",
    "window_minutes",
    "window_name",
]


def window_name(minutes: int) -> str:
    """The seed's public name: minutes with `min` up to a day, then hours (`48h`)."""
    return f"{minutes // 60}h" if minutes > 1440 else f"{minutes}min"


#: The names of the 17 windows, shortest first: the core's list (`config` derives the minutes).
WINDOW_NAMES: tuple[str, ...] = _core.SPEND_WINDOWS
_MINUTES = dict(zip(WINDOW_NAMES, GUARDRAIL_WINDOWS_MINUTES, strict=True))


def window_minutes(name: str) -> int:
    """Minutes of a window name; KeyError for names that are not one of the 17."""
    return _MINUTES[name]


@dataclass(frozen=True, slots=True)
class WindowState:
    name: str
    spent: int
    reserved: int
    limit: int | None
    remaining: int | None
    exceeded: bool

    @property
    def minutes(self) -> int:
        return _MINUTES[self.name]


class HeldSpend(Protocol):
    """A reservation against every window; exactly one of commit/release settles it."""

    def commit(self, actual: int) -> None: ...
    def release(self) -> None: ...


class SpendWindowsApi(Protocol):
    def set_default_limit(self, window: str, limit: int | None) -> None: ...
    def set_limits(self, account: str, limits: Mapping[str, int | None]) -> None: ...
    def clear_limits(self, account: str) -> None: ...
    def reset_spent(self, account: str) -> None: ...
    def reserve(self, account: str, amount: int) -> HeldSpend:
        """Hold `amount` in every window or raise `SpendLimitExceeded` naming the windows."""

    def check(self, account: str, amount: int) -> list[str]: ...
    def record(self, account: str, amount: int) -> None: ...
    def status(self, account: str) -> list[WindowState]: ...


class RustWindows:
    """`_core.SpendWindows` behind SpendWindowsApi (thread-safe, called without awaits)."""

    def __init__(self, clock: _core.ManualClock | None = None) -> None:
        self._windows = _core.SpendWindows(clock=clock)

    def set_default_limit(self, window: str, limit: int | None) -> None:
        self._windows.set_default_limits({window: limit})

    def set_limits(self, account: str, limits: Mapping[str, int | None]) -> None:
        self._windows.set_limits(account, limits)

    def clear_limits(self, account: str) -> None:
        self._windows.clear_limits(account)

    def reset_spent(self, account: str) -> None:
        self._windows.reset_spent(account)

    def reserve(self, account: str, amount: int) -> HeldSpend:
        return self._windows.reserve(account, amount)

    def check(self, account: str, amount: int) -> list[str]:
        return self._windows.check(account, amount)

    def record(self, account: str, amount: int) -> None:
        self._windows.record(account, amount)

    def status(self, account: str) -> list[WindowState]:
        return [
            WindowState(s.window, s.spent, s.reserved, s.limit, s.remaining, s.exceeded)
            for s in self._windows.status(account)
        ]

    def purge_idle(self) -> int:
        return self._windows.purge_idle()


def local_windows(clock: _core.ManualClock | None = None) -> SpendWindowsApi:
    """The process-local windows (Rust); `clock` drives time by hand in tests."""
    return RustWindows(clock)
