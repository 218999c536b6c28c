"""Model prices (cost arithmetic, database round trip) and recent-window statistics."""

from __future__ import annotations

import pytest

from gpuproxy.gateway.prices import ModelPrice, PriceBook, cost_micros
from gpuproxy.gateway.window_stats import KeyedSeries, Series
from gpuproxy.storage.database import Database
from gpuproxy.storage.migrations import apply_migrations


def test_cost_is_integer_micros_rounded_up() -> None:
    price = ModelPrice(model="m", input_micros_per_mtok=150_000, output_micros_per_mtok=600_000)
    assert cost_micros(price, 0, 0) == 0
    assert cost_micros(price, 1, 0) == 1  # 0.15 micro rounds up
    assert cost_micros(price, 1_000_000, 1_000_000) == 750_000
    assert cost_micros(price, 10, 20) == 14  # (1.5 + 12) -> 14


async def test_price_book_round_trip(any_db: Database) -> None:
    await apply_migrations(any_db)
    book = PriceBook(any_db, default_input=1, default_output=2)
    await book.load()
    assert book.price("x").input_micros_per_mtok == 1
    await book.set("llama", 100, 200, by="admin")
    await book.set("llama", 300, 400, by="admin")
    other = PriceBook(any_db)
    await other.load()
    assert other.price("llama").output_micros_per_mtok == 400
    assert [p.model for p in other.all()] == ["llama"]
    assert await other.delete("llama")
    assert not await other.delete("llama")
    with pytest.raises(ValueError, match="negative"):
        await book.set("m", -1, 0, by="a")


def test_series_percentiles_and_windows() -> None:
    series = Series()
    now = 10_000.0
    for i in range(100):
        series.add(
            now,
            ok=i % 10 != 0,
            latency_s=(i + 1) / 1000,
            ttft_s=0.005,
            prompt_tokens=2,
            completion_tokens=3,
            cost_micros=1,
        )
    series.add(
        now - 600,
        ok=True,
        latency_s=5.0,
        ttft_s=None,
        prompt_tokens=0,
        completion_tokens=0,
        cost_micros=0,
    )
    one = series.summary(now, 60)
    assert one["requests"] == 100
    assert one["errors"] == 10
    assert one["completion_tokens"] == 300
    p50 = one["latency_ms"]["p50"]
    assert 47 <= p50 <= 54
    assert 95 <= one["latency_ms"]["p99"] <= 105
    assert 4.7 <= one["ttft_ms"]["p50"] <= 5.3
    fifteen = series.summary(now, 900)
    assert fifteen["requests"] == 101
    assert fifteen["latency_ms"]["p99"] <= 105
    assert series.summary(now + 7200, 3600)["requests"] == 0


def test_keyed_series_forgets_least_recent() -> None:
    keyed = KeyedSeries(max_keys=2)
    for key in ["a", "b", "a", "c"]:
        keyed.get(key).add(
            100.0,
            ok=True,
            latency_s=0.1,
            ttft_s=None,
            prompt_tokens=1,
            completion_tokens=1,
            cost_micros=0,
        )
    assert sorted(keyed.keys()) == ["a", "c"]
    assert set(keyed.summaries(100.0, 60)) == {"a", "c"}
