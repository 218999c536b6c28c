"""The answer of a rate-limit check and the response headers it implies."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RateDecision"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int  # requests per minute
    remaining: int  # requests that would be allowed right now
    retry_after_ms: int  # 0 when allowed
    reset_after_ms: int  # until the full burst is available again

    @property
    def retry_after_s(self) -> int:
        """Whole seconds to wait, rounded up (a client waiting this long will pass)."""
        return max(1, -(-self.retry_after_ms // 1000)) if not self.allowed else 0

    def headers(self) -> list[tuple[bytes, bytes]]:
        """X-RateLimit-Limit/Remaining/Reset (Reset in seconds from now), plus Retry-After."""
        reset_s = -(-self.reset_after_ms // 1000)
        headers = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(reset_s).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after_s).encode()))
        return headers
