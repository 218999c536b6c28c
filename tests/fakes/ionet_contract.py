"""The io.net IO Cloud API as the product uses it: every endpoint, field, type and answer
shape the fake follows, each with where it comes from.

Sources (read 2025; the API is served by FastAPI, so bad input answers 422 with pydantic's
`{"detail": [{"loc", "msg", "type"}]}` and other errors `{"detail": "..."}`):
- REF: the API reference, https://io.net/docs/reference/ (pages named below).
- NEWAPI: QuantumNous/new-api, pkg/ionet/types.go, container.go, hardware.go (a production
  io.net client; the reference leaves several answers undocumented and this client's
  comments quote the live shapes).
- ASSUMED: neither says; the fake keeps the product's earlier reading (README, "io.net").
"""

from __future__ import annotations

from typing import Any

from tests.fakes._contract import Contract, Endpoint, Field

__all__ = ["CAAS", "IONET", "VM"]

VM = "/enterprise/v1/io-cloud/vmaas"
CAAS = "/enterprise/v1/io-cloud/caas"
_ID = "(?P<id>[^/]+)"
_PAGES = (
    Field("page", int, required=False, source="ASSUMED"),
    Field("page_size", int, required=False, source="ASSUMED"),
)


def _positive(value: Any) -> str | None:
    return None if int(value) >= 1 else "Input should be greater than or equal to 1"


def _hours(value: Any) -> str | None:
    return None if 0 < int(value) <= 8760 else "Input should be greater than 0"


def _not_empty(value: Any) -> str | None:
    return None if value else "List should have at least 1 item after validation, not 0"


def _one_location(value: Any) -> str | None:
    return None if len(value) == 1 else "List should have exactly 1 item"


_VM_DEPLOY = (
    # REF vmaas/deploy (as quoted by issue 19): ssh_keys is required; a VM without a key
    # could never be reached. Public keys as strings: ASSUMED.
    Field("ssh_keys", list, items=str, check=_not_empty, source="REF vmaas/deploy"),
    Field("resource_private_name", str, source="REF vmaas/deploy"),
    Field("duration_hours", int, check=_hours, source="REF vmaas/deploy"),
    Field("gpus_per_vm", int, check=_positive, source="REF vmaas/deploy"),
    # The hardware list's deploy_id: an integer, or text for external suppliers: ASSUMED.
    Field("hardware_id", object, source="REF vmaas/get-hardware-list: deploy_id"),
    # Country codes as the hardware list names them: ASSUMED (the VMaaS page was not
    # readable here; CaaS takes integer ids, see below).
    Field("location_ids", list, check=_one_location, source="ASSUMED"),
    Field("node_pool_id", str, required=False, source="REF vmaas/deploy"),
    Field("vms_qty", int, required=False, source="REF vmaas/deploy"),
    Field("github_ids", list, required=False, source="REF vmaas/deploy"),
    Field("vm_image_type", str, required=False, source="REF vmaas/deploy"),
    Field("network_services", dict, required=False, source="REF vmaas/deploy"),
)

_CONTAINER_CONFIG = (
    Field("replica_count", int, check=_positive, source="REF caas/deploy-a-container"),
    Field("env_variables", dict, required=False, source="REF caas/deploy-a-container"),
    Field("secret_env_variables", dict, required=False, source="REF caas/deploy-a-container"),
    # The reference marks entrypoint required; NEWAPI sends it only when set (omitempty)
    # and so does the product (an empty list would wipe the image's own entrypoint).
    Field("entrypoint", list, items=str, required=False, source="REF + NEWAPI types.go"),
    Field("args", list, items=str, required=False, source="REF caas/deploy-a-container"),
    Field("traffic_port", int, source="REF caas/deploy-a-container"),
)
_REGISTRY_CONFIG = (
    Field("image_url", str, source="REF caas/deploy-a-container: registry_config.image_url"),
    Field("registry_username", str, required=False, source="REF caas/deploy-a-container"),
    Field("registry_secret", str, required=False, source="REF caas/deploy-a-container"),
)
_CAAS_DEPLOY = (
    # REF: "Must be a unique string identifying the deployment" (the fake refuses a name
    # already used on the account with 400, wording ASSUMED).
    Field("resource_private_name", str, source="REF caas/deploy-a-container"),
    Field("duration_hours", int, check=_hours, source="REF caas/deploy-a-container"),
    Field("gpus_per_container", int, check=_positive, source="REF caas/deploy-a-container"),
    # REF: integer, "Use values from the Inventory Browsing API" (max-gpus-per-container).
    Field("hardware_id", int, source="REF caas/deploy-a-container"),
    # REF: integer[] region/location ids from available-replicas, not country codes.
    Field("location_ids", list, items=int, check=_not_empty, source="REF caas/deploy"),
    Field("container_config", dict, fields=_CONTAINER_CONFIG, source="REF caas/deploy"),
    Field("registry_config", dict, fields=_REGISTRY_CONFIG, source="REF caas/deploy"),
)

IONET = Contract(
    "io.net",
    (
        # ---- VMaaS --------------------------------------------------------------------
        Endpoint(
            "GET",
            f"{VM}/hardware",
            "REF vmaas/get-hardware-list: data.hardware[{id, deploy_id, name, num_cards, "
            "price ($/h for the configuration), vram_per_card, location, sold_out}]",
            query=(
                Field("gpu", str, required=False, source="REF vmaas/get-hardware-list"),
                Field("gpu_memory_min", int, required=False, source="REF get-hardware-list"),
            ),
        ),
        Endpoint(
            "GET",
            f"{VM}/price",
            "ASSUMED: data.total_cost_usdc; location_ids a JSON array as in REF caas/price",
            query=(
                Field("location_ids", str, source="ASSUMED"),
                Field("hardware_id", str, source="ASSUMED"),
                Field("currency", str, source="ASSUMED"),
                Field("duration_hours", int, check=_hours, source="ASSUMED"),
                Field("gpus_per_vm", int, check=_positive, source="ASSUMED"),
                Field("replica_count", int, check=_positive, source="ASSUMED"),
            ),
        ),
        Endpoint(
            "POST",
            f"{VM}/deploy",
            "REF vmaas/deploy; the answer is undocumented (the fake answers "
            "data.deployment_id unless told to answer otherwise)",
            body=_VM_DEPLOY,
            closed_body=True,
        ),
        Endpoint("GET", f"{VM}/deployments", "ASSUMED: data.deployments[], total", _PAGES),
        Endpoint("GET", f"{VM}/deployment/{_ID}", "ASSUMED: data{id, status, locations}"),
        Endpoint("GET", f"{VM}/deployment/{_ID}/vms", "ASSUMED: data.workers[]", _PAGES),
        Endpoint("DELETE", f"{VM}/deployment/{_ID}", "ASSUMED: 404 when gone"),
        # ---- CaaS ---------------------------------------------------------------------
        Endpoint(
            "GET",
            f"{CAAS}/hardware/max-gpus-per-container",
            "NEWAPI hardware.go: data.hardware[{hardware_id (int), hardware_name, "
            "brand_name, max_gpus_per_container, available}], total",
        ),
        Endpoint(
            "GET",
            f"{CAAS}/available-replicas",
            "REF caas/available-replicas + NEWAPI hardware.go: data[{id (int), iso2, name, "
            "available_replicas}]",
            query=(
                Field("hardware_id", int, source="REF caas/available-replicas"),
                Field("hardware_qty", int, check=_positive, source="REF available-replicas"),
            ),
        ),
        Endpoint(
            "POST",
            f"{CAAS}/deploy",
            "REF caas/deploy-a-container: answers {status, deployment_id}",
            body=_CAAS_DEPLOY,
        ),
        Endpoint("GET", f"{CAAS}/deployments", "NEWAPI types.go DeploymentList", _PAGES),
        Endpoint("GET", f"{CAAS}/deployment/{_ID}", "NEWAPI types.go DeploymentDetail"),
        Endpoint(
            "GET",
            f"{CAAS}/deployment/{_ID}/containers",
            "NEWAPI container.go/types.go: data{total, workers[{container_id, status, "
            "public_url, ...}]}; public_url is where the container's traffic_port answers",
        ),
        Endpoint("DELETE", f"{CAAS}/deployment/{_ID}", "REF caas (delete deployment)"),
    ),
)
