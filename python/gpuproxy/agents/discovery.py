"""What `/agent/discover` tells an agent: the protocols served here, where, which
revisions, and the tools (the same for every protocol)."""

from __future__ import annotations

from typing import Any

from gpuproxy import __version__
from gpuproxy.agents.actions import ACTIONS
from gpuproxy.agents.mcp.versions import SUPPORTED

__all__ = ["discovery_document"]


def discovery_document() -> dict[str, Any]:
    return {
        "name": "aiserve-gpuproxy",
        "version": __version__,
        "authentication": ["X-API-Key: <key>", "Authorization: Bearer <key or JWT>"],
        "protocols": [
            {
                "name": "mcp",
                "transport": "streamable-http",
                "endpoints": ["/api/v1/mcp", "/mcp"],
                "versions": list(SUPPORTED),
                "stdio": "aiserve-gpuproxy-client mcp",
            },
            {
                "name": "a2a",
                "transport": "jsonrpc",
                "endpoints": ["/api/v1/a2a"],
                "agent_card": "/.well-known/agent-card.json",
                "versions": ["1.0", "0.3 method names"],
            },
            {
                "name": "acp",
                "transport": "rest",
                "endpoints": ["/api/v1/acp"],
                "agents": ["gpuproxy"],
                "versions": ["acp-sdk 1.0 REST (agents, runs: sync, async, stream)", "seed JSON"],
            },
            {
                "name": "fipa-acl",
                "endpoints": ["/api/v1/fipa"],
                "versions": ["FIPA ACL string syntax (SC00070)", "seed JSON"],
            },
            {
                "name": "kqml",
                "endpoints": ["/api/v1/kqml"],
                "versions": ["KQML s-expressions", "seed JSON"],
            },
            {
                "name": "langchain",
                "endpoints": ["/api/v1/langchain/tools", "/api/v1/langchain"],
                "versions": ["openai-function-tools"],
            },
        ],
        "auto_detect": {
            "endpoint": "/api/v1/agent",
            "header": "X-Agent-Protocol",
            "detects": ["mcp", "a2a", "acp", "fipa", "kqml", "langchain"],
        },
        "not_available": ["cuic"],
        "skills": [
            {
                "name": a.tool,
                "title": a.title,
                "description": a.description,
                "scope": a.scope,
                "input_schema": dict(a.input_schema),
            }
            for a in ACTIONS
        ],
    }
