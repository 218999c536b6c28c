"""vast.ai client (the real REST API at console.vast.ai).

Endpoints (as the official vast-cli uses them):
- search offers: `POST /api/v0/bundles/` with a JSON query: `{field: {op: value}}` where op
  is one of eq, neq, gt, gte, lt, lte, in, notin; plus `order` ([[field, "asc"|"desc"]]),
  `limit`, `type` ("on-demand" | "bid") and `allocated_storage` (GB). Answer `{"offers": [...]}`.
- rent: `PUT /api/v0/asks/{offer_id}/` with client_id "me", image, disk, env, onstart,
  runtype, label (and price for bids). Answer `{"success": true, "new_contract": <id>}`.
- list: `GET /api/v1/instances/` paginated: `limit`, `order_by`, `select_filters` and
  `after_token` as query parameters (JSON-encoded), answer `{"instances", "next_token"}`.
  (The old `GET /api/v0/instances/` list is gone.)
- show: `GET /api/v0/instances/{id}/?owner=me` -> `{"instances": {...}}` or `{"instances": null}`.
- destroy: `DELETE /api/v0/instances/{id}/`; a missing instance is 404 with
  `{"success": false, "error": "no_such_instance"}` (older answers say "not_found").

- GPU names: `GET /api/v0/gpu_names/unique/` -> `{"gpu_names": [...]}` (the CLI's source,
  cached a day); a model filter becomes `gpu_name in [...]` over the live names.

Units on the wire: gpu_ram in MB per GPU (queries multiply GB by 1000, as the CLI does, so a
"24 GB" filter keeps 24564 MB cards), dph_total in $/h for the whole offer, inet_* in Mbps.
Auth is `Authorization: Bearer <key>`; the key never goes into a URL.

Price = GPU + storage: `dph_total` includes `storage_cost` ($/GB/month) times the disk the
search names (`allocated_storage`), so offers are searched with the disk a rent uses by
default and `quote` re-prices an offer for the disk a rent asks for (720 h months, as the
reference's own example computes). A rent needs at least 8 GB of disk and a host with open
ports (`direct_port_count`) for every port it maps, or it would never get an endpoint.

Pacing: vast limits each endpoint to a minimum interval per API key and IP and answers 429
without Retry-After; `VAST_PACING` spaces calls client-side (providers/pacing.py).
Sources for all of this: tests/fakes/vastai_contract.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import httpx
import msgspec

from gpuproxy.providers._http import ApiClient, RetryPolicy, default_error, error_text
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
    ProviderError,
    ProviderNotFound,
)
from gpuproxy.providers.pacing import Pacer, PaceRule
from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.records import Instance, InstanceStatus, Offer

__all__ = [
    "MIN_DISK_GB",
    "PACING_MARGIN",
    "VAST_GPU_NAMES",
    "VAST_PACING",
    "VAST_RATE_LIMITS",
    "VastAiProvider",
    "build_search_query",
]

log = logging.getLogger(__name__)

DEFAULT_URL = "https://console.vast.ai"
_PAGE_LIMIT = 25  # v1 caps a page at 25 rows
_MAX_PAGES = 400
#: The disk a rent gets unless it asks otherwise; offers are searched (priced) with it.
_DEFAULT_DISK_GB = RentConfig().disk_gb
#: The smallest disk vast rents (its create endpoint's input validation).
MIN_DISK_GB = 8
#: vast's `storage_cost` is per GB and month; a month is 30 days of billing hours.
_HOURS_PER_MONTH = 720
_GPU_NAMES_TTL_S = 24 * 3600.0  # as long as the CLI caches them
_GPU_NAMES_RETRY_S = 300.0  # after a failed fetch, the fixed list serves this long

#: The limits vast publishes per endpoint (calls are spaced at least this much).
VAST_RATE_LIMITS: Mapping[str, PaceRule] = {
    "search": PaceRule(max_calls=10, period_s=60.0),
    "create": PaceRule(min_interval_s=4.5, penalty_s=12.0),
    "show": PaceRule(min_interval_s=2.0),
    "destroy": PaceRule(min_interval_s=3.0),
    "list": PaceRule(min_interval_s=1.0),
}
#: vast measures intervals on arrival; a little slack keeps network jitter from turning a
#: well-spaced call into a 429 (and, for create, a 12 s penalty).
PACING_MARGIN = 0.1
#: What the client keeps to: the published limits plus the margin.
VAST_PACING: Mapping[str, PaceRule] = {
    name: rule.scaled(1 + PACING_MARGIN) for name, rule in VAST_RATE_LIMITS.items()
}

#: gpu_name values vast.ai uses, for when its live list cannot be read; a model filter is
#: sent as `in` over the names it matches.
VAST_GPU_NAMES: tuple[str, ...] = (
    "A10",
    "A100 PCIE",
    "A100 SXM4",
    "A100X",
    "A40",
    "A800 PCIE",
    "B200",
    "GH200 SXM",
    "H100 NVL",
    "H100 PCIE",
    "H100 SXM",
    "H200",
    "H200 NVL",
    "L4",
    "L40",
    "L40S",
    "Q RTX 6000",
    "Q RTX 8000",
    "RTX 2080 Ti",
    "RTX 3060",
    "RTX 3070",
    "RTX 3080",
    "RTX 3080 Ti",
    "RTX 3090",
    "RTX 3090 Ti",
    "RTX 4060 Ti",
    "RTX 4070",
    "RTX 4070 Ti",
    "RTX 4080",
    "RTX 4080S",
    "RTX 4090",
    "RTX 4090D",
    "RTX 5070 Ti",
    "RTX 5080",
    "RTX 5090",
    "RTX 6000Ada",
    "RTX A2000",
    "RTX A4000",
    "RTX A4500",
    "RTX A5000",
    "RTX A6000",
    "RTX PRO 6000 WS",
    "Tesla P100",
    "Tesla T4",
    "Tesla V100",
)

_ORDER = {
    "price": [["dph_total", "asc"]],
    "reliability": [["reliability", "desc"]],
    "vram": [["gpu_ram", "desc"]],
}
_NOT_FOUND_ERRORS = frozenset({"no_such_instance", "not_found", "no_such_ask"})


def build_search_query(
    filters: OfferFilters,
    *,
    offer_type: str = "on-demand",
    min_reliability: float = 0.0,
    allocated_storage_gb: int = _DEFAULT_DISK_GB,
    gpu_names: tuple[str, ...] = VAST_GPU_NAMES,
) -> dict[str, Any]:
    """The `POST /api/v0/bundles/` body for `filters` (the CLI's defaults included).

    Offers are priced for `allocated_storage_gb` of disk, and only hosts with at least one
    open port are asked for: without one a rented instance is never reachable.
    """
    query: dict[str, Any] = {
        "verified": {"eq": True},
        "external": {"eq": False},
        "rentable": {"eq": True},
        "rented": {"eq": False},
        "direct_port_count": {"gte": 1},
    }
    floor = max(min_reliability, filters.min_reliability or 0.0)
    if floor > 0:
        query["reliability"] = {"gte": floor}
    if filters.min_vram_gb:
        query["gpu_ram"] = {"gte": filters.min_vram_gb * 1000}
    if filters.max_price_per_hour is not None:
        query["dph_total"] = {"lte": filters.max_price_per_hour / 1_000_000}
    if filters.gpu_model:
        wanted = filters.gpu_model.replace("_", " ").lower()
        names = [name for name in gpu_names if wanted in name.lower()]
        if names:
            query["gpu_name"] = {"in": names}
    gpus: dict[str, int] = {}
    if filters.min_gpus:
        gpus["gte"] = filters.min_gpus
    if filters.max_gpus:
        gpus["lte"] = filters.max_gpus
    if gpus:
        query["num_gpus"] = gpus
    if filters.location and len(filters.location) == 2 and filters.location.isalpha():
        query["geolocation"] = {"in": [filters.location.upper()]}
    query["order"] = _ORDER[filters.order]
    query["type"] = offer_type
    # Ask for more than the limit when a filter is applied only on our side.
    client_side = bool(filters.location) or (filters.gpu_model and "gpu_name" not in query)
    query["limit"] = min(1000, filters.limit * (4 if client_side else 1))
    query["allocated_storage"] = allocated_storage_gb
    return query


def _vast_error(provider: str, response: httpx.Response) -> ProviderError:
    code = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            code = str(body.get("error") or "")
    except ValueError:
        pass
    if code in _NOT_FOUND_ERRORS:
        return ProviderNotFound(provider, error_text(response), status=response.status_code)
    return default_error(provider, response)


class VastAiProvider(Provider):
    """vast.ai marketplace. `min_reliability` is the floor applied to every search.

    `pacing_scale` multiplies every interval of `VAST_PACING` (1 = vast's published limits;
    tests shrink it, 0 turns pacing off).
    """

    name = "vast.ai"

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_URL,
        *,
        offer_type: str = "on-demand",
        min_reliability: float = 0.9,
        default_disk_gb: int = _DEFAULT_DISK_GB,
        timeouts: CallTimeouts | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        pacing_scale: float = 1.0,
    ) -> None:
        super().__init__(timeouts=timeouts, poll_interval_s=poll_interval_s)
        if offer_type not in ("on-demand", "bid"):
            raise ValueError("offer_type must be 'on-demand' or 'bid'")
        if default_disk_gb < MIN_DISK_GB:
            raise ValueError(f"default_disk_gb must be at least {MIN_DISK_GB}")
        if pacing_scale < 0:
            raise ValueError("pacing_scale must not be negative")
        self.api_key = api_key
        self.offer_type = offer_type
        self.min_reliability = min_reliability
        self.default_disk_gb = default_disk_gb
        self.pacer = Pacer({k: rule.scaled(pacing_scale) for k, rule in VAST_PACING.items()})
        self._gpu_names: tuple[str, ...] = VAST_GPU_NAMES
        self._gpu_names_until = 0.0
        self._api = ApiClient(
            self.name,
            base_url,
            {"Authorization": f"Bearer {api_key}"},
            retry=retry,
            error_mapper=_vast_error,
            transport=transport,
            pacer=self.pacer,
        )

    async def aclose(self) -> None:
        await self._api.aclose()

    # ---- offers ------------------------------------------------------------------

    async def _list_offers(self, filters: OfferFilters) -> list[Offer]:
        self._require_key()
        query = build_search_query(
            filters,
            offer_type=self.offer_type,
            min_reliability=self.min_reliability,
            allocated_storage_gb=self.default_disk_gb,
            gpu_names=await self.gpu_names() if filters.gpu_model else VAST_GPU_NAMES,
        )
        response = await self._api.request("POST", "/api/v0/bundles/", json=query, pace="search")
        body = response.json()
        rows = body.get("offers") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise ProviderBadRequest(self.name, "search answer has no 'offers' list")
        return [self._offer(row) for row in rows if isinstance(row, dict) and "id" in row]

    async def gpu_names(self) -> tuple[str, ...]:
        """The gpu_name values vast serves now (a day's cache); the fixed list if unreadable."""
        if time.monotonic() < self._gpu_names_until:
            return self._gpu_names
        names: tuple[str, ...] = ()
        try:
            body = (await self._api.request("GET", "/api/v0/gpu_names/unique/")).json()
            listed = body.get("gpu_names") if isinstance(body, dict) else None
            if isinstance(listed, list):
                names = tuple(n for n in listed if isinstance(n, str) and n.strip())
        except (ProviderError, ValueError) as exc:
            log.info("vast.ai: GPU names unavailable (%s); using the built-in list", exc)
        if names:
            self._gpu_names, ttl = names, _GPU_NAMES_TTL_S
        else:
            self._gpu_names, ttl = VAST_GPU_NAMES, _GPU_NAMES_RETRY_S
        self._gpu_names_until = time.monotonic() + ttl
        return self._gpu_names

    def quote(self, offer: Offer, config: RentConfig) -> Offer:
        """`offer` priced for `config.disk_gb`; not rentable if its host has too few ports.

        The listed price includes storage for the disk the search named (metadata
        `disk_gb`); vast bills `storage_cost` $/GB/month for the disk actually rented.
        """
        if offer.not_rentable_reason is not None:
            return offer
        needed = _ports_needed(config)
        open_ports = to_int(offer.metadata.get("direct_port_count"), needed)
        if open_ports < needed:
            reason = f"the host has {open_ports} open ports; this rent maps {needed}"
            return msgspec.structs.replace(offer, not_rentable_reason=reason)
        listed_disk = to_int(offer.metadata.get("disk_gb"), config.disk_gb)
        extra_gb = config.disk_gb - listed_disk
        delta = _storage_micros_per_hour(offer.metadata.get("storage_cost"), extra_gb)
        if not extra_gb or delta is None:
            return offer  # same disk, or no storage price to re-price with
        price = offer.price_per_hour + delta
        if price <= 0:
            return msgspec.structs.replace(offer, not_rentable_reason="no valid price")
        metadata = {**offer.metadata, "disk_gb": str(config.disk_gb)}
        return msgspec.structs.replace(
            offer,
            price_per_hour=price,
            price_per_gpu_hour=per_gpu(price, offer.num_gpus),
            metadata=metadata,
        )

    def _offer(self, row: dict[str, Any]) -> Offer:
        num_gpus = max(1, to_int(row.get("num_gpus"), 1))
        price, unpriced = offer_price(row.get("dph_total"))
        reliability = to_float(row.get("reliability2", row.get("reliability")))
        cuda = to_float(row.get("cuda_max_good"))
        meta_keys = (
            "machine_id",
            "host_id",
            "disk_space",
            "cpu_cores_effective",
            "cpu_ram",
            "dlperf",
            "compute_cap",
            "driver_version",
            "datacenter",
            "static_ip",
            "direct_port_count",
            "storage_cost",
        )
        verification = row.get("verification")
        return Offer(
            id=str(row["id"]),
            provider=self.name,
            gpu_model=str(row.get("gpu_name") or "unknown"),
            num_gpus=num_gpus,
            vram_gb=round(to_int(row.get("gpu_ram")) / 1024),
            price_per_hour=price,
            price_per_gpu_hour=per_gpu(price, num_gpus),
            location=str(row.get("geolocation") or ""),
            reliability=reliability,
            inet_down_mbps=to_float(row.get("inet_down")),
            inet_up_mbps=to_float(row.get("inet_up")),
            cuda_version=f"{cuda:g}" if cuda else None,
            verified=(verification == "verified") if verification else row.get("verified"),
            metadata={
                **{k: str(row[k]) for k in meta_keys if row.get(k) is not None},
                "disk_gb": str(self.default_disk_gb),  # the storage this price includes
            },
            not_rentable_reason=unpriced,
        )

    # ---- instances ---------------------------------------------------------------

    async def _create(self, offer_id: str, config: RentConfig) -> Instance:
        self._require_key()
        if not offer_id.isdigit():
            raise InvalidRequest("id", "a vast.ai offer id is a number")
        if not config.image:
            raise InvalidRequest("image", "vast.ai needs a container image")
        if config.disk_gb < MIN_DISK_GB:
            raise InvalidRequest("disk", f"vast.ai rents at least {MIN_DISK_GB} GB of disk")
        env = config.worker_env()
        for port in config.ports:  # vast exposes ports through docker -p "env" entries
            env[f"-p {port}:{port}"] = "1"
        runtype = _runtype(config)
        body: dict[str, Any] = {
            "client_id": "me",
            "image": config.image,
            "disk": config.disk_gb,
            "env": env,
            # Rentals sets `gpuproxy-<record id>` (providers/ownership.py): the mark that
            # tells the orphan reaper this instance is ours and which rental it belongs to.
            "label": config.label or "gpuproxy",
            "runtype": runtype,
            "cancel_unavail": True,
        }
        if config.onstart:
            body["onstart"] = config.onstart
        if config.args is not None:
            body["args"] = config.args
        if config.bid_price_per_hour is not None:
            body["price"] = config.bid_price_per_hour / 1_000_000
        response = await self._api.request(
            "PUT", f"/api/v0/asks/{offer_id}/", json=body, pace="create"
        )
        answer = response.json() if response.content else {}
        contract = answer.get("new_contract") if isinstance(answer, dict) else None
        if not isinstance(answer, dict) or not answer.get("success", True) or contract is None:
            raise ProviderBadRequest(self.name, f"rent refused: {error_text(response)}")
        instance_id = str(contract)
        try:
            return await self._get(instance_id)
        except ProviderNotFound:
            # The contract exists; the show endpoint can lag a moment behind.
            return Instance(
                id=instance_id,
                provider=self.name,
                status="starting",
                offer_id=offer_id,
                label=config.label or "gpuproxy",
            )

    async def _get(self, instance_id: str) -> Instance:
        self._require_key()
        if not instance_id.isdigit():
            raise ProviderNotFound(self.name, f"no instance {instance_id[:32]!r}")
        response = await self._api.request(
            "GET", f"/api/v0/instances/{instance_id}/", params={"owner": "me"}, pace="show"
        )
        body = response.json()
        row = body.get("instances") if isinstance(body, dict) else None
        if isinstance(row, list):  # tolerate the list shape of older answers
            row = next((r for r in row if str(r.get("id")) == instance_id), None)
        if not isinstance(row, dict):
            raise ProviderNotFound(self.name, f"no instance {instance_id}")
        return self._instance(row)

    async def _list_instances(self) -> list[Instance]:
        self._require_key()
        params: dict[str, str] = {
            "select_filters": "{}",
            "order_by": json.dumps([{"col": "id", "dir": "asc"}]),
            "limit": str(_PAGE_LIMIT),
        }
        instances: list[Instance] = []
        for _ in range(_MAX_PAGES):
            page = await self._api.request("GET", "/api/v1/instances/", params=params, pace="list")
            body = page.json()
            rows = body.get("instances") or []
            instances.extend(self._instance(r) for r in rows if isinstance(r, dict))
            token = body.get("next_token")
            if not token:
                return instances
            params["after_token"] = str(token)
        raise ProviderBadRequest(self.name, f"instance list longer than {_MAX_PAGES} pages")

    async def _destroy(self, instance_id: str) -> None:
        self._require_key()
        if not instance_id.isdigit():
            raise ProviderNotFound(self.name, f"no instance {instance_id[:32]!r}")
        response = await self._api.request(
            "DELETE", f"/api/v0/instances/{instance_id}/", json={}, pace="destroy"
        )
        body = response.json() if response.content else {}
        if isinstance(body, dict) and body.get("success") is False:
            if body.get("error") in _NOT_FOUND_ERRORS:
                raise ProviderNotFound(self.name, f"no instance {instance_id}")
            raise ProviderBadRequest(self.name, f"destroy refused: {error_text(response)}")

    def start_failure_reason(self, instance: Instance) -> str | None:
        actual = instance.metadata.get("actual_status", "")
        if actual in ("exited", "unknown", "offline"):
            return f"actual_status={actual}" + (
                f": {instance.status_message}" if instance.status_message else ""
            )
        return super().start_failure_reason(instance)

    def _instance(self, row: dict[str, Any]) -> Instance:
        num_gpus = max(1, to_int(row.get("num_gpus"), 1))
        price = micros_from_dollars(row.get("dph_total", 0))
        actual = str(row.get("actual_status") or "")
        message = str(row.get("status_msg") or "").strip()
        cuda = to_float(row.get("cuda_max_good"))
        metadata = {"actual_status": actual or "none"}
        for key in ("intended_status", "cur_state", "machine_id", "host_id", "image_uuid"):
            if row.get(key) is not None:
                metadata[key] = str(row[key])
        endpoint = None
        ip = row.get("public_ipaddr")
        ports = row.get("ports")
        if isinstance(ports, dict) and ip:
            mapped: list[tuple[int, str]] = []
            for name, bindings in ports.items():
                container_port = name.split("/", 1)[0]
                if container_port.isdigit() and isinstance(bindings, list) and bindings:
                    host_port = str(bindings[0].get("HostPort", ""))
                    metadata[f"port_{container_port}"] = f"{ip}:{host_port}"
                    if container_port != "22":
                        mapped.append((int(container_port), host_port))
            if mapped:
                endpoint = f"http://{ip}:{min(mapped)[1]}"
        return Instance(
            id=str(row.get("id")),
            provider=self.name,
            status=_status(actual, str(row.get("intended_status") or ""), message),
            gpu_model=str(row.get("gpu_name") or ""),
            num_gpus=num_gpus,
            vram_gb=round(to_int(row.get("gpu_ram")) / 1024),
            price_per_hour=price,
            price_per_gpu_hour=per_gpu(price, num_gpus),
            location=str(row.get("geolocation") or ""),
            reliability=to_float(row.get("reliability2", row.get("reliability"))),
            inet_down_mbps=to_float(row.get("inet_down")),
            inet_up_mbps=to_float(row.get("inet_up")),
            cuda_version=f"{cuda:g}" if cuda else None,
            label=row.get("label"),
            endpoint=endpoint,
            status_message=message[:500],
            created_at=to_float(row.get("start_date")),
            metadata=metadata,
        )

    def _require_key(self) -> None:
        if not self.api_key:
            raise ProviderAuthError(self.name, "VASTAI_API_KEY is not set")


def _status(actual: str, intended: str, message: str) -> InstanceStatus:
    """Map vast's actual_status (+ intended_status, status_msg) onto InstanceStatus.

    The states are those `vastai show instance` documents (null, loading, running, stopped,
    frozen, exited, rebooting, unknown, offline).
    """
    if actual == "running":
        return "running"
    if actual in ("", "none", "loading", "created", "scheduling", "creating", "rebooting"):
        # "created with an error": the container could not start (e.g. image pull failed).
        # rebooting: a restart in progress; it comes back by itself.
        return "failed" if "error" in message.lower() else "starting"
    if actual == "frozen":
        return "stopped"  # paused with its memory kept (and GPU billed): not serving
    if actual in ("exited", "stopped"):
        return "stopped" if intended in ("stopped", "frozen") else "failed"
    return "unknown"  # offline, unknown: the host lost contact; it may come back


def _runtype(config: RentConfig) -> str:
    return config.runtype or ("ssh_direct" if config.onstart else "args")


def _ports_needed(config: RentConfig) -> int:
    """Open host ports a rent maps: each container port, plus SSH/Jupyter in direct modes."""
    return len(config.ports) + (1 if _runtype(config).endswith("_direct") else 0)


def _storage_micros_per_hour(cost_per_gb_month: str | None, disk_gb: int) -> int | None:
    """vast's storage price of `disk_gb` (may be negative: a difference) in micro-dollars
    per hour, rounded half up; None when the offer has no valid storage cost."""
    try:
        cost = Decimal(cost_per_gb_month or "")
    except InvalidOperation:
        return None
    if not cost.is_finite() or cost < 0:
        return None
    micros = cost * disk_gb * 1_000_000 / _HOURS_PER_MONTH
    return int(micros.quantize(Decimal(1), rounding=ROUND_HALF_UP))
