"""The exceptions a key-value store raises when Redis is unreachable or misbehaves."""

from __future__ import annotations

from redis.exceptions import RedisError

__all__ = ["KV_ERRORS"]

KV_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
