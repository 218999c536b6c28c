"""Rate limiting (GCRA): one shared Redis script per request, local fallback."""

from __future__ import annotations

from gpuproxy.accounts.ratelimit.decision import RateDecision
from gpuproxy.accounts.ratelimit.limiter import RateLimiter
from gpuproxy.accounts.ratelimit.local import CoreGcraLimiter, LocalRateLimiter

__all__ = ["CoreGcraLimiter", "LocalRateLimiter", "RateDecision", "RateLimiter"]
