"""Agent protocols over one set of actions (`gpuproxy.agents.actions`).

Every protocol (MCP, A2A, ACP, FIPA ACL, KQML, LangChain; CUIC not yet) maps its
messages onto the same actions, which call the existing services (providers, billing)
and send inference through the Rust data plane's HTTP routes with the caller's own
credential, so authentication, scopes, tenant checks, rate limits and metering are the
REST ones.
"""

from __future__ import annotations

__all__: list[str] = []
