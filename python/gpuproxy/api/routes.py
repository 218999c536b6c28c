"""Every route handler and controller of the HTTP API, in one list the app factory mounts.

Each area adds its controller here (one import, one list entry).
"""

from __future__ import annotations

from typing import Any

from gpuproxy.api.a2a import A2A_ROUTE_HANDLERS
from gpuproxy.api.acl_http import ACL_ROUTE_HANDLERS
from gpuproxy.api.admin import AdminController
from gpuproxy.api.agent_detect import agent_auto
from gpuproxy.api.agents_http import LangChainController, agent_discover
from gpuproxy.api.auth import AuthController
from gpuproxy.api.billing import BillingController
from gpuproxy.api.billing_admin import BillingAdminController
from gpuproxy.api.billing_webhooks import BillingWebhooksController
from gpuproxy.api.events_ws import events_ws
from gpuproxy.api.gateway_admin import ModelPricesController, SharedPoolsController
from gpuproxy.api.gpu import GpuController
from gpuproxy.api.gpu_proxy import GpuProxyController
from gpuproxy.api.guardrails import GuardRailsAdminController, GuardRailsController
from gpuproxy.api.health import HealthController
from gpuproxy.api.inference_v2 import INFERENCE_V2_HANDLERS
from gpuproxy.api.loadbalancer import LoadBalancerController
from gpuproxy.api.mcp import MCP_ROUTE_HANDLERS
from gpuproxy.api.models import ModelsController
from gpuproxy.api.monitoring import MonitoringController
from gpuproxy.api.openai_routes import OPENAI_ROUTE_HANDLERS
from gpuproxy.api.workers_ws import workers_connect
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
    agent_auto,
    *ACL_ROUTE_HANDLERS,
    agent_discover,
    ModelsController,
    *INFERENCE_V2_HANDLERS,
    *DASHBOARD_ROUTE_HANDLERS,
]
