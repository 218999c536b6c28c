"""What the gateway needs from billing, stated here so the gateway does not depend on the
billing package: `BillingService` satisfies `GatewayBilling`, and the book it hands out
(`gpuproxy.billing.allowances.AllowanceBook`) satisfies `SpendAllowances`."""

from __future__ import annotations

from typing import Protocol

__all__ = ["GatewayBilling", "SpendAllowances"]


class SpendAllowances(Protocol):
    """Money reserved once per user and spent by many data-plane requests."""

    async def grant(self, user_id: str, need: int) -> tuple[int, int, bool]:
        """(allowance id, amount, single use), or raises billing's refusal (`ApiError`)."""
        ...

    def charge(self, allowance_id: int, cost: int, ref: str | None) -> None:
        """One settled request of the allowance cost `cost` (`ref`: its request id)."""
        ...

    def close(self, allowance_id: int, spent: int) -> None:
        """The data plane retired the allowance having settled `spent` in all."""
        ...

    def close_all(self) -> None:
        """Shutdown: settle whatever the data plane did not close."""
        ...


class GatewayBilling(Protocol):
    def allowance_book(self, size_micros: int) -> SpendAllowances:
        """A book of allowances of `size_micros` each (less near a spend limit)."""
        ...
