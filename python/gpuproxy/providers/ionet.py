"""io.net client (IO Cloud API at api.io.solutions, header `x-api-key`).

VMaaS (virtual machines; the default):
- `GET /enterprise/v1/io-cloud/vmaas/hardware` (gpu, gpu_memory_min, ... filters) ->
  `{"data": {"hardware": [{id, deploy_id, name, num_cards, price, vram_per_card, location,
  sold_out, ...}]}}`. `price` is USD per hour for the whole configuration (`num_cards` GPUs).
- `GET .../vmaas/price` (hardware_id, gpus_per_vm, replica_count, duration_hours, currency,
  location_ids as a JSON array) -> `{"data": {"total_cost_usdc", ...}}`.
- `POST .../vmaas/deploy` {ssh_keys, resource_private_name, duration_hours, gpus_per_vm,
  hardware_id, location_ids, network_services} -> the new deployment id. `ssh_keys` is
  required: the operator's IONET_SSH_PUBLIC_KEY (without one, VM rents are refused before
  anything is paid).
- `GET .../vmaas/deployment/{id}`, `GET .../vmaas/deployment/{id}/vms`,
  `DELETE .../vmaas/deployment/{id}`, `GET .../vmaas/deployments` (page, page_size).
CaaS (containers) is used when the rent config names an image (see `_ionet_caas`: the
offer is placed on the container inventory's own integer ids, the image goes in
`registry_config.image_url`, the endpoint is the container's `public_url`).

Deployment names (`resource_private_name`) must be unique on the account: a rent uses its
ownership tag (`gpuproxy-<record id>`), a direct call without a label a fresh
`gpuproxy-direct-<random>` (never mistaken for a rental's tag by the orphan reaper). The
reference does not document the deploy answer: the id is read from `data.deployment_id`,
`deployment_id` or `id`, and when none is there the deployment is looked up by its unique
name in the deployments listing; if several carry it, the first is kept and the others are
destroyed, and if none is found the rent fails (a late one carries a rental's tag, so the
orphan reaper destroys it).

Every answer is wrapped in `{"data": ...}`; errors are `{"detail": "..."}` (422: a list of
`{loc, msg, type}`). Offer ids are ours: `<deploy_id>~<num_cards>~<location>`, so one id
names exactly what `deploy` needs. Prices are normalised per instance (the configuration)
and per GPU.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

import httpx

from gpuproxy.providers._http import ApiClient, RetryPolicy
from gpuproxy.providers._ionet_caas import (
    CAAS,
    caas_deploy_body,
    caas_placement,
    container_endpoint,
    same_gpu,
)
from gpuproxy.providers._units import (
    micros_from_dollars,
    offer_price,
    per_gpu,
    to_float,
    to_int,
)
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

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.io.solutions"
_VM = "/enterprise/v1/io-cloud/vmaas"
_CAAS = CAAS
#: How often a deployment whose deploy answer had no id is looked up by name.
_NAME_LOOKUPS = 3
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
        ssh_public_keys: Sequence[str] = (),
    ) -> None:
        super().__init__(timeouts=timeouts, poll_interval_s=poll_interval_s)
        self.api_key = api_key
        #: Installed on every VM (io.net requires at least one); IONET_SSH_PUBLIC_KEY.
        self.ssh_public_keys = [k.strip() for k in ssh_public_keys if k.strip()]
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
        price, unpriced = offer_price(row.get("price"))
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
            not_rentable_reason=unpriced,
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
        # The deployment name is our mark (Rentals sets `gpuproxy-<record id>`, 41 chars)
        # and must be unique on the account, so a call without a label gets a fresh one.
        name = (config.label or f"gpuproxy-direct-{secrets.token_hex(8)}")[:64]
        body: dict[str, Any]
        if config.image:
            kind, base = "container", _CAAS
            caas_hardware, location_id = await caas_placement(
                self._api, str(row.get("name") or ""), cards, location
            )
            body = caas_deploy_body(name, cards, caas_hardware, location_id, config)
        else:
            if config.env or config.onstart:
                raise InvalidRequest(
                    "image", "io.net VMs take no env or onstart; name an image to run a container"
                )
            if not self.ssh_public_keys:
                raise InvalidRequest(
                    "image",
                    "io.net VMs need the operator's IONET_SSH_PUBLIC_KEY; "
                    "name an image to run a container",
                )
            kind, base = "vm", _VM
            body = {
                "ssh_keys": list(self.ssh_public_keys),
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
        response = await self._api.request("POST", f"{base}/deploy", json=body)
        try:
            answer = response.json()
        except ValueError:  # an empty or non-JSON 2xx: the deployment may still exist
            answer = None
        deployment_id = _deployment_id(answer) or await self._deployment_named(base, name)
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
            if details.get("status") == "running":
                endpoint = await (
                    self._vm_endpoint(instance_id)
                    if kind == "vm"
                    else container_endpoint(self._api, instance_id)
                )
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
            # A container's hardware id is the container inventory's, so its price is the
            # VM list's for the same GPU, count and country.
            same = (
                str(row["deploy_id"]) == hardware_id
                if kind == "vm"
                else same_gpu(
                    row.get("name"), details.get("brand_name"), details.get("hardware_name")
                )
            )
            if (
                same
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
            for row in await self._deployments(base):
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
        return instances

    async def _deployments(self, base: str) -> list[dict[str, Any]]:
        """Every deployment row of `base` (VMs or containers), all pages."""
        rows: list[dict[str, Any]] = []
        for page in range(_MAX_PAGES):
            params = {"page": page, "page_size": _PAGE_SIZE}
            body = (await self._api.request("GET", f"{base}/deployments", params=params)).json()
            data = body.get("data") if isinstance(body, dict) else None
            data = data if isinstance(data, dict) else {}
            chunk = [r for r in data.get("deployments") or [] if isinstance(r, dict)]
            rows += chunk
            if not chunk or len(rows) >= to_int(data.get("total")):
                break
        return rows

    async def _deployment_named(self, base: str, name: str) -> str:
        """The id of the deployment just made under the unique `name`, for a deploy answer
        without one (the reference does not document it). Extra deployments with the name
        (the same rent accepted twice) are destroyed: no record could account for them."""
        for attempt in range(_NAME_LOOKUPS):
            if attempt:
                await asyncio.sleep(self.poll_interval_s)
            found = [
                str(row.get("id"))
                for row in await self._deployments(base)
                if row.get("name") == name
                and _STATUS.get(str(row.get("status") or "")) != "destroyed"
                and _UUID.match(str(row.get("id")))
            ]
            if found:
                log.warning("io.net deploy answer had no id; found %s by its name", found[0])
                for extra in found[1:]:
                    log.warning("destroying io.net deployment %s, a second %s", extra, name)
                    await self._destroy_quietly(extra)
                return found[0]
        raise ProviderBadRequest(
            self.name,
            f"deploy answer has no deployment_id and no deployment named {name} appeared; "
            "if it appears later, the orphan reaper destroys it",
        )

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


def _deployment_id(answer: object) -> str | None:
    """The deployment id in a deploy answer: `{"data": {...}}` or the object itself."""
    if not isinstance(answer, dict):
        return None
    for holder in (answer.get("data"), answer):
        if isinstance(holder, dict):
            value = holder.get("deployment_id") or holder.get("id")
            if isinstance(value, str) and _UUID.match(value):
                return value
    return None


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return to_float(value)
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
