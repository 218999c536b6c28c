"""MCP protocol revisions this server speaks, newest first, and the negotiation rule.

The client sends the revision it wants in `initialize`; a server that speaks it answers
with the same one, otherwise with the newest it speaks (the client then decides whether
to go on). Streamable HTTP arrived in 2025-03-26, so older revisions are not offered here.
What differs by revision is marked where it matters (structured tool output, tool titles).
"""

from __future__ import annotations

__all__ = ["DEFAULT_HEADER_VERSION", "LATEST", "SUPPORTED", "has_structured_output", "negotiate"]

SUPPORTED = ("2025-11-25", "2025-06-18", "2025-03-26")
LATEST = SUPPORTED[0]
#: What a request without an MCP-Protocol-Version header is assumed to speak (the
#: transport's rule for clients older than the header).
DEFAULT_HEADER_VERSION = "2025-03-26"


def negotiate(requested: object) -> str:
    return requested if isinstance(requested, str) and requested in SUPPORTED else LATEST


def has_structured_output(version: str) -> bool:
    """Tool `outputSchema`, `structuredContent` and `title` arrived in 2025-06-18."""
    return version >= "2025-06-18"
