"""`Supervisor`: background loops restarted with capped back-off, their state reported."""

from __future__ import annotations

import asyncio

import pytest

from gpuproxy.gateway.prometheus import render_prometheus
from gpuproxy.supervisor import Supervisor


async def _until(condition: object, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def test_a_failing_loop_is_restarted_and_its_error_recorded_without_secrets() -> None:
    supervisor = Supervisor(initial_backoff_s=0.001)
    runs = 0
    resumed = asyncio.Event()

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise RuntimeError("lost connection (token=gpx_abcdefghijklmnop)")
        resumed.set()
        await asyncio.Event().wait()

    task = supervisor.run("writer", loop)
    await asyncio.wait_for(resumed.wait(), 5)
    state = supervisor.report()["writer"]
    assert state["state"] == "running"
    assert state["restarts"] == 2
    assert state["last_error"].startswith("RuntimeError: lost connection")
    assert "gpx_abcdefghijklmnop" not in state["last_error"]
    assert state["last_error_at"] is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert supervisor.report()["writer"]["state"] == "stopped"


def test_backoff_doubles_up_to_the_cap() -> None:
    supervisor = Supervisor(initial_backoff_s=0.5, max_backoff_s=30.0)
    assert [supervisor.backoff_s(n) for n in (1, 2, 3, 4, 7, 8, 50)] == [
        0.5, 1.0, 2.0, 4.0, 30.0, 30.0, 30.0,
    ]  # fmt: skip


async def test_a_loop_that_keeps_failing_is_reported_failing() -> None:
    supervisor = Supervisor(initial_backoff_s=0.001, max_backoff_s=0.001, failing_after=3)

    async def broken() -> None:
        raise OSError("database unreachable")

    supervisor.run("accrual", broken)
    await _until(lambda: supervisor.loops["accrual"].consecutive_failures >= 3)
    await _until(lambda: supervisor.loops["accrual"].state == "restarting")
    assert supervisor.failing() == ["accrual"]
    text = render_prometheus(
        {"total_requests": 0, "total_errors": 0, "windows": {}}, loops=supervisor.report()
    )
    assert 'gpuproxy_background_loop_up{loop="accrual"} 0.0' in text
    assert 'gpuproxy_background_loop_restarts_total{loop="accrual"}' in text
    await supervisor.close()
    assert supervisor.loops["accrual"].state == "stopped"


async def test_a_loop_that_returns_is_finished_not_restarted() -> None:
    supervisor = Supervisor(initial_backoff_s=0.001)
    runs = 0

    async def once() -> None:
        nonlocal runs
        runs += 1

    await supervisor.run("once", once)
    await asyncio.sleep(0.01)
    assert runs == 1
    assert supervisor.report()["once"]["state"] == "finished"
    assert supervisor.failing() == []


async def test_a_long_healthy_run_resets_the_backoff() -> None:
    supervisor = Supervisor(initial_backoff_s=0.001, stable_after_s=0.0)
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 5:
            raise ValueError("boom")
        await asyncio.Event().wait()

    supervisor.run("flaky", flaky)
    await _until(lambda: runs >= 5)
    # Every run counted as steady (stable_after_s=0), so the failures never piled up.
    assert supervisor.loops["flaky"].consecutive_failures == 1
    assert supervisor.loops["flaky"].restarts == 4
    await supervisor.close()


@pytest.mark.parametrize("failing_after", [1, 2])
async def test_failing_needs_consecutive_failures(failing_after: int) -> None:
    supervisor = Supervisor(initial_backoff_s=10.0, failing_after=failing_after)

    async def broken() -> None:
        raise RuntimeError("x")

    supervisor.run("l", broken)
    await _until(lambda: supervisor.loops["l"].state == "restarting")
    assert supervisor.failing() == (["l"] if failing_after == 1 else [])
    await supervisor.close()
