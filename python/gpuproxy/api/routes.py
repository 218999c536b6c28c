"""Every route handler and controller of the HTTP API, in one list the app factory mounts.

Each area adds its controller here (one import, one list entry).
"""

from __future__ import annotations

from typing import Any

from gpuproxy.api.accounts.admin import AdminController
from gpuproxy.api.accounts.auth import AuthController
from gpuproxy.api.agents.a2a import A2A_ROUTE_HANDLERS
from gpuproxy.api.agents.acl import ACL_ROUTE_HANDLERS
from gpuproxy.api.agents.acp import ACP_ROUTER
from gpuproxy.api.agents.detect import agent_auto
from gpuproxy.api.agents.langchain import LangChainController, agent_discover
from gpuproxy.api.agents.mcp import MCP_ROUTE_HANDLERS
from gpuproxy.api.billing.account import BillingController
from gpuproxy.api.billing.admin import BillingAdminController
from gpuproxy.api.billing.guardrails import GuardRailsAdminController, GuardRailsController
from gpuproxy.api.billing.webhooks import BillingWebhooksController
from gpuproxy.api.gateway.admin import ModelPricesController, SharedPoolsController
from gpuproxy.api.gateway.monitoring import MonitoringController
from gpuproxy.api.gateway.openai_routes import OPENAI_ROUTE_HANDLERS
from gpuproxy.api.gateway.workers_ws import workers_connect
from gpuproxy.api.gpu.events_ws import events_ws
from gpuproxy.api.gpu.loadbalancer import LoadBalancerController
from gpuproxy.api.gpu.proxy import GpuProxyController
from gpuproxy.api.gpu.rentals import GpuController
from gpuproxy.api.health import HealthController
from gpuproxy.api.serving.inference_v2 import INFERENCE_V2_HANDLERS
from gpuproxy.api.serving.models import ModelsController
from gpuproxy.dashboard.routes import DASHBOARD_ROUTE_HANDLERS

__all__ = ["ROUTE_HANDLERS"]

ROUTE_HANDLERS: list[Any] = [
    HealthController,
    AuthController,
    AdminController,
    workers_connect,
    GpuController,
    LoadBalancerController,
    events_ws,
    BillingController,
    BillingAdminController,
    BillingWebhooksController,
    GuardRailsController,
    GuardRailsAdminController,
    *OPENAI_ROUTE_HANDLERS,
    MonitoringController,
    ModelPricesController,
    SharedPoolsController,
    GpuProxyController,
    *MCP_ROUTE_HANDLERS,
    LangChainController,
    *A2A_ROUTE_HANDLERS,
    ACP_ROUTER,
    agent_auto,
    *ACL_ROUTE_HANDLERS,
    agent_discover,
    ModelsController,
    *INFERENCE_V2_HANDLERS,
    *DASHBOARD_ROUTE_HANDLERS,
]
