"""The agents service: the loopback client of the data plane (per process), started by
the app's STARTUP_HOOKS after the data plane."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpuproxy.agents.errors import ActionFailed
from gpuproxy.agents.inference import DataPlaneClient
from gpuproxy.gateway.data_plane import LISTEN_ENV

if TYPE_CHECKING:
    from gpuproxy.services import Services

__all__ = ["AgentService", "agents_of", "data_plane_of", "start_agents"]


@dataclass(eq=False)
class AgentService:
    #: None when this process serves no data plane (an in-process test client): inference
    #: actions then answer 503, never a second inference path.
    data_plane: DataPlaneClient | None


def agents_of(services: Services) -> AgentService:
    agents = services.agents
    if agents is None:
        return AgentService(data_plane=None)
    return agents


def data_plane_of(services: Services) -> DataPlaneClient:
    client = agents_of(services).data_plane
    if client is None:
        raise ActionFailed(
            503,
            "inference is served by the data plane, which is not running in this process",
            "data_plane_required",
        )
    return client


async def start_agents(services: Services) -> None:
    """STARTUP_HOOKS entry (after start_data_plane: it reads the port the data plane bound)."""
    listen = os.environ.get(LISTEN_ENV)
    client = None
    if listen:
        bridge = None if services.gateway is None else services.gateway.data_plane
        port = None if bridge is None else bridge.core.port
        client = DataPlaneClient.from_listen(listen, port)
        services.shutdown_hooks.append(client.aclose)
    services.agents = AgentService(data_plane=client)
