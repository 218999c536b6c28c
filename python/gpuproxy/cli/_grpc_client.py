"""`aiserve-gpuproxy-client --grpc HOST:PORT ...`: the commands that have an RPC, over the
gRPC API instead of HTTP. Answers are printed as JSON (the RPC's message, field names as in
gpuproxy.proto); a failure prints `error: CODE: message` and exits 1.

Commands without an RPC (`mine`, and reading the strategy with `lb-strategy` and no name,
`mcp`) are refused with a usage error: the seed's service has no message for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import grpc
from google.protobuf.json_format import MessageToDict

from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api import gpuproxy_pb2_grpc

__all__ = ["GRPC_COMMANDS", "run_grpc"]

EXIT_ERROR = 1
EXIT_USAGE = 2


def _float(text: str | None, flag: str) -> float:
    if text is None:
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"error: {flag}: expected a number, got {text!r}") from None


def _list(stub: Any, args: argparse.Namespace) -> Any:
    return stub.ListGPUInstances(
        pb.ListGPUInstancesRequest(
            provider=args.provider or "all",
            min_vram=_float(args.min_vram, "--min-vram"),
            max_price=_float(args.max_price, "--max-price"),
            gpu_model=args.gpu_model or "",
            location=args.location or "",
            limit=args.limit or 0,
        )
    )


def _show(stub: Any, args: argparse.Namespace) -> Any:
    return stub.GetGPUInstance(
        pb.GetGPUInstanceRequest(provider=args.provider, instance_id=args.id)
    )


def _create(stub: Any, args: argparse.Namespace) -> Any:
    env = {}
    for item in args.env or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --env {item!r}: expected NAME=VALUE")
        env[name] = value
    return stub.CreateGPUInstance(
        pb.CreateGPUInstanceRequest(
            provider=args.provider, instance_id=args.id, image=args.image or "", env=env,
            ports=args.port or [],
        )
    )  # fmt: skip


def _destroy(stub: Any, args: argparse.Namespace) -> Any:
    return stub.DestroyGPUInstance(
        pb.DestroyGPUInstanceRequest(provider=args.provider, instance_id=args.id)
    )


def _proxy(stub: Any, args: argparse.Namespace) -> Any:
    headers = {}
    for item in args.header or []:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise SystemExit(f"error: --header {item!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    return stub.ProxyRequest(
        pb.ProxyRequestMessage(
            protocol=args.protocol, target_url=args.target_url, method=args.method.upper(),
            headers=headers, body=(args.data or "").encode(),
        )
    )  # fmt: skip


def _lb_strategy(stub: Any, args: argparse.Namespace) -> Any:
    if not args.name:
        raise SystemExit("error: --grpc: lb-strategy needs a NAME (the service has no read RPC)")
    return stub.SetLoadBalancerStrategy(pb.SetLoadBalancerStrategyRequest(strategy=args.name))


def _load(stub: Any, args: argparse.Namespace) -> Any:
    return stub.GetLoadInfo(pb.GetLoadInfoRequest(type=args.kind))


def _reserve(stub: Any, args: argparse.Namespace) -> Any:
    return stub.ReserveGPUs(
        pb.ReserveGPUsRequest(
            count=args.count, provider=args.provider or "",
            min_vram=_float(args.min_vram, "--min-vram"),
            max_price=_float(args.max_price, "--max-price"), gpu_model=args.gpu_model or "",
            image=args.image or "", all_or_nothing=args.all_or_nothing,
        )
    )  # fmt: skip


GRPC_COMMANDS: dict[str, Callable[[Any, argparse.Namespace], Any]] = {
    "list": _list,
    "show": _show,
    "create": _create,
    "destroy": _destroy,
    "proxy": _proxy,
    "lb-strategy": _lb_strategy,
    "load": _load,
    "reserve": _reserve,
}


def _view(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    if isinstance(message, pb.ProxyResponse):
        try:  # the body as text (or JSON) rather than base64
            data["body"] = json.loads(message.body) if message.body else None
        except ValueError:
            data["body"] = message.body.decode("utf-8", "replace")
    return data


def _channel(target: str, ca_file: str | None) -> grpc.Channel:
    if ca_file is None:
        return grpc.insecure_channel(target)
    try:
        root = Path(ca_file).read_bytes()
    except OSError as exc:
        raise SystemExit(f"error: --grpc-ca {ca_file}: {exc.strerror}") from None
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=root))


def run_grpc(target: str, key: str, args: argparse.Namespace, out: TextIO) -> int:
    command = GRPC_COMMANDS.get(args.command)
    if command is None:
        print(f"error: --grpc: `{args.command}` has no RPC; use HTTP", file=sys.stderr)
        return EXIT_USAGE
    with _channel(target, getattr(args, "grpc_ca", None)) as channel:
        stub = gpuproxy_pb2_grpc.GPUProxyServiceStub(channel)  # type: ignore[no-untyped-call]
        metadata = (("x-api-key", key),)

        class _Authed:  # every call carries the key and the --timeout deadline
            def __getattr__(self, name: str) -> Callable[[Any], Any]:
                method = getattr(stub, name)
                return lambda request: method(request, metadata=metadata, timeout=args.timeout)

        try:
            answer = command(_Authed(), args)
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return EXIT_ERROR
    out.write(json.dumps(_view(answer), indent=2, sort_keys=True) + "\n")
    return 0
