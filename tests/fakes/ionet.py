"""A fake io.net IO Cloud API on loopback, following `tests.fakes.ionet_contract`.

Header `x-api-key`; every request is checked against the contract (422
`{"detail": [{"loc", "msg", "type"}]}` for what the real API refuses; an endpoint the
contract does not know answers 404 and is left in `requests` for the contract test);
answers wrapped in `{"data": ...}`; errors `{"detail": "..."}`. Deployment names are unique
on the account. Deployments go "deployment requested" -> "running" after `boot_s` (or
"failed" for hardware marked `fail`); `rate_limit` makes the next requests answer 429
without Retry-After; `deploy_answer` replaces the body of the next VM/container deploy
answers (the reference does not document it) while the deployment is still made.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.fakes._contract import Problem
from tests.fakes._http import FakeHttpServer, Request, Response, json_response, text_response
from tests.fakes.ionet_contract import CAAS as _CAAS
from tests.fakes.ionet_contract import IONET
from tests.fakes.ionet_contract import VM as _VM
from tests.fakes.ionet_inventory import LOCATION_IDS, CaasInventory, brand_and_name

__all__ = ["TEST_SSH_PUBLIC_KEY", "FakeIoNet", "default_hardware"]

#: An OpenSSH public key line for IONET_SSH_PUBLIC_KEY in tests (VM deploys require one).
TEST_SSH_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdwdXByb3h5LXRlc3Qta2V5 gpuproxy-test"


def _hw(
    item_id: str,
    deploy_id: int | str,
    name: str,
    cards: int,
    price: float,
    vram: int,
    location: str,
    **extra: Any,
) -> dict[str, Any]:
    row = {
        "id": item_id,
        "deploy_id": deploy_id,
        "name": name,
        "num_cards": cards,
        "supplier": "internal",
        "sold_out": False,
        "price": price,
        "vram_per_card": vram,
        "interconnect": None,
        "nvlink": False,
        "storage": 1000,
        "vcpu": 39,
        "memory": 125,
        "location": location,
    }
    row.update(extra)
    return row


def default_hardware() -> list[dict[str, Any]]:
    """Configurations as io.net lists them; `price` is $/h for all `num_cards` GPUs."""
    return [
        _hw("12__1", 12, "GeForce RTX 4090", 1, 0.3, 24, "US"),
        _hw("12__2", 12, "GeForce RTX 4090", 2, 0.6, 24, "US"),
        _hw("30__8", 30, "H100 SXM5", 8, 19.92, 80, "US", interconnect="sxm5", nvlink=True),
        _hw("B200_sxm6x8__AU", "B200_sxm6x8", "B200", 8, 39.92, 192, "AU", supplier="external"),
        _hw("7__1", 7, "A100 SXM4", 1, 1.19, 80, "CA"),
        _hw("9__1", 9, "L40S", 1, 0.79, 48, "DE", sold_out=True),
    ]


class FakeIoNet:
    def __init__(
        self,
        api_key: str = "ionet-test-key",
        hardware: list[dict[str, Any]] | None = None,
        boot_s: float = 0.15,
    ) -> None:
        self.api_key = api_key
        self.hardware = hardware or default_hardware()
        self.boot_s = boot_s
        self.caas = CaasInventory(self.hardware)
        self.deployments: dict[str, dict[str, Any]] = {}
        self.destroyed: list[str] = []
        #: When set, deploys still happen but answer this body (e.g. `{}`) instead.
        self.deploy_answer: Any = None
        #: False lets a name be used twice, as if io.net had accepted one rent twice.
        self.unique_names = True
        self._limited = 0
        self._limited_json = False
        self.server = FakeHttpServer()
        self._routes()

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    @property
    def base_url(self) -> str:
        return self.server.base_url

    async def __aenter__(self) -> FakeIoNet:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    def rate_limit(self, count: int, json_body: bool = False) -> None:
        self._limited, self._limited_json = count, json_body

    def _gate(self, request: Request) -> Response | None:
        if self._limited > 0:
            self._limited -= 1
            if self._limited_json:
                return json_response({"detail": "Too many requests"}, 429)
            return text_response("Too Many Requests", 429)
        if request.headers.get("x-api-key") != self.api_key:
            return json_response({"detail": "Invalid API key"}, 401)
        endpoint = IONET.endpoint(request.method, request.path)
        problems = endpoint.problems(request) if endpoint is not None else []
        return _invalid_all(problems) if problems else None

    def _routes(self) -> None:
        s = self.server

        @s.route("GET", f"{_VM}/hardware")
        async def hardware(request: Request) -> Response:
            return self._gate(request) or self._hardware(request)

        @s.route("GET", f"{_VM}/price")
        async def price(request: Request) -> Response:
            return self._gate(request) or self._price(request)

        @s.route("POST", f"{_VM}/deploy")
        async def deploy_vm(request: Request) -> Response:
            return self._gate(request) or self._deploy(request.json(), "vm")

        @s.route("POST", f"{_CAAS}/deploy")
        async def deploy_caas(request: Request) -> Response:
            return self._gate(request) or self._deploy(request.json(), "container")

        @s.route("GET", f"{_CAAS}/hardware/max-gpus-per-container")
        async def caas_hardware(request: Request) -> Response:
            return self._gate(request) or json_response(self.caas.max_gpus())

        @s.route("GET", f"{_CAAS}/available-replicas")
        async def caas_replicas(request: Request) -> Response:
            return self._gate(request) or json_response(
                {
                    "data": self.caas.replicas(
                        int(request.arg("hardware_id") or 0), int(request.arg("hardware_qty") or 0)
                    )
                }
            )

        @s.route("GET", f"{_CAAS}/deployment/(?P<id>[^/]+)/containers")
        async def containers(request: Request) -> Response:
            return self._gate(request) or self._containers(request.params["id"])

        for base, kind in ((_VM, "vm"), (_CAAS, "container")):
            self._deployment_routes(base, kind)

    def _deployment_routes(self, base: str, kind: str) -> None:
        s = self.server

        @s.route("GET", f"{base}/deployments")
        async def listing(request: Request) -> Response:
            return self._gate(request) or self._list(request, kind)

        @s.route("GET", f"{base}/deployment/(?P<id>[^/]+)")
        async def details(request: Request) -> Response:
            return self._gate(request) or self._details(request.params["id"], kind)

        @s.route("GET", f"{base}/deployment/(?P<id>[^/]+)/vms")
        async def vms(request: Request) -> Response:
            return self._gate(request) or self._vms(request.params["id"])

        @s.route("DELETE", f"{base}/deployment/(?P<id>[^/]+)")
        async def destroy(request: Request) -> Response:
            return self._gate(request) or self._destroy(request.params["id"], kind)

    # ---- endpoints ---------------------------------------------------------------

    def _hardware(self, request: Request) -> Response:
        rows = list(self.hardware)
        gpu = request.arg("gpu")
        if gpu:
            rows = [r for r in rows if gpu.lower() in r["name"].lower()]
        minimum = request.arg("gpu_memory_min")
        if minimum is not None:
            rows = [r for r in rows if r["vram_per_card"] >= int(minimum)]
        return json_response({"data": {"hardware": rows}})

    def _price(self, request: Request) -> Response:
        row = self._find(
            request.arg("hardware_id"),
            int(request.arg("gpus_per_vm") or 0),
            json.loads(request.arg("location_ids") or "[]"),
        )
        if row is None:
            return json_response({"detail": "Hardware not found"}, 404)
        hours = int(request.arg("duration_hours") or 1)
        total = round(row["price"] * hours, 6)
        return json_response(
            {
                "data": {
                    "replica_count": 1,
                    "gpus_per_vm": row["num_cards"],
                    "available_replica_count": [1],
                    "discount": 0.0,
                    "ionet_fee": 0.0,
                    "ionet_fee_percent": 0.0,
                    "currency_conversion_fee": 0.0,
                    "currency_conversion_fee_percent": 0.0,
                    "total_cost_usdc": total,
                }
            }
        )

    def _find(self, deploy_id: Any, cards: int, locations: list[Any]) -> dict[str, Any] | None:
        for row in self.hardware:
            if (
                str(row["deploy_id"]) == str(deploy_id)
                and row["num_cards"] == cards
                and row["location"] in [str(x) for x in locations]
            ):
                return row
        return None

    def _deploy(self, body: dict[str, Any], kind: str) -> Response:
        # The contract has checked fields and types (see _gate); what is left is state.
        name = body["resource_private_name"]
        taken = (r["body"]["resource_private_name"] for r in self.deployments.values())
        if self.unique_names and name in taken:
            return json_response({"detail": f"Deployment name {name!r} is already taken"}, 400)
        if kind == "vm":
            row = self._find(body["hardware_id"], int(body["gpus_per_vm"]), body["location_ids"])
        else:
            row = self.caas.row(
                body["hardware_id"], int(body["gpus_per_container"]), body["location_ids"][0]
            )
        if row is None or row["sold_out"]:
            return json_response({"detail": "Requested hardware is not available"}, 400)
        deployment_id = self.add_deployment(body, kind, row)
        if self.deploy_answer is not None:
            return json_response(self.deploy_answer)
        if kind == "vm":
            return json_response(
                {"data": {"deployment_id": deployment_id, "status": "deployment requested"}}
            )
        return json_response({"status": "success", "deployment_id": deployment_id})

    def add_deployment(self, body: dict[str, Any], kind: str, row: dict[str, Any]) -> str:
        """Record a deployment as io.net would (tests use it to set up odd accounts)."""
        deployment_id = str(uuid.uuid4())
        self.deployments[deployment_id] = {
            "kind": kind,
            "body": body,
            "row": row,
            "created": time.monotonic(),
            "created_at": datetime.now(UTC).isoformat(),
            "destroyed": False,
        }
        return deployment_id

    def _status(self, record: dict[str, Any]) -> str:
        if record["destroyed"]:
            return "destroyed"
        if time.monotonic() - record["created"] < self.boot_s:
            return "deployment requested"
        return "failed" if record["row"].get("fail") else "running"

    def _details(self, deployment_id: str, kind: str) -> Response:
        record = self.deployments.get(deployment_id)
        if record is None or record["kind"] != kind:
            return json_response({"detail": "Deployment not found"}, 404)
        row = record["row"]
        status = self._status(record)
        brand, name = brand_and_name(row["name"])
        data: dict[str, Any] = {
            "id": deployment_id,
            "status": status,
            "created_at": record["created_at"],
            "started_at": record["created_at"] if status == "running" else None,
            "finished_at": None,
            "amount_paid": row["price"] * record["body"]["duration_hours"],
            "completed_percent": 0.0,
            "total_gpus": row["num_cards"],
            "hardware_name": name,
            "hardware_id": row["deploy_id"],
            "locations": [
                {
                    "id": LOCATION_IDS.get(row["location"], 9),
                    "iso2": row["location"],
                    "name": row["location"],
                }
            ],
            "brand_name": brand,
            "compute_minutes_served": 0,
            "compute_minutes_remaining": record["body"]["duration_hours"] * 60,
        }
        if kind == "vm":
            data["gpus_per_vm"] = row["num_cards"]
        else:
            data["hardware_id"] = self.caas.hardware_id(row["name"])
            data["gpus_per_container"] = row["num_cards"]
            data["total_containers"] = 1
            config = record["body"]["container_config"]
            data["container_config"] = {
                "entrypoint": config.get("entrypoint"),
                "env_variables": config.get("env_variables"),
                "traffic_port": config.get("traffic_port"),
                "image_url": record["body"]["registry_config"]["image_url"],
                "secret_env_keys": [],
            }
        return json_response({"data": data})

    def _containers(self, deployment_id: str) -> Response:
        record = self.deployments.get(deployment_id)
        if record is None or record["kind"] != "container":
            return json_response({"detail": "Deployment not found"}, 404)
        status = self._status(record)
        workers = [
            {
                "device_id": str(uuid.uuid5(uuid.NAMESPACE_URL, deployment_id)),
                "container_id": f"{deployment_id[:8]}-0",
                "hardware": record["row"]["name"],
                "brand_name": brand_and_name(record["row"]["name"])[0],
                "created_at": record["created_at"],
                "uptime_percent": 100,
                "gpus_per_container": record["row"]["num_cards"],
                "status": status,
                "container_events": [],
                # io.net fronts the container's traffic_port with an https URL of its own.
                "public_url": (
                    f"https://{deployment_id[:8]}.containers.example" if status == "running" else ""
                ),
            }
        ]
        return json_response({"data": {"total": len(workers), "workers": workers}})

    def _vms(self, deployment_id: str) -> Response:
        record = self.deployments.get(deployment_id)
        if record is None:
            return json_response({"detail": "Deployment not found"}, 404)
        services = {}
        for name, service in (record["body"].get("network_services") or {}).items():
            services[name] = {
                **service,
                "public_port": 30000 + service["port"] % 1000,
                "public_ip": "198.51.100.4",
                "srv_record": "",
            }
        workers = [
            {
                "device_id": str(uuid.uuid5(uuid.NAMESPACE_URL, deployment_id)),
                "vm_id": "vm-1",
                "hardware": record["row"]["name"],
                "brand_name": "NVIDIA",
                "created_at": record["created_at"],
                "uptime_percent": 100.0,
                "gpus_per_vm": record["row"]["num_cards"],
                "status": self._status(record),
                "vm_events": [],
                "network_services": services,
                "ssh_access": "ssh ubuntu@198.51.100.4",
            }
        ]
        return json_response({"data": {"total": 1, "workers": workers}})

    def _list(self, request: Request, kind: str) -> Response:
        page = int(request.arg("page") or 0)
        size = min(100, int(request.arg("page_size") or 10))
        rows = [(k, r) for k, r in self.deployments.items() if r["kind"] == kind]
        chunk = rows[page * size : (page + 1) * size]
        return json_response(
            {
                "data": {
                    "deployments": [
                        {
                            "id": k,
                            "status": self._status(r),
                            "name": r["body"]["resource_private_name"],
                            "completed_percent": 0,
                            "hardware_quantity": r["row"]["num_cards"],
                            "brand_name": "NVIDIA",
                            "hardware_name": r["row"]["name"],
                            "compute_minutes_served": 0,
                            "compute_minutes_remaining": 60,
                        }
                        for k, r in chunk
                    ],
                    "total": len(rows),
                    "statuses": sorted({self._status(r) for _, r in rows}),
                }
            }
        )

    def _destroy(self, deployment_id: str, kind: str) -> Response:
        record = self.deployments.get(deployment_id)
        if record is None or record["kind"] != kind or record["destroyed"]:
            return json_response({"detail": "Deployment not found"}, 404)
        record["destroyed"] = True
        self.destroyed.append(deployment_id)
        return json_response(
            {"data": {"deployment_id": deployment_id, "status": "termination requested"}}
        )


def _invalid_all(problems: list[Problem]) -> Response:
    detail = [{"loc": list(loc), "msg": msg, "type": kind} for loc, msg, kind in problems]
    return json_response({"detail": detail}, 422)
