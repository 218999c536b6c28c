"""Reads of the durable usage table (`gateway_usage`); `usage_writer` writes it."""

from __future__ import annotations

from typing import Any, NamedTuple

from gpuproxy.storage.database import Database

__all__ = ["UsageBucket", "UsageTotals", "usage_buckets", "user_totals_since"]


class UsageBucket(NamedTuple):
    """Requests and cost of one model in one time bucket."""

    bucket: int
    model: str
    requests: int
    cost_micros: int


class UsageTotals(NamedTuple):
    """One user's requests, tokens and cost since a moment."""

    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int


async def user_totals_since(db: Database, user_id: str, since_ms: int) -> UsageTotals:
    row = await db.fetchrow(
        "SELECT COUNT(*) AS requests, COALESCE(SUM(prompt_tokens), 0) AS prompt, "
        "COALESCE(SUM(completion_tokens), 0) AS completion, "
        "COALESCE(SUM(cost_micros), 0) AS cost FROM gateway_usage "
        "WHERE user_id = $1 AND created_at >= $2",
        user_id,
        since_ms,
    )
    row = row or {}
    return UsageTotals(
        int(row.get("requests") or 0),
        int(row.get("prompt") or 0),
        int(row.get("completion") or 0),
        int(row.get("cost") or 0),
    )


async def usage_buckets(
    db: Database, *, start_ms: int, width_ms: int, user_id: str | None
) -> list[UsageBucket]:
    """Requests since `start_ms` grouped by bucket (`width_ms` wide, 0 = the first) and
    model: every account's when `user_id` is None, else that user's only."""
    sql = (
        "SELECT (created_at - $1) / $2 AS bucket, model, COUNT(*) AS requests, "
        "SUM(cost_micros) AS cost FROM gateway_usage WHERE created_at >= $1"
    )
    args: list[Any] = [start_ms, width_ms]
    if user_id is not None:
        sql += " AND user_id = $3"
        args.append(user_id)
    rows = await db.fetch(sql + " GROUP BY bucket, model", *args)
    return [
        UsageBucket(int(r["bucket"]), str(r["model"]), int(r["requests"]), int(r["cost"] or 0))
        for r in rows
    ]
