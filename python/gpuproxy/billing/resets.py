"""Guard-rail resets that reach every server, and spending derived from the ledger.

A reset is a row in `guardrail_resets` (plus, with Redis, the shared windows' reset and a
message on `RESETS_CHANNEL`). Servers apply resets they have not seen to their local Rust
windows: at once from the channel, and from a poll of the table every few seconds, so a
reset made by the admin CLI (another process) reaches servers without Redis too.

`ledger_spending` sums the committed usage and GPU-time debits of each window from the
ledger (after the last reset): what the admin CLI shows when no shared windows exist.
"""

from __future__ import annotations

from gpuproxy.billing.windows import WINDOW_NAMES, window_minutes
from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Database

__all__ = ["RESETS_CHANNEL", "ledger_spending", "record_reset", "resets_since"]

RESETS_CHANNEL = "gpuproxy:billing:resets"


async def record_reset(db: Database, user_id: str, actor: str) -> int:
    at = now_ms()
    await db.execute(
        "INSERT INTO guardrail_resets (user_id, reset_at, reset_by) VALUES ($1, $2, $3) "
        "ON CONFLICT (user_id) DO UPDATE SET reset_at = excluded.reset_at, "
        "reset_by = excluded.reset_by",
        user_id,
        at,
        actor,
    )
    return at


async def resets_since(db: Database, since_ms: int) -> list[tuple[str, int]]:
    rows = await db.fetch(
        "SELECT user_id, reset_at FROM guardrail_resets WHERE reset_at > $1 ORDER BY reset_at",
        since_ms,
    )
    return [(str(r["user_id"]), int(r["reset_at"])) for r in rows]


async def ledger_spending(db: Database, user_id: str, now: int | None = None) -> dict[str, int]:
    """Committed spending per window from the ledger (usage and GPU time, after a reset)."""
    at = now_ms() if now is None else now
    longest = window_minutes(WINDOW_NAMES[-1]) * 60_000
    reset = await db.fetchval("SELECT reset_at FROM guardrail_resets WHERE user_id = $1", user_id)
    start = max(at - longest, int(reset or 0))
    rows = await db.fetch(
        "SELECT amount_micros, created_at FROM ledger_entries WHERE user_id = $1 "
        "AND type IN ('usage', 'gpu_time') AND created_at > $2 AND created_at <= $3",
        user_id,
        start,
        at,
    )
    spent = dict.fromkeys(WINDOW_NAMES, 0)
    for row in rows:
        age = at - int(row["created_at"])
        for name in WINDOW_NAMES:
            if age < window_minutes(name) * 60_000:
                spent[name] -= int(row["amount_micros"])
    return spent
