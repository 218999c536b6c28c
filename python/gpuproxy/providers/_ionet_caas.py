"""io.net containers (CaaS): where a container can run, the deploy body, its public URL.

The container API names hardware and locations by ids of its own, taken from its inventory
(io.net API reference, "Deploy a Container": `hardware_id` integer and `location_ids`
integer[] "from the Inventory Browsing API"), not the VM hardware list's `deploy_id` or
country codes. Offers are listed from the VM hardware list (it carries prices), so a
container rent maps its offer onto the container inventory first:

- `GET caas/hardware/max-gpus-per-container` -> `data.hardware[{hardware_id, hardware_name,
  brand_name, max_gpus_per_container, available}]`: the GPU type with the offer's name
  (`brand_name hardware_name` or `hardware_name` alone equals the VM list's `name`);
- `GET caas/available-replicas?hardware_id&hardware_qty` -> `data[{id, iso2, name,
  available_replicas}]`: the location with the offer's country code and room for one.

Nothing is rented when either has no match. The image goes in `registry_config.image_url`;
the container's address is `workers[].public_url` of `GET caas/deployment/{id}/containers`.
"""

from __future__ import annotations

import re
from typing import Any

from gpuproxy.providers._http import ApiClient
from gpuproxy.providers._units import to_int
from gpuproxy.providers.errors import ProviderBadRequest
from gpuproxy.providers.params import RentConfig

__all__ = ["CAAS", "caas_deploy_body", "caas_placement", "container_endpoint", "same_gpu"]

CAAS = "/enterprise/v1/io-cloud/caas"
_DEFAULT_TRAFFIC_PORT = 8000


def _squash(text: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text or "").lower())


def same_gpu(vm_name: object, brand: object, hardware_name: object) -> bool:
    """Whether a container hardware entry is the GPU the VM list calls `vm_name`."""
    wanted = _squash(vm_name)
    return bool(wanted) and wanted in (
        _squash(hardware_name),
        _squash(f"{brand or ''}{hardware_name or ''}"),
    )


async def caas_placement(api: ApiClient, gpu: str, cards: int, location: str) -> tuple[int, int]:
    """The container `(hardware_id, location_id)` for `cards` GPUs named `gpu` in `location`
    (the VM list's country code); ProviderBadRequest when io.net has no such capacity."""
    provider = api.provider
    body = (await api.request("GET", f"{CAAS}/hardware/max-gpus-per-container")).json()
    data = body.get("data") if isinstance(body, dict) else None
    rows = data.get("hardware") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ProviderBadRequest(provider, "container hardware answer has no data.hardware list")
    hardware_id = next(
        (
            to_int(row.get("hardware_id"))
            for row in rows
            if isinstance(row, dict)
            and same_gpu(gpu, row.get("brand_name"), row.get("hardware_name"))
            and to_int(row.get("max_gpus_per_container")) >= cards
            and to_int(row.get("hardware_id")) > 0
        ),
        None,
    )
    if hardware_id is None:
        raise ProviderBadRequest(provider, f"io.net runs no containers with {cards} x {gpu}")
    params = {"hardware_id": hardware_id, "hardware_qty": cards}
    body = (await api.request("GET", f"{CAAS}/available-replicas", params=params)).json()
    places = body.get("data") if isinstance(body, dict) else None
    for place in places if isinstance(places, list) else []:
        if (
            isinstance(place, dict)
            and str(place.get("iso2") or "").upper() == location.upper()
            and to_int(place.get("available_replicas")) >= 1
            and to_int(place.get("id")) > 0
        ):
            return hardware_id, to_int(place.get("id"))
    raise ProviderBadRequest(
        provider, f"io.net has no room for a {cards} x {gpu} container in {location or '?'}"
    )


def caas_deploy_body(
    name: str, cards: int, hardware_id: int, location_id: int, config: RentConfig
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "replica_count": 1,
        "env_variables": config.worker_env(),
        "traffic_port": config.ports[0] if config.ports else _DEFAULT_TRAFFIC_PORT,
    }
    if config.args:
        # Sent only when given: an empty entrypoint would replace the image's own.
        container["entrypoint"] = list(config.args)
    return {
        "resource_private_name": name,
        "duration_hours": config.duration_hours,
        "gpus_per_container": cards,
        "hardware_id": hardware_id,
        "location_ids": [location_id],
        "container_config": container,
        "registry_config": {"image_url": config.image},
    }


async def container_endpoint(api: ApiClient, deployment_id: str) -> str | None:
    """The public URL of the deployment's first running container (None until there is one)."""
    body = (await api.request("GET", f"{CAAS}/deployment/{deployment_id}/containers")).json()
    data = body.get("data") if isinstance(body, dict) else None
    workers = data.get("workers") if isinstance(data, dict) else None
    for worker in workers if isinstance(workers, list) else []:
        if not isinstance(worker, dict) or str(worker.get("status") or "") != "running":
            continue
        url = str(worker.get("public_url") or "").strip().rstrip("/")
        if url:
            return url if "://" in url else f"https://{url}"
    return None
