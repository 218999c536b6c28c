"""The gRPC API: the seed's `gpuproxy.GPUProxyService` on GRPC_PORT, next to the HTTP API.

`gpuproxy.proto` (shipped in the wheel: `PROTO_PATH`) is the contract; `gpuproxy_pb2*` are
generated from it by `make proto`. The server (`gpuproxy.grpc_api.server`) runs in each
daemon worker, in the control plane's event loop, over the same services as the HTTP
routes: accounts for authentication and rate limits, providers for renting, billing for
payments and guard rails. Proxy RPCs are HTTP requests to the public port (the Rust data
plane) with the caller's credential, so they are metered and billed like HTTP.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PROTO_PATH"]

#: The service definition, for clients that load it at run time (grpc-js, grpcurl -proto).
PROTO_PATH = Path(__file__).with_name("gpuproxy.proto")
