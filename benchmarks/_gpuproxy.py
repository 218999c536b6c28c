"""The `gpuproxy` peer: aiserve-gpuproxyd with the OpenAI-compatible /v1 routes.

Governance ON = API-key auth, per-key rate limit, spend guard rails and metering all
active (limits set high enough never to refuse the benchmark's load, so they are
checked, not tripped). OFF = the same server with those features disabled, to show their
cost. Until the gateway's /v1 routes exist in this tree the peer reports "not available".
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _peers import Ctx, PeerHandle

__all__ = ["NotAvailable", "open_gpuproxy"]


class NotAvailable(Exception):
    """The peer cannot run here; the message says why (recorded in the results)."""


def _missing() -> str | None:
    if importlib.util.find_spec("gpuproxy") is None:
        return "the gpuproxy package is not installed in this Python"
    if importlib.util.find_spec("gpuproxy.api.openai_routes") is None:
        return "the gateway's /v1 routes (gpuproxy.api.openai_routes) are not in this tree yet"
    return None


@contextlib.contextmanager
def open_gpuproxy(ctx: Ctx, *, governance: bool) -> Iterator[PeerHandle]:
    reason = _missing()
    if reason is not None:
        raise NotAvailable(reason)
    raise NotAvailable("the harness does not drive the gateway's setup yet")
    yield  # pragma: no cover - unreachable until the gateway lands
