"""ACP (the Agent Communication Protocol of the `acp-sdk` package, 1.0): one agent whose
runs execute the shared actions, and the seed's `{header, payload}` form."""

from __future__ import annotations

__all__: list[str] = []
