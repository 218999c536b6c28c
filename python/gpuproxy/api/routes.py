"""Every route handler and controller of the HTTP API, in one list the app factory mounts.

Each area adds its controller here (one import, one list entry).
"""

from __future__ import annotations

from typing import Any

from gpuproxy.api.admin import AdminController
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
from gpuproxy.api.loadbalancer import LoadBalancerController
from gpuproxy.api.monitoring import MonitoringController
from gpuproxy.api.openai_routes import OPENAI_ROUTE_HANDLERS
from gpuproxy.api.workers_ws import workers_connect

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
]
