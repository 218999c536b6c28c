"""API-key usage (`last_used_at`, `request_count`) counted in memory, written in batches.

The hot path only bumps a dict entry; a background task writes every few seconds (one
executemany) and once more at shutdown, so a busy key costs no per-request database write.
`last_used_at` is the time of the flush, so it is accurate to the flush interval.
"""

from __future__ import annotations

import asyncio
import logging

from gpuproxy.accounts.apikeys import ApiKeyRepository
from gpuproxy.clock import now_ms

__all__ = ["KeyUsageRecorder"]

log = logging.getLogger(__name__)


class KeyUsageRecorder:
    def __init__(self, keys: ApiKeyRepository, interval_s: float = 5.0) -> None:
        self.keys = keys
        self.interval_s = interval_s
        self._pending: dict[str, int] = {}

    def touch(self, key_id: str) -> None:
        self._pending[key_id] = self._pending.get(key_id, 0) + 1

    @property
    def pending(self) -> dict[str, int]:
        return dict(self._pending)

    async def flush(self) -> int:
        """Write what was counted; returns the number of keys written."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        try:
            await self.keys.add_usage(sorted(batch.items()), now_ms())
        except Exception:
            # Put the counts back so the next flush retries them.
            for key_id, count in batch.items():
                self._pending[key_id] = self._pending.get(key_id, 0) + count
            raise
        return len(batch)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("writing API key usage failed; will retry")
