"""Client-side pacing: minimum intervals, calls per period and the penalty after a refusal."""

from __future__ import annotations

import asyncio

import pytest

from gpuproxy.providers.pacing import Pacer, PaceRule


class Clock:
    """A clock that only moves when the pacer sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def pacer(clock: Clock, **rules: PaceRule) -> Pacer:
    return Pacer(rules, clock=clock, sleep=clock.sleep)


async def test_minimum_interval_between_calls() -> None:
    clock = Clock()
    paced = pacer(clock, show=PaceRule(min_interval_s=2.0))
    for _ in range(3):
        await paced.wait("show")
    assert clock.slept == [2.0, 2.0]  # the first call goes at once
    clock.now += 5
    assert await paced.wait("show") == 0.0  # long enough since the last one


async def test_concurrent_callers_queue_up_in_order() -> None:
    clock = Clock()
    slept: list[float] = []

    async def suspend(seconds: float) -> None:  # yields to the others; time stands still
        slept.append(seconds)
        await asyncio.sleep(0)

    paced = Pacer({"create": PaceRule(min_interval_s=4.5)}, clock=clock, sleep=suspend)
    waited = await asyncio.gather(*(paced.wait("create") for _ in range(3)))
    assert waited == [0.0, 4.5, 9.0]  # three callers at one instant: one slot each
    assert slept == [4.5, 9.0]


async def test_calls_per_period() -> None:
    clock = Clock()
    paced = pacer(clock, search=PaceRule(max_calls=3, period_s=60.0))
    for _ in range(3):
        assert await paced.wait("search") == 0.0
    clock.now += 10
    assert await paced.wait("search") == 50.0  # the 4th waits until the 1st is 60 s old
    assert await paced.wait("search") == 0.0  # the 2nd call is 60 s old now as well


async def test_a_refusal_holds_the_next_call_for_the_penalty() -> None:
    clock = Clock()
    paced = pacer(clock, create=PaceRule(min_interval_s=4.5, penalty_s=12.0))
    await paced.wait("create")
    paced.refused("create")
    assert await paced.wait("create") == 12.0
    paced.refused("list")  # no rule: nothing to hold back
    assert await paced.wait("list") == 0.0


def test_scaled_rules_and_validation() -> None:
    rule = PaceRule(min_interval_s=4.5, max_calls=10, period_s=60.0, penalty_s=12.0)
    assert rule.scaled(0.5) == PaceRule(
        min_interval_s=2.25, max_calls=10, period_s=30.0, penalty_s=6.0
    )
    assert rule.scaled(0) == PaceRule()  # no pacing at all
    with pytest.raises(ValueError, match="negative"):
        PaceRule(min_interval_s=-1)
    with pytest.raises(ValueError, match="period"):
        PaceRule(max_calls=3)
