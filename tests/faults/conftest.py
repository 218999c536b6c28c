"""The gateway fixtures of tests/gateway, for the fault tests that need no private server."""

from __future__ import annotations

from tests.gateway.conftest import gateway, gateway_env

__all__ = ["gateway", "gateway_env"]
