"""The A2A agent card (`/.well-known/agent-card.json`): who this agent is, where its
JSON-RPC interface is, how to authenticate, and one skill per action."""

from __future__ import annotations

from typing import Any

from gpuproxy import __version__
from gpuproxy.agents.actions import ACTIONS

__all__ = ["A2A_PATH", "PROTOCOL_VERSION", "agent_card"]

A2A_PATH = "/api/v1/a2a"
PROTOCOL_VERSION = "1.0"


def agent_card(base_url: str) -> dict[str, Any]:
    return {
        "name": "aiserve-gpuproxy",
        "description": "Rent GPUs (vast.ai, io.net, a local fleet), watch spending and run "
        "inference. Send a message with a data part {skill, arguments}.",
        "version": __version__,
        "supportedInterfaces": [
            {
                "url": base_url.rstrip("/") + A2A_PATH,
                "protocolBinding": "JSONRPC",
                "protocolVersion": PROTOCOL_VERSION,
            }
        ],
        "provider": {"organization": "aiserve", "url": base_url.rstrip("/")},
        "capabilities": {"streaming": True, "pushNotifications": False},
        "securitySchemes": {
            "apiKey": {"apiKeySecurityScheme": {"location": "header", "name": "X-API-Key"}},
            "bearer": {"httpAuthSecurityScheme": {"scheme": "bearer"}},
        },
        "securityRequirements": [
            {"schemes": {"apiKey": {"list": []}}},
            {"schemes": {"bearer": {"list": []}}},
        ],
        "defaultInputModes": ["application/json", "text/plain"],
        "defaultOutputModes": ["application/json"],
        "skills": [
            {
                "id": a.tool,
                "name": a.title,
                "description": a.description,
                "tags": [a.scope],
                "inputModes": ["application/json"],
                "outputModes": ["application/json"],
            }
            for a in ACTIONS
        ],
    }
