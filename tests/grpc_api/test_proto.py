"""The .proto ships with the package, declares the seed's service, and the committed
generated modules are what `make proto` produces from it (a stale one fails here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from gpuproxy.grpc_api import PROTO_PATH, gpuproxy_pb2

GENERATED = ("gpuproxy_pb2.py", "gpuproxy_pb2.pyi", "gpuproxy_pb2_grpc.py")
SEED_RPCS = {
    "Login", "CreateAPIKey", "ListGPUInstances", "CreateGPUInstance", "DestroyGPUInstance",
    "GetGPUInstance", "ProxyRequest", "StreamProxyRequest", "CreatePayment", "GetTransactions",
    "GetSpendingInfo", "CheckSpendingLimit", "SetLoadBalancerStrategy", "GetLoadInfo",
    "ReserveGPUs", "HealthCheck",
}  # fmt: skip


def test_generated_modules_are_current(tmp_path: Path) -> None:
    source_root = PROTO_PATH.parents[2]  # .../python (the -I of `make proto`)
    copy = tmp_path / "gpuproxy" / "grpc_api"
    copy.mkdir(parents=True)
    shutil.copy(PROTO_PATH, copy / PROTO_PATH.name)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}",
         f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}",
         str(copy / PROTO_PATH.name)],
        check=True, timeout=60,
    )  # fmt: skip
    for name in GENERATED:
        committed = (source_root / "gpuproxy" / "grpc_api" / name).read_text()
        assert (copy / name).read_text() == committed, f"{name} is stale: run `make proto`"


def test_service_has_the_seed_rpcs_with_streaming_where_the_seed_streams() -> None:
    service = gpuproxy_pb2.DESCRIPTOR.services_by_name["GPUProxyService"]
    assert service.full_name == "gpuproxy.GPUProxyService"
    assert {m.name for m in service.methods} == SEED_RPCS
    stream = service.methods_by_name["StreamProxyRequest"]
    assert stream.client_streaming
    assert stream.server_streaming
    instance = gpuproxy_pb2.GPUInstance.DESCRIPTOR.fields_by_name
    assert instance["price_per_hour"].number == 4
    assert instance["metadata"].number == 9
