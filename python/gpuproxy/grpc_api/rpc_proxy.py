"""ProxyRequest and StreamProxyRequest: requests through the gateway's one inference path.

Authentication, scopes, rate limits, spend reservations, metering and billing all happen
where they happen for HTTP (the data plane, or the generic proxy route), because the
request is made over loopback HTTP with the caller's own credential (`loopback`). Nothing
is counted twice: these RPCs do not call the rate limiter themselves.

StreamProxyRequest answers the requests of the stream in order; each answer is a head
message (status_code, headers), body chunks as they arrive (an SSE answer event by
event), and a `done` message, all with the request's `sequence`. Cancelling the call (or
its deadline) closes the HTTP request, and the data plane settles what was delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api._handlers import RpcBase, streaming, unary
from gpuproxy.grpc_api.auth import authentication_required, credential_headers
from gpuproxy.grpc_api.errors import StatusError
from gpuproxy.grpc_api.loopback import Loopback, plan

__all__ = ["ProxyRpcs"]


class ProxyRpcs(RpcBase):
    loopback: Loopback | None = None

    def _route(self, context: Any) -> tuple[Loopback, dict[str, str]]:
        credential = credential_headers(context)
        if not credential:
            raise authentication_required()
        if self.loopback is None:
            raise StatusError(
                grpc.StatusCode.UNAVAILABLE,
                "the inference data plane is not running in this process",
                reason="data_plane_unavailable",
            )
        return self.loopback, credential

    @unary
    async def ProxyRequest(self, request: pb.ProxyRequestMessage, context: Any) -> pb.ProxyResponse:
        loopback, credential = self._route(context)
        step = plan(request, credential, stream=False, deadline_s=context.time_remaining())
        return await loopback.unary(step)

    @streaming
    async def StreamProxyRequest(
        self, request_iterator: AsyncIterator[pb.ProxyRequestMessage], context: Any
    ) -> AsyncIterator[pb.ProxyResponse]:
        loopback, credential = self._route(context)
        sequence = 0
        async for message in request_iterator:
            step = plan(message, credential, stream=True, deadline_s=context.time_remaining())
            async for part in loopback.stream(step, sequence):
                yield part
            sequence += 1
