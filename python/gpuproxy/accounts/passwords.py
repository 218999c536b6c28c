"""Password hashing with bcrypt, always off the event loop.

bcrypt reads at most 72 bytes (bcrypt 5 refuses longer input), so the password is first
reduced to base64(SHA-256(password)): every character counts and no NUL byte reaches bcrypt.
The cost comes from BCRYPT_ROUNDS (12 in production; tests lower it). Hashing runs on a
small dedicated thread pool so a burst of logins queues instead of starving the loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import bcrypt

from gpuproxy.accounts.errors import InvalidInput

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordHasher",
    "hash_cost",
    "validate_new_password",
]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="bcrypt"
        )
    return _executor


def _prehash(secret: str) -> bytes:
    return base64.b64encode(hashlib.sha256(secret.encode("utf-8")).digest())


def hash_cost(hashed: str) -> int:
    """The cost factor stored in a bcrypt hash (`$2b$12$...` -> 12); 0 when unreadable."""
    parts = hashed.split("$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0


def validate_new_password(password: str, email: str = "", field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(field, f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if email and password.strip().lower() == email.strip().lower():
        raise InvalidInput(field, "must not be the email address")


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        if not 4 <= rounds <= 31:
            raise ValueError(f"bcrypt rounds must be 4..31, got {rounds}")
        self.rounds = rounds
        self._dummy: str | None = None

    def hash_sync(self, secret: str) -> str:
        return bcrypt.hashpw(_prehash(secret), bcrypt.gensalt(self.rounds)).decode("ascii")

    @staticmethod
    def verify_sync(secret: str, hashed: str) -> bool:
        try:
            return bcrypt.checkpw(_prehash(secret), hashed.encode("ascii"))
        except ValueError:  # not a bcrypt hash: never equal
            return False

    async def hash(self, secret: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(_pool(), self.hash_sync, secret)

    async def verify(self, secret: str, hashed: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_pool(), self.verify_sync, secret, hashed)

    async def verify_dummy(self, secret: str) -> None:
        """Spend the time of a real check, for an account that does not exist."""
        if self._dummy is None:
            self._dummy = await self.hash("not-a-real-password")
        await self.verify(secret, self._dummy)

    def needs_rehash(self, hashed: str) -> bool:
        return hash_cost(hashed) < self.rounds
