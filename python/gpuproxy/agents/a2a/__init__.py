"""A2A (Agent2Agent) v1.0 over JSON-RPC: agent card, messages, tasks."""

from __future__ import annotations

__all__: list[str] = []
