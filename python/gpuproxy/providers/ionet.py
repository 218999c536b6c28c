"""io.net client (IO Cloud API at api.io.solutions, header `x-api-key`).

VMaaS (virtual machines; the default):
- `GET /enterprise/v1/io-cloud/vmaas/hardware` (gpu, gpu_memory_min, ... filters) ->
  `{"data": {"hardware": [{id, deploy_id, name, num_cards, price, vram_per_card, location,
  sold_out, ...}]}}`. `price` is USD per hour for the whole configuration (`num_cards` GPUs).
- `GET .../vmaas/price` (hardware_id, gpus_per_vm, replica_count, duration_hours, currency,
  location_ids as a JSON array) -> `{"data": {"total_cost_usdc", ...}}`.
- `POST .../vmaas/deploy` {resource_private_name, duration_hours, gpus_per_vm, hardware_id,
  location_ids, network_services} -> the new deployment id.
- `GET .../vmaas/deployment/{id}`, `GET .../vmaas/deployment/{id}/vms`,
  `DELETE .../vmaas/deployment/{id}`, `GET .../vmaas/deployments` (page, page_size).
CaaS (containers) is used when the rent config names an image: `POST .../caas/deploy`
-> `{"status": "success", "deployment_id"}`, and `.../caas/deployment/{id}` likewise.

Every answer is wrapped in `{"data": ...}`; errors are `{"detail": "..."}` (422: a list of
`{loc, msg, type}`). Offer ids are ours: `<deploy_id>~<num_cards>~<location>`, so one id
names exactly what `deploy` needs. Prices are normalised per instance (the configuration)
and per GPU.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from gpuproxy.providers._http import ApiClient, RetryPolicy
from gpuproxy.providers._units import micros_from_dollars, per_gpu, to_float, to_int
from gpuproxy.providers.base import CallTimeouts, Provider
from gpuproxy.providers.errors import (
    InvalidRequest,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderNotFound,
)
from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.records import Instance, InstanceStatus, Offer

__all__ = ["IoNetProvider", "make_offer_id", "parse_offer_id"]

DEFAULT_URL = "https://api.io.solutions"
_VM = "/enterprise/v1/io-cloud/vmaas"
_CAAS = "/enterprise/v1/io-cloud/caas"
_UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")
_MAX_PAGES = 100
_PAGE_SIZE = 100
_HARDWARE_TTL_S = 30.0

_STATUS: dict[str, InstanceStatus] = {
    "deployment requested": "starting",
    "pending": "starting",
    "running": "running",
    "failed": "failed",
    "completed": "destroyed",  # the prepaid duration ran out
    "termination requested": "destroyed",
    "destroyed": "destroyed",
}


def make_offer_id(deploy_id: object, num_cards: int, location: str) -> str:
    return f"{deploy_id}~{num_cards}~{location}"


def parse_offer_id(offer_id: str) -> tuple[str, int, str]:
    parts = offer_id.rsplit("~", 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
        raise InvalidRequest("id", "an io.net offer id looks like <hardware>~<gpus>~<location>")
    return parts[0], int(parts[1]), parts[2]


class IoNetProvider(Provider):
    name = "io.net"

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_URL,
        *,
        timeouts: CallTimeouts | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(timeouts=timeouts, poll_interval_s=poll_interval_s)
        self.api_key = api_key
        self._api = ApiClient(
            self.name, base_url, {"x-api-key": api_key}, retry=retry, transport=transport
        )
        self._hardware: tuple[float, list[dict[str, Any]]] = (0.0, [])

    async def aclose(self) -> None:
        await self._api.aclose()

    # ---- offers ------------------------------------------------------------------

    async def _fetch_hardware(self, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self._require_key()
        body = (await self._api.request("GET", f"{_VM}/hardware", params=params)).json()
        items = (body.get("data") or {}).get("hardware") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ProviderBadRequest(self.name, "hardware answer has no data.hardware list")
        rows = [i for i in items if isinstance(i, dict) and "deploy_id" in i]
        if not params:
            self._hardware = (time.monotonic(), rows)
        return rows

    async def _cached_hardware(self) -> list[dict[str, Any]]:
        stamp, rows = self._hardware
        if time.monotonic() - stamp > _HARDWARE_TTL_S:
            rows = await self._fetch_hardware()
        return rows

    async def _list_offers(self, filters: OfferFilters) -> list[Offer]:
        params: dict[str, Any] = {}
        if filters.gpu_model:
            params["gpu"] = filters.gpu_model
        if filters.min_vram_gb:
            params["gpu_memory_min"] = filters.min_vram_gb
        rows = await self._fetch_hardware(params)
        return [self._offer(row) for row in rows if not row.get("sold_out")]

    def _offer(self, row: dict[str, Any]) -> Offer:
        cards = max(1, to_int(row.get("num_cards"), 1))
        price = micros_from_dollars(row.get("price", 0))
        location = str(row.get("location") or "")
        meta = {
            "hardware_id": str(row["deploy_id"]),
            "supplier": str(row.get("supplier", "")),
            "nvlink": str(bool(row.get("nvlink"))).lower(),
        }
        for key, name in (
            ("interconnect", "interconnect"),
            ("vcpu", "vcpu"),
            ("memory", "memory_gb"),
            ("storage", "storage"),
        ):
            if row.get(key) is not None:
                meta[name] = str(row[key])
        return Offer(
            id=make_offer_id(row["deploy_id"], cards, location),
            provider=self.name,
            gpu_model=str(row.get("name") or "unknown"),
            num_gpus=cards,
            vram_gb=to_int(row.get("vram_per_card")),
            price_per_hour=price,
            price_per_gpu_hour=per_gpu(price, cards),
            location=location,
            metadata=meta,
        )

    # ---- instances ---------------------------------------------------------------

    async def _create(self, offer_id: str, config: RentConfig) -> Instance:
        deploy_id, cards, location = parse_offer_id(offer_id)
        rows = await self._fetch_hardware()
        row = next(
            (
                r
                for r in rows
                if str(r["deploy_id"]) == deploy_id
                and to_int(r.get("num_cards")) == cards
                and str(r.get("location") or "") == location
            ),
            None,
        )
        if row is None:
            raise ProviderNotFound(self.name, f"no hardware offer {offer_id}")
        if row.get("sold_out"):
            raise ProviderBadRequest(self.name, f"offer {offer_id} is sold out")
        hardware_id: int | str = int(deploy_id) if deploy_id.isdigit() else deploy_id
        name = (config.label or "gpuproxy")[:64]
        if config.image:
            kind = "container"
            body: dict[str, Any] = {
                "resource_private_name": name,
                "duration_hours": config.duration_hours,
                "gpus_per_container": cards,
                "hardware_id": hardware_id,
                "location_ids": [location],
                "container_config": {
                    "replica_count": 1,
                    "env_variables": config.worker_env(),
                    "entrypoint": config.args,
                    "traffic_port": config.ports[0] if config.ports else 8000,
                    "image_url": config.image,
                },
            }
            answer = (await self._api.request("POST", f"{_CAAS}/deploy", json=body)).json()
        else:
            if config.env or config.onstart:
                raise InvalidRequest(
                    "image", "io.net VMs take no env or onstart; name an image to run a container"
                )
            kind = "vm"
            body = {
                "resource_private_name": name,
                "duration_hours": config.duration_hours,
                "gpus_per_vm": cards,
                "hardware_id": hardware_id,
                "location_ids": [location],
            }
            if config.ports:
                body["network_services"] = {
                    f"port-{p}": {"port": p, "protocol": "tcp", "whitelist": ["0.0.0.0/0"]}
                    for p in config.ports
                }
            answer = (await self._api.request("POST", f"{_VM}/deploy", json=body)).json()
        data = answer.get("data", answer) if isinstance(answer, dict) else {}
        deployment_id = (
            data.get("deployment_id") or data.get("id") if isinstance(data, dict) else None
        )
        if not deployment_id:
            raise ProviderBadRequest(self.name, "deploy answer has no deployment_id")
        offer = self._offer(row)
        return Instance(
            id=str(deployment_id),
            provider=self.name,
            status="starting",
            gpu_model=offer.gpu_model,
            num_gpus=cards,
            vram_gb=offer.vram_gb,
            price_per_hour=offer.price_per_hour,
            price_per_gpu_hour=offer.price_per_gpu_hour,
            location=location,
            offer_id=offer_id,
            label=name,
            created_at=time.time(),
            metadata={
                "kind": kind,
                "hardware_id": deploy_id,
                "duration_hours": str(config.duration_hours),
            },
        )

    async def _get(self, instance_id: str) -> Instance:
        self._require_key()
        if not _UUID.match(instance_id):
            raise ProviderNotFound(self.name, f"no deployment {instance_id[:40]!r}")
        for base, kind in ((_VM, "vm"), (_CAAS, "container")):
            try:
                body = (await self._api.request("GET", f"{base}/deployment/{instance_id}")).json()
            except ProviderNotFound:
                continue
            details = body.get("data") if isinstance(body, dict) else None
            if not isinstance(details, dict):
                raise ProviderBadRequest(self.name, "deployment answer has no data")
            endpoint = None
            if kind == "vm" and details.get("status") == "running":
                endpoint = await self._vm_endpoint(instance_id)
            return await self._instance(details, kind, endpoint)
        raise ProviderNotFound(self.name, f"no deployment {instance_id}")

    async def _vm_endpoint(self, deployment_id: str) -> str | None:
        path = f"{_VM}/deployment/{deployment_id}/vms"
        body = (await self._api.request("GET", path, params={"page": 1, "page_size": 20})).json()
        for worker in (body.get("data") or {}).get("workers") or []:
            services = worker.get("network_services") or {}
            for service in services.values():
                if service.get("public_ip") and service.get("public_port"):
                    return f"http://{service['public_ip']}:{service['public_port']}"
        return None

    async def _instance(self, details: dict[str, Any], kind: str, endpoint: str | None) -> Instance:
        locations = details.get("locations") or []
        location = str(locations[0].get("iso2", "")) if locations else ""
        total = to_int(details.get("total_gpus"))
        per_unit = to_int(details.get("gpus_per_vm") or details.get("gpus_per_container")) or total
        hardware_id = str(details.get("hardware_id", ""))
        price = 0
        for row in await self._cached_hardware():
            if (
                str(row["deploy_id"]) == hardware_id
                and to_int(row.get("num_cards")) == per_unit
                and str(row.get("location") or "") == location
            ):
                price = micros_from_dollars(row.get("price", 0))
                break
        status = str(details.get("status") or "")
        model = " ".join(p for p in (details.get("brand_name"), details.get("hardware_name")) if p)
        started = details.get("started_at") or details.get("created_at")
        return Instance(
            id=str(details.get("id")),
            provider=self.name,
            status=_STATUS.get(status, "unknown"),
            gpu_model=model,
            num_gpus=total or per_unit,
            price_per_hour=price,
            price_per_gpu_hour=per_gpu(price, per_unit or 1),
            location=location,
            endpoint=endpoint,
            status_message=status,
            created_at=_timestamp(started),
            metadata={
                "kind": kind,
                "hardware_id": hardware_id,
                "amount_paid": str(details.get("amount_paid", "")),
                "compute_minutes_remaining": str(details.get("compute_minutes_remaining", "")),
            },
        )

    async def _list_instances(self) -> list[Instance]:
        self._require_key()
        instances: list[Instance] = []
        for base, kind in ((_VM, "vm"), (_CAAS, "container")):
            seen = 0
            for page in range(_MAX_PAGES):
                params = {"page": page, "page_size": _PAGE_SIZE}
                body = (await self._api.request("GET", f"{base}/deployments", params=params)).json()
                data = body.get("data") or {}
                rows = data.get("deployments") or []
                for row in rows:
                    status = str(row.get("status") or "")
                    instances.append(
                        Instance(
                            id=str(row.get("id")),
                            provider=self.name,
                            status=_STATUS.get(status, "unknown"),
                            gpu_model=" ".join(
                                p for p in (row.get("brand_name"), row.get("hardware_name")) if p
                            ),
                            num_gpus=to_int(row.get("hardware_quantity")),
                            label=row.get("name"),
                            status_message=status,
                            metadata={"kind": kind},
                        )
                    )
                seen += len(rows)
                if not rows or seen >= to_int(data.get("total")):
                    break
        return instances

    async def _destroy(self, instance_id: str) -> None:
        self._require_key()
        if not _UUID.match(instance_id):
            raise ProviderNotFound(self.name, f"no deployment {instance_id[:40]!r}")
        for base in (_VM, _CAAS):
            try:
                await self._api.request("DELETE", f"{base}/deployment/{instance_id}")
                return
            except ProviderNotFound:
                continue
        raise ProviderNotFound(self.name, f"no deployment {instance_id}")

    async def price(self, offer_id: str, duration_hours: int = 1) -> int:
        """The total price in micro-dollars io.net quotes for renting `offer_id` that long."""
        deploy_id, cards, location = parse_offer_id(offer_id)
        params = {
            "hardware_id": deploy_id,
            "gpus_per_vm": cards,
            "replica_count": 1,
            "duration_hours": duration_hours,
            "currency": "usdc",
            "location_ids": json.dumps([location]),
        }
        body = (await self._api.request("GET", f"{_VM}/price", params=params)).json()
        return micros_from_dollars((body.get("data") or {}).get("total_cost_usdc", 0))

    def _require_key(self) -> None:
        if not self.api_key:
            raise ProviderAuthError(self.name, "IONET_API_KEY is not set")


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return to_float(value)
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
