from __future__ import annotations

import asyncio
import time

import pytest

from gpuproxy.accounts.errors import InvalidInput
from gpuproxy.accounts.passwords import PasswordHasher, hash_cost, validate_new_password


async def test_hash_and_verify() -> None:
    hasher = PasswordHasher(4)
    hashed = await hasher.hash("correct horse battery")
    assert hashed.startswith("$2b$04$")
    assert await hasher.verify("correct horse battery", hashed)
    assert not await hasher.verify("correct horse batterY", hashed)
    assert not await hasher.verify("correct horse battery", "not-a-bcrypt-hash")


async def test_long_passwords_count_past_72_bytes() -> None:
    # bcrypt alone reads 72 bytes; the SHA-256 pre-hash makes every character count.
    hasher = PasswordHasher(4)
    base = "x" * 100
    hashed = await hasher.hash(base + "a")
    assert not await hasher.verify(base + "b", hashed)
    assert await hasher.verify(base + "a", hashed)


async def test_needs_rehash_when_cost_rises() -> None:
    weak = PasswordHasher(4)
    hashed = await weak.hash("correct horse battery")
    assert hash_cost(hashed) == 4
    assert PasswordHasher(5).needs_rehash(hashed)
    assert not weak.needs_rehash(hashed)


@pytest.mark.slow
async def test_cost_12_runs_off_the_event_loop() -> None:
    """The production cost (12): the loop keeps ticking while bcrypt works on a thread."""
    hasher = PasswordHasher(12)
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    hashed = await hasher.hash("correct horse battery")
    ok = await hasher.verify("correct horse battery", hashed)
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    assert ok
    assert hash_cost(hashed) == 12
    assert elapsed > 0.05, "cost 12 should take visibly long"
    assert len(gaps) > 5
    assert max(gaps) < 0.1, f"event loop blocked for {max(gaps):.3f} s"


@pytest.mark.parametrize(
    ("password", "email", "message"),
    [
        ("short", "", "at least 10"),
        ("a" * 1025, "", "at most 1024"),
        ("Me@Example.com", "me@example.com", "not be the email"),
    ],
)
def test_new_password_rules(password: str, email: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        validate_new_password(password, email)
    assert caught.value.field == "password"


def test_bad_rounds_refused() -> None:
    with pytest.raises(ValueError, match=r"4\.\.31"):
        PasswordHasher(3)
