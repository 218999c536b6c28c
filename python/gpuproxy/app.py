"""The Litestar application factory (`gpuproxy.app:create_app`): the control plane.

Under aiserve-gpuproxyd this app never sees the inference routes: the Rust data plane serves them
(`crates/gpuproxy-core/src/gateway/service.rs`, started by `gateway/data_plane.py` in
`STARTUP_HOOKS`) and hands every other request to this app over a private socket. The map
of both planes is `ARCHITECTURE.md` next to this file.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from gpuproxy import __version__
from gpuproxy.accounts.startup import start_accounts
from gpuproxy.agents.service import start_agents
from gpuproxy.api.auth_middleware import AuthMiddleware
from gpuproxy.api.errors import EXCEPTION_HANDLERS
from gpuproxy.api.forwarded import ForwardedClient
from gpuproxy.api.openapi_errors import SECURITY_COMPONENTS, ErrorDocsPlugin
from gpuproxy.api.request_id import RequestIdMiddleware
from gpuproxy.api.routes import ROUTE_HANDLERS
from gpuproxy.billing.service import start_billing
from gpuproxy.config import Settings, load_settings
from gpuproxy.gateway.data_plane import UDS_ENV, start_data_plane
from gpuproxy.gateway.service import start_gateway
from gpuproxy.grpc_api.server import start_grpc
from gpuproxy.logs import configure_logging
from gpuproxy.providers.service import start_providers
from gpuproxy.services import Services, start_services
from gpuproxy.serving.service import start_serving

__all__ = ["create_app", "create_asgi_app"]


#: Coroutines `(services) -> None` run once at startup, in order (each area adds its own).
STARTUP_HOOKS: list[Any] = [
    start_accounts,
    start_billing,
    start_providers,  # after billing: rentals hold credits and stop when they run out
    start_gateway,
    start_serving,  # model serving: predictions are billed, so after billing
    start_data_plane,  # serves traffic once everything it calls back into is up
    start_agents,  # after the data plane: agents send inference to its port
    start_grpc,  # after the data plane: its proxy RPCs call the public port
]
#: Extra ASGI middleware after the request id (authentication is added here by accounts).
MIDDLEWARE: list[Any] = [AuthMiddleware]


def _provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def create_app(settings: Settings | None = None, *, freeze_gc: bool = False) -> Litestar:
    """Build the app; settings default to the environment (+ `.env`).

    The server passes developer/debug flags through GPUPROXY_DEVELOPER_MODE and
    GPUPROXY_DEBUG_MODE because Granian imports this factory in each worker process.
    """
    settings = settings or load_settings()
    developer_mode = os.environ.get("GPUPROXY_DEVELOPER_MODE") == "1"
    debug_mode = os.environ.get("GPUPROXY_DEBUG_MODE") == "1"
    if debug_mode:
        import msgspec

        settings = msgspec.structs.replace(settings, log_level="debug")
    configure_logging(settings, developer_mode=developer_mode)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services = await start_services(settings)
        app.state.services = services
        try:
            for start in STARTUP_HOOKS:
                await start(services)
            if freeze_gc:
                # What startup built lives as long as the process: move it out of the
                # collector's generations, so collections triggered by the control plane's
                # garbage (usage drains) do not walk it each time.
                gc.collect()
                gc.freeze()
            yield
        finally:
            await services.close()

    def request_id_middleware(app: Any) -> Any:
        return RequestIdMiddleware(app, log_requests=debug_mode)

    return Litestar(
        route_handlers=ROUTE_HANDLERS,
        dependencies={"services": Provide(_provide_services, sync_to_thread=False)},
        middleware=[request_id_middleware, *MIDDLEWARE],
        exception_handlers=EXCEPTION_HANDLERS,
        plugins=[ErrorDocsPlugin()],
        lifespan=[lifespan],
        cors_config=CORSConfig(allow_origins=[], allow_headers=["*"]),
        openapi_config=OpenAPIConfig(
            title="aiserve-gpuproxy",
            version=__version__,
            path="/schema",
            components=SECURITY_COMPONENTS,
            render_plugins=[SwaggerRenderPlugin()],
        ),
        logging_config=None,
        debug=False,
    )


def create_asgi_app(settings: Settings | None = None) -> Any:
    """What Granian runs in each worker: `create_app`'s Litestar app. Behind the Rust data
    plane (the daemon's default) it sits on a private Unix socket and takes the client
    address from the listener's X-Forwarded-For hop (`gpuproxy.api.forwarded`)."""
    app = create_app(settings, freeze_gc=True)
    if os.environ.get(UDS_ENV):
        return ForwardedClient(app)
    return app
