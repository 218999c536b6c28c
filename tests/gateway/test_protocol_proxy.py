"""`POST /api/v1/gpu/proxy`: protocols (http, mcp, openinference, stream), the caller's own
worker reachable on loopback, everything else private refused (SSRF), pinned connections."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from tests.helpers import free_port

from gpuproxy.gateway.protocol_proxy import ProtocolProxy, build_call
from gpuproxy.gateway.ssrf import ProxyTarget, TargetPolicy
from gpuproxy.worker.protocol import RegisterMsg

from .asgi_target import serving
from .support import GatewayServer, User


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers what it received; /redirect answers 302 to the metadata address."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/redirect":
        headers = [(b"location", b"http://169.254.169.254/latest/meta-data/")]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    answer = msgspec.json.encode(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "body": body.decode(),
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    async with serving(echo_app) as url:
        yield url


async def own_worker_at(gateway: GatewayServer, user: User, url: str) -> None:
    """Register `url` as `user`'s worker (as the worker agent's first frame would)."""
    registry = gateway.gateway.registry
    token = await registry.issue_token(user.id)
    await registry.register(RegisterMsg(address=url, token=token, models=["echo"]))


async def proxy(gateway: GatewayServer, user: User, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url, headers=user.headers, timeout=10) as c:
        return await c.post("/api/v1/gpu/proxy", json=body)


async def test_http_to_own_worker_through_the_rust_forwarder(
    gateway: GatewayServer, echo: str
) -> None:
    alice = await gateway.user()
    await own_worker_at(gateway, alice, echo)
    response = await proxy(
        gateway,
        alice,
        protocol="http",
        target_url=f"{echo}/anything?x=1",
        method="PUT",
        headers={"X-Custom": "yes"},
        body={"a": 1},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status_code"] == 200
    assert result["target"]["via"] == "worker"
    seen = result["body"]
    assert (seen["method"], seen["path"], seen["query"]) == ("PUT", "/anything", "x=1")
    assert seen["headers"]["x-custom"] == "yes"
    assert seen["headers"]["content-type"] == "application/json"
    # The caller's key never leaves; the worker gets its own secret instead.
    (worker,) = gateway.gateway.registry.workers(owner_id=alice.id)
    assert seen["headers"]["authorization"] == gateway.gateway.registry.authorization(
        worker.worker_id
    )
    assert alice.key not in str(seen["headers"])
    assert msgspec.json.decode(seen["body"]) == {"a": 1}


async def test_mcp_and_openinference_bodies_are_wrapped(gateway: GatewayServer, echo: str) -> None:
    alice = await gateway.user()
    await own_worker_at(gateway, alice, echo)
    mcp = await proxy(
        gateway,
        alice,
        protocol="mcp",
        target_url=f"{echo}/mcp",
        body={"method": "tools/list", "params": {"cursor": None}},
    )
    seen = mcp.json()["body"]
    assert seen["method"] == "POST"
    assert "text/event-stream" in seen["headers"]["accept"]
    rpc = msgspec.json.decode(seen["body"])
    assert rpc["jsonrpc"] == "2.0"
    assert rpc["method"] == "tools/list"
    assert rpc["params"] == {"cursor": None}
    assert rpc["id"]
    oip = await proxy(
        gateway,
        alice,
        protocol="openinference",
        target_url=echo,
        body={"model": "llama-2", "prompt": "Hello world", "max_tokens": 100},
    )
    seen = oip.json()["body"]
    assert seen["path"] == "/v2/models/llama-2/infer"
    infer = msgspec.json.decode(seen["body"])
    assert infer["inputs"] == [
        {"name": "text_input", "shape": [1], "datatype": "BYTES", "data": ["Hello world"]}
    ]
    assert infer["parameters"] == {"max_tokens": 100}


async def test_stream_true_returns_the_target_answer_as_is(
    gateway: GatewayServer, echo: str
) -> None:
    alice = await gateway.user()
    await own_worker_at(gateway, alice, echo)
    response = await proxy(gateway, alice, protocol="http", target_url=f"{echo}/s", stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["path"] == "/s"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://127.1:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.0.1:8080/",
        "http://[::1]:{port}/",
    ],
)
async def test_private_targets_that_are_not_own_workers_are_refused(
    gateway: GatewayServer, target: str
) -> None:
    alice = await gateway.user()
    url = target.format(port=free_port())
    response = await proxy(gateway, alice, protocol="http", target_url=url, timeout=2)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("target_forbidden", "target_url")


async def test_another_users_worker_is_refused(gateway: GatewayServer, echo: str) -> None:
    alice = await gateway.user()
    bob = await gateway.user()
    await own_worker_at(gateway, alice, echo)
    response = await proxy(gateway, bob, protocol="http", target_url=echo)
    assert response.status_code == 403


async def test_redirects_are_returned_not_followed(gateway: GatewayServer, echo: str) -> None:
    alice = await gateway.user()
    await own_worker_at(gateway, alice, echo)
    response = await proxy(gateway, alice, protocol="http", target_url=f"{echo}/redirect")
    result = response.json()
    assert result["status_code"] == 302
    assert result["headers"]["location"].startswith("http://169.254.169.254")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"protocol": "ftp", "target_url": "http://x.example/"}, "protocol"),
        ({"protocol": "http", "target_url": "http://x.example/", "timeout": 0}, "timeout"),
        ({"protocol": "http", "target_url": "http://x.example/", "method": "TRACE"}, "method"),
        (
            {"protocol": "http", "target_url": "http://x.example/", "headers": {"Host": "a"}},
            "headers",
        ),
        ({"protocol": "mcp", "target_url": "http://x.example/", "body": {"params": {}}}, "body"),
        ({"protocol": "https", "target_url": "http://x.example/"}, "target_url"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    gateway: GatewayServer, body: dict[str, Any], param: str
) -> None:
    alice = await gateway.user()
    response = await proxy(gateway, alice, **body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


async def test_allowlisted_targets_connect_to_the_pinned_address_with_the_original_host(
    echo: str,
) -> None:
    from gpuproxy import _core

    port = int(echo.rsplit(":", 1)[1])
    # As TargetPolicy would produce for an allowlisted public name: the checked address is
    # pinned (here the echo server's), the name only travels in the Host header.
    target = ProxyTarget(
        "http", "api.example.com", port, "/v1/x", ipaddress.ip_address("127.0.0.1"), "allowlist"
    )
    forwarder = _core.Forwarder()
    relay = ProtocolProxy(TargetPolicy([]), forwarder)
    try:
        call = build_call("http", f"http://api.example.com:{port}/v1/x", "GET", None, None, 5)
        answer = await relay.open(call, target, "req-1")
        result = await answer.read()
    finally:
        await relay.close()
        forwarder.close()
    seen = msgspec.json.decode(result.body)
    assert seen["headers"]["host"] == f"api.example.com:{port}"
    assert seen["headers"]["x-request-id"] == "req-1"
    assert seen["path"] == "/v1/x"
