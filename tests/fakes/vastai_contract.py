"""The vast.ai API as the product uses it: every endpoint, the fields the fake checks, the
pacing vast enforces and its answers, each with where it comes from.

Sources (read from the repositories, 2025):
- SPEC: vast-ai/docs, api-reference/openapi.yaml (the published API reference) and the
  per-endpoint files api-reference/openapi/yaml/<name>.yaml, whose `x-rate-limit` and
  `x-input-validation` blocks state the limits (named below as SPEC <name>).
- LIMITS: vast-ai/docs, api-reference/rate-limits-and-errors.mdx: limits are a minimum
  interval per endpoint and identity (bearer token + IP), a refused call is HTTP 429 with
  "API requests too frequent[: endpoint threshold=...]" and no Retry-After header.
- CLI: vast-ai/vast-cli (vastai/api/offers.py, vastai/cli/util.py, vast.py).
- ASSUMED: neither says; what the fake does is the product's reading, written in README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes._contract import Contract, Endpoint, Field

__all__ = [
    "MIN_DISK_GB",
    "RATE_LIMITS",
    "SEARCH_DEFAULT_STORAGE_GB",
    "STORAGE_HOURS_PER_MONTH",
    "VAST",
    "RateLimit",
    "endpoint_name",
]

#: SPEC create_instance.yaml x-input-validation: `disk: min: 8.0` (GB).
MIN_DISK_GB = 8
#: SPEC /api/v0/bundles/ `allocated_storage`: "Default is 8GB" when a search omits it.
SEARCH_DEFAULT_STORAGE_GB = 8
#: `storage_cost` is $/GB/month (SPEC bundles; CLI search offers help). The SPEC's instance
#: example prices 10.08 GB at 0.15 $/GB/month as storage_total_cost 0.0021 $/h = 30-day
#: months (720 h); vast does not state the month length: ASSUMED from that example.
STORAGE_HOURS_PER_MONTH = 720


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number"
    return None


def _disk(value: Any) -> str | None:
    problem = _number(value)
    if problem is None and value < MIN_DISK_GB:
        problem = f"disk must be at least {MIN_DISK_GB} GB"
    return problem


def _order(value: Any) -> str | None:
    ok = all(isinstance(pair, list) and len(pair) == 2 for pair in value)
    return None if ok else "order entries are [field, direction] pairs"


_SEARCH_BODY = (
    Field("limit", int, required=False, source="SPEC bundles"),
    Field("type", str, required=False, source="SPEC bundles (+ 'on-demand' as CLI sends)"),
    Field("order", list, required=False, check=_order, source="SPEC bundles"),
    Field("allocated_storage", object, required=False, check=_number, source="SPEC bundles"),
)
_CREATE_BODY = (
    Field("image", str, source="SPEC asks/{id} put: required [image]"),
    Field("disk", object, required=False, check=_disk, source="SPEC create_instance.yaml"),
    Field("label", str, required=False, source="SPEC asks/{id} put"),
    Field("runtype", str, required=False, source="SPEC asks/{id} put"),
    Field("onstart", str, required=False, source="SPEC asks/{id} put"),
    Field("args", list, items=str, required=False, source="SPEC asks/{id} put"),
    Field("price", object, required=False, check=_number, source="SPEC asks/{id} put"),
    Field("cancel_unavail", bool, required=False, source="SPEC asks/{id} put"),
)
_INSTANCES_QUERY = (
    Field("limit", int, required=False, source="SPEC /api/v1/instances (max 25)"),
    Field("after_token", str, required=False, source="SPEC /api/v1/instances"),
    Field("order_by", str, required=False, source="SPEC /api/v1/instances"),
    Field("select_filters", str, required=False, source="SPEC /api/v1/instances"),
)
_ID = r"(?P<id>[^/]+)"

#: Every endpoint the product may call (paths with the trailing slash the CLI sends).
VAST = Contract(
    "vast.ai",
    (
        Endpoint("POST", "/api/v0/bundles/", "SPEC searchOffers", body=_SEARCH_BODY),
        Endpoint("PUT", f"/api/v0/asks/{_ID}/", "SPEC createInstance", body=_CREATE_BODY),
        Endpoint("GET", f"/api/v0/instances/{_ID}/", "SPEC showInstance"),
        Endpoint("DELETE", f"/api/v0/instances/{_ID}/", "SPEC destroyInstance"),
        Endpoint("GET", "/api/v1/instances/", "SPEC showInstances", query=_INSTANCES_QUERY),
        # Not in SPEC: the CLI reads the live GPU names from here (cached 24 h) and
        # answers {"gpu_names": [...]}; CLI vastai/cli/util.py _get_gpu_names.
        Endpoint("GET", "/api/v0/gpu_names/unique/", "CLI util.py _get_gpu_names"),
    ),
)


@dataclass(frozen=True)
class RateLimit:
    """One endpoint's limit as vast states it, and the 429 answer it gives."""

    #: "text" (plain "API requests too frequent"), "detail" ({"detail": ...}) or
    #: "error" ({"success": false, "error": "rate_limit_exceeded", "msg": ...}).
    answer: str
    source: str
    min_interval_s: float = 0.0
    #: (calls, seconds): at most that many calls in any window of that length.
    window: tuple[int, float] = (0, 0.0)
    penalty_s: float = 0.0

    def message(self) -> str:
        if self.min_interval_s:
            return f"API requests too frequent endpoint threshold={self.min_interval_s}"
        return "API requests too frequent"


#: Keyed by the product's endpoint names (VAST endpoint order: search, create, show,
#: destroy, list); gpu_names has no published limit.
RATE_LIMITS: dict[str, RateLimit] = {
    # SPEC search_offers.yaml: `x-rate-limit: requests: 10, per: minute` (per IP); its 429
    # body is not given: plain text, as LIMITS says is usual.
    "search": RateLimit("text", "SPEC search_offers", window=(10, 60.0)),
    # SPEC create_instance.yaml: `threshold: 4.5, penalty: 12`; 429 {"detail": ...}. What
    # the penalty does is not said: ASSUMED, a refused caller waits 12 s from the refusal.
    "create": RateLimit("detail", "SPEC create_instance", 4.5, penalty_s=12.0),
    # SPEC show_instance.yaml: `threshold: 2.0`; 429 {"detail": "... threshold=2.0"}.
    "show": RateLimit("detail", "SPEC show_instance", 2.0),
    # SPEC destroy_instance.yaml: `threshold: 3.0`; 429 {"success": false, "error":
    # "rate_limit_exceeded", "msg": "... threshold=3.0"}.
    "destroy": RateLimit("error", "SPEC destroy_instance", 3.0),
    # SPEC show_instances.yaml: `threshold: 1.0`; 429 {"detail": "... threshold=1.0"}.
    "list": RateLimit("detail", "SPEC show_instances", 1.0),
}

_NAMES = ("search", "create", "show", "destroy", "list", "gpu_names")


def endpoint_name(method: str, path: str) -> str | None:
    """The product's name for the contract endpoint `method path` hits (None: unknown)."""
    for name, endpoint in zip(_NAMES, VAST.endpoints, strict=True):
        if endpoint.matches(method, path):
            return name
    return None
