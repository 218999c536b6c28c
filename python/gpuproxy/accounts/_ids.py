"""Account ids (stored times come from `gpuproxy.clock.now_ms`)."""

from __future__ import annotations

import uuid

__all__ = ["new_id"]


def new_id() -> str:
    """A random opaque id (32 hex characters)."""
    return uuid.uuid4().hex
