"""The dashboard's route handlers and its static files, mounted by `gpuproxy.api.routes`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Response
from litestar.static_files import create_static_files_router

from gpuproxy.dashboard.admin_page import DashboardAdminController
from gpuproxy.dashboard.auth_pages import DashboardAuthController
from gpuproxy.dashboard.billing_page import DashboardBillingController
from gpuproxy.dashboard.gpus_page import DashboardGpusController
from gpuproxy.dashboard.keys_page import DashboardKeysController
from gpuproxy.dashboard.overview_page import DashboardOverviewController
from gpuproxy.dashboard.playground_page import DashboardPlaygroundController
from gpuproxy.dashboard.session import DASHBOARD_PREFIX

__all__ = ["DASHBOARD_ROUTE_HANDLERS"]

#: Shipped inside the package (package data of the wheel), read from where it is installed.
_STATIC = Path(__file__).parent / "static"


async def _nosniff(response: Response[Any]) -> Response[Any]:
    # The browser must run dashboard.js as the script it is declared to be, nothing else.
    response.headers["x-content-type-options"] = "nosniff"
    return response


DASHBOARD_ROUTE_HANDLERS: list[Any] = [
    DashboardAuthController,
    DashboardKeysController,
    DashboardOverviewController,
    DashboardGpusController,
    DashboardPlaygroundController,
    DashboardBillingController,
    DashboardAdminController,
    create_static_files_router(
        path=DASHBOARD_PREFIX + "/static",
        directories=[_STATIC],
        name="dashboard:static",
        include_in_schema=False,
        after_request=_nosniff,
    ),
]
