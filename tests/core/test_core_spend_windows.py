"""Spend windows through the binding: reserve/commit/release, ageing, limits."""

from __future__ import annotations

import pytest

from gpuproxy import _core
from gpuproxy.exceptions import SpendLimitExceeded

MINUTE_MS = 60_000


def make(
    limits: dict[str, int | None] | None = None,
) -> tuple[_core.SpendWindows, _core.ManualClock]:
    clock = _core.ManualClock(1_750_000_000_000)
    return _core.SpendWindows(limits, clock=clock), clock


def by_name(w: _core.SpendWindows, account: str) -> dict[str, _core.WindowStatus]:
    return {s.window: s for s in w.status(account)}


def test_window_names() -> None:
    assert _core.SPEND_WINDOWS[:4] == ("5min", "15min", "30min", "60min")
    assert _core.SPEND_WINDOWS[-3:] == ("1440min", "48h", "72h")
    assert len(_core.SPEND_WINDOWS) == 17
    w, _ = make()
    assert [s.window for s in w.status("x")] == list(_core.SPEND_WINDOWS)


def test_window_minutes_are_the_lengths_the_names_say() -> None:
    assert len(_core.SPEND_WINDOW_MINUTES) == len(_core.SPEND_WINDOWS)
    for name, minutes in zip(_core.SPEND_WINDOWS, _core.SPEND_WINDOW_MINUTES, strict=True):
        spelled = int(name[:-3]) if name.endswith("min") else int(name[:-1]) * 60
        assert minutes == spelled, name


def test_reserve_commit_release() -> None:
    w, _ = make({"5min": 1_000, "60min": 1_500})
    r = w.reserve("acct", 900)
    assert (r.account, r.amount_micros, r.settled) == ("acct", 900, False)
    with pytest.raises(SpendLimitExceeded) as exc:
        w.reserve("acct", 700)
    assert exc.value.windows == ["5min", "60min"]
    r.commit(400)
    assert r.settled
    with pytest.raises(RuntimeError):
        r.commit(1)
    s = by_name(w, "acct")["5min"]
    assert (s.spent, s.reserved, s.limit, s.remaining, s.exceeded) == (400, 0, 1_000, 600, False)
    assert w.check("acct", 601) == ["5min"]
    with w.reserve("acct", 600) as r2:
        assert by_name(w, "acct")["5min"].reserved == 600
    assert r2.settled
    assert by_name(w, "acct")["5min"].reserved == 0


def test_garbage_collected_reservation_is_released() -> None:
    w, _ = make({"5min": 100})
    w.reserve("a", 100)  # dropped at once
    w.reserve("a", 100).release()
    assert by_name(w, "a")["5min"].reserved == 0


def test_spending_ages_out() -> None:
    w, clock = make({"5min": 100})
    w.reserve("a", 100).commit(100)
    with pytest.raises(SpendLimitExceeded):
        w.reserve("a", 1)
    clock.advance_ms(6 * MINUTE_MS)
    w.reserve("a", 100).release()
    status = by_name(w, "a")
    assert status["5min"].spent == 0
    assert status["15min"].spent == 100
    clock.advance_ms(72 * 60 * MINUTE_MS)
    assert all(s.spent == 0 for s in w.status("a"))
    assert w.purge_idle() == 1
    assert len(w) == 0


def test_limits_per_account_and_defaults() -> None:
    w, _ = make({"1440min": 10})
    w.set_limits("vip", {"1440min": 1_000, "72h": None})
    w.reserve("vip", 500).commit(500)
    with pytest.raises(SpendLimitExceeded):
        w.reserve("other", 11)
    w.clear_limits("vip")
    assert by_name(w, "vip")["1440min"].exceeded
    w.set_default_limits({"1440min": None})
    assert w.default_limits()["1440min"] is None
    w.reset_spent("vip")
    assert by_name(w, "vip")["1440min"].spent == 0
    w.record("vip", 7)
    assert by_name(w, "vip")["72h"].to_dict()["spent"] == 7
    assert w.memory_bytes() > 0


def test_bad_input_names_the_field() -> None:
    w, _ = make()
    with pytest.raises(ValueError, match="unknown spend window"):
        w.set_limits("a", {"24h": 1})
    with pytest.raises(ValueError, match="amount_micros"):
        w.reserve("a", -1)
    with pytest.raises(ValueError, match="limits"):
        w.set_default_limits({"5min": -5})
