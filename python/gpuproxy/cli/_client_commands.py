"""The commands of `aiserve-gpuproxy-client`, one function each: (api, args, out) -> exit code.

Tables by default, the server's JSON with `--json`. Failures raise `ApiError`, which the
entry point prints as one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import quote

from gpuproxy.cli._api import ApiClient, ApiError
from gpuproxy.cli._tables import ProgressBar, render_table

__all__ = ["COMMANDS"]

Command = Callable[[ApiClient, argparse.Namespace, TextIO], int]
_GPU = "/api/v1/gpu"
_LB = "/api/v1/loadbalancer"
_DONE_STATES = frozenset({"running", "failed", "destroyed", "stopped"})


def _emit_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _path(*parts: str) -> str:
    return "/".join(quote(p, safe="") for p in parts)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "provider": getattr(args, "provider", None),
        "min_vram": args.min_vram,
        "max_price": args.max_price,
        "gpu_model": args.gpu_model,
        "location": args.location,
    }


def _warn_errors(errors: list[dict[str, Any]]) -> None:
    for error in errors:
        print(f"warning: {error.get('message')}", file=sys.stderr)


def _instance_rows(instances: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            i.get("provider"),
            i.get("id"),
            i.get("status"),
            i.get("gpu_model"),
            i.get("num_gpus"),
            i.get("price_per_hour"),
            i.get("endpoint"),
        ]
        for i in instances
    ]


_INSTANCE_HEADERS = ["PROVIDER", "ID", "STATUS", "GPU", "GPUS", "$/HOUR", "ENDPOINT"]


def cmd_list(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    params = {**_filters(args), "limit": args.limit}
    data = api.call("GET", f"{_GPU}/instances", params=params)
    if args.json:
        _emit_json(data, out)
        return 0
    rows = [
        [
            o["provider"],
            o["id"],
            o["gpu_model"],
            o["num_gpus"],
            o["vram_gb"],
            o["price_per_hour"],
            o["location"],
            o.get("reliability"),
        ]
        for o in data["instances"]
    ]
    headers = ["PROVIDER", "OFFER ID", "GPU", "GPUS", "VRAM GB", "$/HOUR", "LOCATION", "RELIAB."]
    out.write(render_table(headers, rows) + "\n")
    out.write(f"{data['total_count']} offer(s)\n")
    _warn_errors(data.get("errors", []))
    return 0


def cmd_mine(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    data = api.call("GET", f"{_GPU}/instances/mine", params={"all": "true" if args.all else None})
    if args.json:
        _emit_json(data, out)
    else:
        out.write(render_table(_INSTANCE_HEADERS, _instance_rows(data["instances"])) + "\n")
    return 0


def cmd_show(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    data = api.call("GET", f"{_GPU}/instances/{_path(args.provider, args.id)}")
    if args.json:
        _emit_json(data, out)
    else:
        out.write(render_table(_INSTANCE_HEADERS, _instance_rows([data])) + "\n")
    return 0


def _rent_config(args: argparse.Namespace) -> dict[str, Any]:
    env: dict[str, str] = {}
    for item in args.env or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ApiError(f"--env {item!r}: expected NAME=VALUE")
        env[name] = value
    config: dict[str, Any] = {"env": env, "ports": list(args.port or [])}
    if args.image:
        config["image"] = args.image
    if args.disk is not None:
        config["disk"] = args.disk
    if args.model:
        config["models"] = list(args.model)
    return config


def cmd_create(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    data = api.call(
        "POST", f"{_GPU}/instances/{_path(args.provider, args.id)}", json=_rent_config(args)
    )
    if args.json:
        _emit_json(data, out)
    else:
        out.write(render_table(_INSTANCE_HEADERS, _instance_rows([data])) + "\n")
    return 0


def cmd_destroy(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    data = api.call("DELETE", f"{_GPU}/instances/{_path(args.provider, args.id)}")
    if args.json:
        _emit_json(data, out)
    else:
        out.write(f"{data['provider']} {data['id']}: {data['status']}\n")
    return 0


def _route_missing(body: Any) -> bool:
    # The server's own 404 for an unknown route carries no error code; handlers set one.
    error = body.get("error") if isinstance(body, dict) else None
    return not (isinstance(error, dict) and error.get("code"))


def cmd_proxy(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    headers: dict[str, str] = {}
    for item in args.header or []:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ApiError(f"--header {item!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    body: Any = None
    if args.data is not None:
        try:
            body = json.loads(args.data)
        except ValueError:
            body = args.data
    request = {
        "protocol": args.protocol,
        "target_url": args.target_url,
        "method": args.method.upper(),
        "headers": headers,
        "body": body,
    }
    try:
        data = api.call("POST", f"{_GPU}/proxy", json=request)
    except ApiError as exc:
        if exc.status == 404 and _route_missing(exc.body):
            raise ApiError(f"{exc} (this server does not offer the protocol proxy)") from None
        raise
    if args.json or not isinstance(data, dict):
        _emit_json(data, out)
        return 0
    status = data.get("status_code", data.get("status"))
    if status is not None:
        out.write(f"status: {status}\n")
    payload = data.get("body", data)
    out.write((payload if isinstance(payload, str) else json.dumps(payload, indent=2)) + "\n")
    return 0


def cmd_lb_strategy(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.name:
        data = api.call("PUT", f"{_LB}/strategy", json={"strategy": args.name})
        text = f"strategy: {data['strategy']} (was {data['previous']})\n"
    else:
        data = api.call("GET", f"{_LB}/strategy")
        text = f"strategy: {data['strategy']}\navailable: {', '.join(data['available'])}\n"
    if args.json:
        _emit_json(data, out)
    else:
        out.write(text)
    return 0


def cmd_load(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    data = api.call("GET", f"{_LB}/loads", params={"type": args.kind})
    if args.json:
        _emit_json(data, out)
        return 0
    out.write(f"strategy: {data['strategy']}\n")
    if "server" in data:
        rows = [
            [
                s["provider"],
                s["instance_id"],
                s["status"],
                s["gpu_model"],
                s["connections"],
                s["avg_response_ms"],
                s["load_score"],
                s["gpu_utilization_pct"],
            ]
            for s in data["server"]
        ]
        headers = ["PROVIDER", "INSTANCE", "STATUS", "GPU", "CONNS", "AVG MS", "SCORE", "GPU %"]
        out.write("\nserver load\n" + render_table(headers, rows) + "\n")
    if "provider" in data:
        rows = [
            [
                p["provider"],
                p["available_offers"],
                p["available_gpus"],
                _dollars(p["cheapest_price_per_gpu_hour_micros"]),
                p["error"],
            ]
            for p in data["provider"]
        ]
        headers = ["PROVIDER", "OFFERS", "GPUS", "CHEAPEST $/GPU-H", "ERROR"]
        out.write("\nprovider load\n" + render_table(headers, rows) + "\n")
    return 0


def _dollars(micros: int | None) -> str | None:
    return None if micros is None else f"{micros / 1_000_000:.2f}"


def _wait_running(
    api: ApiClient, instances: list[dict[str, Any]], timeout_s: float, poll_s: float
) -> list[dict[str, Any]]:
    """Poll each instance until it runs or ends, drawing a progress bar on stderr."""
    current = {(i["provider"], i["id"]): i for i in instances}
    bar = ProgressBar(len(current), sys.stderr)
    deadline = time.monotonic() + timeout_s
    while True:
        running = sum(1 for i in current.values() if i["status"] == "running")
        failed = sum(1 for i in current.values() if i["status"] in _DONE_STATES - {"running"})
        label = "GPUs running" + (f", {failed} failed" if failed else "")
        bar.update(running, label)
        pending = [k for k, i in current.items() if i["status"] not in _DONE_STATES]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(poll_s)
        for provider, instance_id in pending:
            current[(provider, instance_id)] = api.call(
                "GET", f"{_GPU}/instances/{_path(provider, instance_id)}"
            )
    bar.finish()
    return list(current.values())


def cmd_reserve(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {
        "count": args.count,
        "filters": {k: v for k, v in _filters(args).items() if v is not None},
        "all_or_nothing": args.all_or_nothing,
    }
    if args.image:
        body["config"] = {"image": args.image}
    data = api.call("POST", f"{_GPU}/instances/reserve", json=body)
    instances = list(data["reserved_instances"])
    if instances and not args.no_wait:
        instances = _wait_running(api, instances, args.wait_timeout, args.poll_interval)
    running = sum(1 for i in instances if i["status"] == "running")
    if args.json:
        _emit_json({"reservation": data, "instances": instances}, out)
    else:
        out.write(render_table(_INSTANCE_HEADERS, _instance_rows(instances)) + "\n")
        out.write(f"{data['message']} (reservation {data['reservation_id']})\n")
        for result in data["results"]:
            if result["error"]:
                message = result["error"]["message"]
                print(f"warning: GPU {result['index']}: {message}", file=sys.stderr)
    if data["reserved_count"] < args.count:
        print(f"error: {data['message']}", file=sys.stderr)
        return 1
    if not args.no_wait and running < args.count:
        print(f"error: only {running} of {args.count} GPU(s) running", file=sys.stderr)
        return 1
    return 0


COMMANDS: dict[str, Command] = {
    "list": cmd_list,
    "mine": cmd_mine,
    "show": cmd_show,
    "create": cmd_create,
    "destroy": cmd_destroy,
    "proxy": cmd_proxy,
    "lb-strategy": cmd_lb_strategy,
    "load": cmd_load,
    "reserve": cmd_reserve,
}
