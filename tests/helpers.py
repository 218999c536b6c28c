"""Small helpers shared by tests (import as `from tests.helpers import ...`)."""

from __future__ import annotations

import socket
import uuid

__all__ = ["TEST_JWT_SECRET", "free_port", "unique"]

TEST_JWT_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def unique(prefix: str = "test") -> str:
    """A key or name no other test (or concurrent test run) uses."""
    return f"{prefix}:{uuid.uuid4().hex}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
