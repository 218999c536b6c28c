"""The MCP server (Streamable HTTP transport) over the agent actions."""

from __future__ import annotations

__all__: list[str] = []
