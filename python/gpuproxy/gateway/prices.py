"""Per-model token prices (admin-configurable) and the cost of a request in micro-dollars.

Prices are integer micro-dollars per million tokens, separately for input (prompt) and
output (completion) tokens, so $0.15 / 1M tokens is 150_000. A request's cost is rounded
up to a whole micro-dollar. A model without a configured price costs the defaults
(GATEWAY_DEFAULT_INPUT_PRICE / GATEWAY_DEFAULT_OUTPUT_PRICE, zero unless set).

Token prices apply to traffic served by shared pools. Traffic served by the caller's own
workers costs nothing per token: those GPUs are billed by the hour as rented instances.

The table lives in the database (`model_prices`); every process keeps a copy in memory,
reloaded when an admin changes a price (the change is published on the key-value store so
other instances reload too).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Database

__all__ = ["PRICES_CHANNEL", "ModelPrice", "PriceBook", "cost_micros"]

PRICES_CHANNEL = "gpuproxy:gateway:prices"
_PER = 1_000_000


class ModelPrice(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    input_micros_per_mtok: int
    output_micros_per_mtok: int
    updated_at: int = 0


def cost_micros(price: ModelPrice, prompt_tokens: int, completion_tokens: int) -> int:
    """Integer micro-dollars, rounded up (a request never costs less than its tokens)."""
    numerator = price.input_micros_per_mtok * max(
        0, prompt_tokens
    ) + price.output_micros_per_mtok * max(0, completion_tokens)
    return -(-numerator // _PER)


class PriceBook:
    """The in-memory price table; `price(model)` is a dict lookup on the request path."""

    def __init__(self, db: Database, *, default_input: int = 0, default_output: int = 0) -> None:
        self._db = db
        self._prices: dict[str, ModelPrice] = {}
        #: called after every change (the data plane's price table follows it)
        self.on_change: list[Callable[[], None]] = []
        self.default = ModelPrice(
            model="*", input_micros_per_mtok=default_input, output_micros_per_mtok=default_output
        )

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    def price(self, model: str) -> ModelPrice:
        return self._prices.get(model, self.default)

    def all(self) -> list[ModelPrice]:
        return sorted(self._prices.values(), key=lambda p: p.model)

    async def load(self) -> None:
        rows = await self._db.fetch(
            "SELECT model, input_micros_per_mtok, output_micros_per_mtok, updated_at "
            "FROM model_prices"
        )
        self._prices = {
            row["model"]: ModelPrice(
                model=row["model"],
                input_micros_per_mtok=int(row["input_micros_per_mtok"]),
                output_micros_per_mtok=int(row["output_micros_per_mtok"]),
                updated_at=int(row["updated_at"]),
            )
            for row in rows
        }
        self._changed()

    async def set(self, model: str, input_micros: int, output_micros: int, by: str) -> ModelPrice:
        if input_micros < 0 or output_micros < 0:
            raise ValueError("prices cannot be negative")
        now = now_ms()
        await self._db.execute(
            "INSERT INTO model_prices (model, input_micros_per_mtok, output_micros_per_mtok, "
            "updated_at, updated_by) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (model) DO UPDATE SET "
            "input_micros_per_mtok = excluded.input_micros_per_mtok, "
            "output_micros_per_mtok = excluded.output_micros_per_mtok, "
            "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            model,
            input_micros,
            output_micros,
            now,
            by,
        )
        price = ModelPrice(
            model=model,
            input_micros_per_mtok=input_micros,
            output_micros_per_mtok=output_micros,
            updated_at=now,
        )
        self._prices[model] = price
        self._changed()
        return price

    async def delete(self, model: str) -> bool:
        changed = await self._db.execute("DELETE FROM model_prices WHERE model = $1", model)
        self._prices.pop(model, None)
        self._changed()
        return changed > 0
