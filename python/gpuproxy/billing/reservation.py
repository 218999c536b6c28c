"""The handle the gateway holds while a request runs: commit the actual cost, or release.

Committing or releasing is synchronous and touches memory only (windows, credit gate, the
batch writer's sums). Exactly one of them takes effect; later calls are ignored. Used as an
async context manager it releases on any exit that did not commit (errors, cancellation),
and a handle that is garbage-collected unsettled releases itself (with a warning).
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING

from gpuproxy.billing.ledger import EntryType

if TYPE_CHECKING:
    from gpuproxy.billing.guardrails import GuardHold
    from gpuproxy.billing.service import BillingService

__all__ = ["Reservation"]

log = logging.getLogger(__name__)


class Reservation:
    __slots__ = ("_guard", "_service", "amount", "kind", "settled", "user_id")

    def __init__(
        self,
        service: BillingService,
        user_id: str,
        amount: int,
        kind: EntryType,
        guard: GuardHold,
    ) -> None:
        self._service = service
        self.user_id = user_id
        self.amount = amount
        self.kind = kind
        self._guard: GuardHold | None = guard
        self.settled = False

    def commit(self, actual_micros: int, *, ref: str | None = None) -> None:
        """Charge `actual_micros` (may differ from the estimate; 0 charges nothing)."""
        if actual_micros < 0:
            raise ValueError("actual_micros must be >= 0")
        if self.settled:
            return
        self.settled = True
        self._service._settle(self, self._take_guard(), actual_micros, ref)

    def release(self) -> None:
        """Charge nothing and free the reserved amount."""
        if self.settled:
            return
        self.settled = True
        self._service._settle(self, self._take_guard(), None, None)

    def take_guard(self) -> GuardHold:
        """Hand the window hold to a longer-lived owner (GPU accrual); settles this handle."""
        self.settled = True
        return self._take_guard()

    def _take_guard(self) -> GuardHold:
        guard, self._guard = self._guard, None
        assert guard is not None
        return guard

    async def __aenter__(self) -> Reservation:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        if not self.settled and self._guard is not None:
            log.warning("a billing reservation was dropped without commit or release")
            try:
                self.release()
            except Exception:  # pragma: no cover - never raise from a finalizer
                log.exception("releasing a dropped reservation failed")
