"""Steady client traffic in the background of a fault: a few clients sending chat
completions back to back, every answer recorded (status, and which phase of the fault it
fell in), so a test can say exactly what was served while something was down."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from tests.gateway.support import GatewayServer, User

__all__ = ["CHAT", "PHASES", "Traffic", "sending"]

#: Traffic before the fault, while it lasts, and after the part came back.
PHASES = ("before", "down", "after")

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}


@dataclass
class Traffic:
    phase: str = "before"
    #: (phase, status) of every answer; status 0 = no HTTP answer (a transport error)
    answers: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def by_phase(self, phase: str) -> Counter[int]:
        return Counter(status for p, status in self.answers if p == phase)

    @property
    def ok(self) -> int:
        return sum(1 for _, status in self.answers if status == 200)

    def assert_all_served(self, at_least: int = 5) -> None:
        """Every request of every phase answered 200 (no 5xx, no transport error), and each
        phase had real traffic."""
        assert self.errors == []
        for phase in PHASES:
            assert self.by_phase(phase)[200] >= at_least, (phase, self.by_phase(phase))

    async def assert_each_has_its_usage_row(self, gateway: GatewayServer, user: User) -> None:
        """One `ok` usage row per request answered (call once the gateway settled)."""
        rows = await gateway.services.db.fetchval(
            "SELECT COUNT(*) FROM gateway_usage WHERE user_id = $1 AND outcome = 'ok'", user.id
        )
        assert rows == self.ok == len(self.answers)

    async def client(self, url: str, user: User, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=15, headers=user.headers) as client:
            while not stop.is_set():
                phase = self.phase
                try:
                    response = await client.post("/v1/chat/completions", json=CHAT)
                except httpx.TransportError as exc:
                    self.answers.append((phase, 0))
                    self.errors.append(repr(exc))
                    continue
                self.answers.append((phase, response.status_code))
                if response.status_code != 200:
                    self.errors.append(f"{response.status_code} {response.text[:300]}")


@contextlib.asynccontextmanager
async def sending(url: str, user: User, *, clients: int = 3) -> AsyncIterator[Traffic]:
    """Traffic from `clients` concurrent clients until the block ends (then every request
    in flight completes, so each one sent has its answer recorded)."""
    traffic = Traffic()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(traffic.client(url, user, stop)) for _ in range(clients)]
    try:
        yield traffic
    finally:
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=20)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # a client that crashed is a test failure, not silence
