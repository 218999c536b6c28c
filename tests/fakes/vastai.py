"""A fake vast.ai API on loopback, following the real one (see gpuproxy.providers.vastai).

- `POST /api/v0/bundles/`: evaluates the query operators (eq, neq, gt, gte, lt, lte, in,
  notin) on offer fields in vast units (gpu_ram MB, dph_total $/h), `order`, `limit`,
  `type`; unknown operators answer 400 `{"success": false, "error": "invalid_args"}`.
- `PUT /api/v0/asks/{id}/` -> `{"success": true, "new_contract": id}`.
- `GET /api/v1/instances/` pages of at most 25 with an opaque `next_token`; the v0 list
  answers 410. `GET /api/v0/instances/{id}/?owner=me` -> `{"instances": {...} | null}`.
- `DELETE /api/v0/instances/{id}/` -> 404 `{"success": false, "error": "no_such_instance"}`.
- Instances move over time: `actual_status` None -> "loading" -> "running" after
  `boot_s`, or to a failure for offers marked `fail_mode` ("exited" | "created_error" |
  "offline").
- `rate_limit(n, prefix, json_body=False)`: the next n requests under `prefix` answer 429
  without Retry-After (plain text or JSON body), as vast does.

What it follows is written down once in tests/fakes/vastai_contract.py (with sources):
- Requests are checked against the contract: an endpoint it does not know answers 404 and
  is kept in `unknown_calls`; a refused field answers 400 `{"success": false, "error":
  "invalid_args", "msg"}` (a rent with `disk` under 8 GB included).
- Prices: rows hold the `dph_total` vast shows with `LISTED_STORAGE_GB` allocated; a search
  re-prices each offer for its `allocated_storage` (8 GB when absent) and a rent for its
  `disk`, at `storage_cost` $/GB/month over 720 h, as vast bills storage.
- Ports: a running instance publishes at most the offer's `direct_port_count` of the ports
  it asked for (none on a host without open ports).
- `GET /api/v0/gpu_names/unique/` -> `{"gpu_names": [...]}` (`gpu_names`, default: the
  names of the offers).
- Pacing (`time_scale`, None = off): each endpoint's limit from RATE_LIMITS with every
  duration times `time_scale`, per API key; a too-early call answers 429 with vast's body
  for that endpoint (the documented threshold in it, never a Retry-After); `refusals` counts
  them per endpoint.
- `set_status(id, actual, intended)` pins an instance's `actual_status` (e.g. "frozen").
"""

from __future__ import annotations

import base64
import itertools
import time
from collections import Counter, deque
from typing import Any

from tests.fakes._http import (
    FakeHttpServer,
    Request,
    Response,
    json_response,
    text_response,
)
from tests.fakes.vastai_contract import (
    RATE_LIMITS,
    SEARCH_DEFAULT_STORAGE_GB,
    STORAGE_HOURS_PER_MONTH,
    VAST,
    RateLimit,
    endpoint_name,
)

__all__ = ["LISTED_STORAGE_GB", "STORAGE_COST", "FakeVastAi", "default_offers"]

#: The allocated storage the rows' `dph_total` is written for (the product's default disk).
LISTED_STORAGE_GB = 16
#: $/GB/month of every default offer: 16 GB cost 0.002 $/h, so prices stay round.
STORAGE_COST = 0.09

_OPS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}
_QUERY_META = {"order", "limit", "type", "allocated_storage", "disable_bundling"}


def _offer(
    oid: int, gpu: str, n: int, ram_mb: int, dph: float, geo: str, rel: float, **extra: Any
) -> dict[str, Any]:
    row = {
        "id": oid,
        "ask_contract_id": oid,
        "machine_id": 1000 + oid % 1000,
        "host_id": 500 + oid % 100,
        "gpu_name": gpu,
        "num_gpus": n,
        "gpu_ram": ram_mb,
        "gpu_total_ram": ram_mb * n,
        "dph_total": dph,
        "dph_base": round(dph * 0.9, 6),
        "geolocation": geo,
        "reliability": rel,
        "reliability2": rel,
        "inet_down": 850.5,
        "inet_up": 610.2,
        "cuda_max_good": 12.4,
        "disk_space": 200.0,
        "cpu_cores_effective": 16.0,
        "cpu_ram": 64000,
        "verified": True,
        "verification": "verified",
        "rentable": True,
        "rented": False,
        "external": False,
        "min_bid": round(dph * 0.5, 6),
        "storage_cost": STORAGE_COST,
        "direct_port_count": 20,
    }
    row.update(extra)
    return row


def default_offers() -> list[dict[str, Any]]:
    """A small realistic market: prices in $/h for the whole machine, gpu_ram in MB."""
    return [
        _offer(101, "RTX 4090", 1, 24564, 0.401333, "Texas, US", 0.995),
        _offer(102, "RTX 4090", 2, 24564, 0.78, "Ontario, CA", 0.991),
        _offer(103, "A100 SXM4", 1, 81920, 1.2, "Oregon, US", 0.998),
        _offer(104, "H100 SXM", 8, 81559, 19.6, "Virginia, US", 0.999),
        _offer(105, "RTX 3090", 1, 24576, 0.21, "Bavaria, DE", 0.97),
        _offer(106, "RTX A6000", 1, 49140, 0.49, "Quebec, CA", 0.985),
        _offer(107, "RTX 3090", 1, 24576, 0.15, "Unknown, PL", 0.80),
        _offer(
            108,
            "RTX 4090",
            1,
            24564,
            0.35,
            "Texas, US",
            0.99,
            verified=False,
            verification="unverified",
        ),
    ]


class FakeVastAi:
    def __init__(
        self,
        api_key: str = "vast-test-key",
        offers: list[dict[str, Any]] | None = None,
        boot_s: float = 0.15,
        time_scale: float | None = None,
    ) -> None:
        self.api_key = api_key
        self.offers = {o["id"]: o for o in (offers or default_offers())}
        self.boot_s = boot_s
        self.time_scale = time_scale
        self.instances: dict[int, dict[str, Any]] = {}
        self.destroyed: list[int] = []
        self.gpu_names: list[str] | None = None
        self.unknown_calls: list[str] = []
        self.refusals: Counter[str] = Counter()
        self._ids = itertools.count(9_100_001)
        self._limited: list[tuple[str, int, bool]] = []
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._blocked: dict[tuple[str, str], float] = {}
        self.server = FakeHttpServer()
        self._routes()

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    async def __aenter__(self) -> FakeVastAi:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def rate_limit(self, count: int, prefix: str = "/api/", json_body: bool = False) -> None:
        self._limited.append((prefix, count, json_body))

    def set_status(self, iid: int | str, actual: str | None, intended: str = "running") -> None:
        self.instances[int(iid)]["pinned"] = (actual, intended)

    def add_instances(self, count: int, image: str = "ubuntu:22.04") -> list[int]:
        """`count` instances rented on fresh copies of offer 101, set up directly (no HTTP)."""
        first = max(self.offers) + 1
        for oid in range(first, first + count):
            self.offers[oid] = {**self.offers[101], "id": oid, "rented": False}
            self._rent(str(oid), {"client_id": "me", "image": image, "disk": 16})
        return sorted(self.instances)[-count:]

    # ---- plumbing --------------------------------------------------------------------

    def _gate(self, request: Request) -> Response | None:
        endpoint = VAST.endpoint(request.method, request.path)
        if endpoint is None:
            self.unknown_calls.append(f"{request.method} {request.path}")
            return json_response({"detail": "Not Found"}, 404)
        for i, (prefix, left, as_json) in enumerate(self._limited):
            if left > 0 and request.path.startswith(prefix):
                self._limited[i] = (prefix, left - 1, as_json)
                if as_json:
                    return json_response(
                        {"success": False, "error": "rate_limited", "msg": "slow down"}, 429
                    )
                return text_response("Too Many Requests", 429)
        if "api_key" in request.query:
            return json_response(
                {"success": False, "error": "invalid_args", "msg": "key in URL refused"}, 400
            )
        refused = self._pace(request)
        if refused is not None:
            return refused
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return json_response(
                {"success": False, "error": "auth_error", "msg": "Invalid user key"}, 401
            )
        problems = endpoint.problems(request)
        if problems:
            text = "; ".join(f"{'.'.join(loc[1:]) or loc[0]}: {msg}" for loc, msg, _ in problems)
            return json_response({"success": False, "error": "invalid_args", "msg": text}, 400)
        return None

    def _pace(self, request: Request) -> Response | None:
        """vast's per-endpoint, per-identity limits (scaled), answered as vast answers."""
        name = endpoint_name(request.method, request.path)
        limit = RATE_LIMITS.get(name or "")
        if self.time_scale is None or limit is None or name is None:
            return None
        scale = self.time_scale
        key = (request.headers.get("authorization", ""), name)
        now = time.monotonic()
        max_calls, period_s = limit.window
        calls = self._calls.setdefault(key, deque(maxlen=max(max_calls, 1)))
        too_soon = now < self._blocked.get(key, 0.0)
        if calls and now - calls[-1] < limit.min_interval_s * scale:
            too_soon = True
        if max_calls and len(calls) == max_calls:
            too_soon = too_soon or now - calls[0] < period_s * scale
        if too_soon:
            self.refusals[name] += 1
            if limit.penalty_s:
                self._blocked[key] = now + limit.penalty_s * scale
            return _too_frequent(limit)
        calls.append(now)
        return None

    def _routes(self) -> None:
        s = self.server

        @s.route("POST", "/api/v0/bundles/")
        async def search(request: Request) -> Response:
            return self._gate(request) or self._search(request.json())

        @s.route("PUT", r"/api/v0/asks/(?P<id>[^/]+)/")
        async def rent(request: Request) -> Response:
            return self._gate(request) or self._rent(request.params["id"], request.json())

        @s.route("GET", "/api/v0/instances/")
        async def old_list(request: Request) -> Response:
            self.unknown_calls.append(f"{request.method} {request.path}")  # not in VAST
            return json_response(
                {"success": False, "error": "gone", "msg": "use /api/v1/instances/"}, 410
            )

        @s.route("GET", "/api/v1/instances/")
        async def list_v1(request: Request) -> Response:
            return self._gate(request) or self._list(request)

        @s.route("GET", r"/api/v0/instances/(?P<id>[^/]+)/")
        async def show(request: Request) -> Response:
            return self._gate(request) or self._show(request)

        @s.route("DELETE", r"/api/v0/instances/(?P<id>[^/]+)/")
        async def destroy(request: Request) -> Response:
            return self._gate(request) or self._destroy(request.params["id"])

        @s.route("GET", "/api/v0/gpu_names/unique/")
        async def gpu_names(request: Request) -> Response:
            names = self.gpu_names
            if names is None:
                names = sorted({str(o["gpu_name"]) for o in self.offers.values()})
            return self._gate(request) or json_response({"gpu_names": names})

    # ---- endpoints ---------------------------------------------------------------

    def _search(self, query: Any) -> Response:
        if not isinstance(query, dict):
            return json_response({"success": False, "error": "invalid_args"}, 400)
        if query.get("type", "on-demand") not in ("on-demand", "ondemand", "bid", "reserved"):
            return json_response(
                {"success": False, "error": "invalid_args", "msg": "bad type"}, 400
            )
        storage = query.get("allocated_storage", SEARCH_DEFAULT_STORAGE_GB)
        rows = [_priced(offer, storage) for offer in self.offers.values()]
        for fieldname, condition in query.items():
            if fieldname in _QUERY_META:
                continue
            if not isinstance(condition, dict):
                return json_response(
                    {"success": False, "error": "invalid_args", "msg": f"bad {fieldname}"}, 400
                )
            for op, value in condition.items():
                if op not in _OPS:
                    return json_response(
                        {"success": False, "error": "invalid_args", "msg": f"bad op {op}"}, 400
                    )
                rows = [r for r in rows if _OPS[op](_value(r, fieldname), value)]
        for fieldname, direction in reversed(query.get("order", [["score", "desc"]])):
            rows.sort(key=lambda r: r.get(fieldname) or 0, reverse=direction == "desc")
        limit = int(query.get("limit", 64))
        return json_response({"offers": rows[:limit]})

    def _rent(self, offer_id: str, body: Any) -> Response:
        if not offer_id.isdigit() or int(offer_id) not in self.offers:
            return json_response(
                {"success": False, "error": "no_such_ask", "msg": f"ask {offer_id} not found"},
                404,
            )
        offer = self.offers[int(offer_id)]
        if not isinstance(body, dict) or body.get("client_id") != "me" or not body.get("image"):
            return json_response(
                {"success": False, "error": "invalid_args", "msg": "image is required"}, 400
            )
        if offer["rented"]:
            return json_response(
                {"success": False, "error": "no_such_ask", "msg": "ask is no longer available"},
                400,
            )
        offer["rented"] = True
        body.setdefault("disk", SEARCH_DEFAULT_STORAGE_GB)  # ASSUMED: the search default
        iid = next(self._ids)
        self.instances[iid] = {
            "offer": offer,
            "body": body,
            "created": time.monotonic(),
            "start_date": time.time(),
        }
        return json_response({"success": True, "new_contract": iid})

    def _row(self, iid: int) -> dict[str, Any]:
        record = self.instances[iid]
        offer, body = record["offer"], record["body"]
        age = time.monotonic() - record["created"]
        status: str | None
        message = ""
        intended = "running"
        if "pinned" in record:
            status, intended = record["pinned"]
        elif age < self.boot_s / 3:
            status = None
        elif age < self.boot_s:
            status, message = "loading", "Pulling image"
        else:
            mode = offer.get("fail_mode")
            status = {"exited": "exited", "created_error": "created", "offline": "offline"}.get(
                mode or "", "running"
            )
            if mode == "created_error":
                message = "Error response from daemon: pull access denied for image"
            elif mode == "exited":
                message = "container exited with code 1"
        ports: dict[str, Any] = {}
        if status == "running":
            wanted = [key for key in body.get("env", {}) if key.startswith("-p ")]
            # The host maps only as many ports as its router has open (direct_port_count).
            for key in wanted[: int(offer.get("direct_port_count") or 0)]:
                port = key.split()[1].split(":")[0]
                ports[f"{port}/tcp"] = [
                    {"HostIp": "0.0.0.0", "HostPort": str(40000 + int(port) % 1000)}
                ]
        env = {k: v for k, v in body.get("env", {}).items() if not k.startswith("-p ")}
        return {
            "id": iid,
            "machine_id": offer["machine_id"],
            "host_id": offer["host_id"],
            "actual_status": status,
            "intended_status": intended,
            "cur_state": "running",
            "next_state": "running",
            "status_msg": message,
            "gpu_name": offer["gpu_name"],
            "num_gpus": offer["num_gpus"],
            "gpu_ram": offer["gpu_ram"],
            "dph_total": _priced(offer, body["disk"])["dph_total"],
            "storage_cost": offer.get("storage_cost"),
            "geolocation": offer["geolocation"],
            "reliability2": offer["reliability2"],
            "inet_up": offer["inet_up"],
            "inet_down": offer["inet_down"],
            "cuda_max_good": offer["cuda_max_good"],
            "label": body.get("label"),
            "image_uuid": body.get("image"),
            "onstart": body.get("onstart"),
            "start_date": record["start_date"],
            "extra_env": [[k, v] for k, v in env.items()],
            "ports": ports,
            "public_ipaddr": "203.0.113.7" if status == "running" else None,
            "disk_space": body.get("disk"),
        }

    def _list(self, request: Request) -> Response:
        limit = min(25, int(request.arg("limit") or 25))
        after = request.arg("after_token")
        ids = sorted(self.instances)
        if after:
            last = int(base64.urlsafe_b64decode(after.encode()).decode())
            ids = [i for i in ids if i > last]
        page = ids[:limit]
        token = None
        if len(ids) > limit:
            token = base64.urlsafe_b64encode(str(page[-1]).encode()).decode()
        return json_response(
            {
                "instances": [self._row(i) for i in page],
                "next_token": token,
                "total_instances": len(self.instances),
            }
        )

    def _show(self, request: Request) -> Response:
        iid = request.params["id"]
        if not iid.isdigit():
            return json_response({"success": False, "error": "invalid_args"}, 400)
        if request.arg("owner") != "me":
            return json_response({"instances": None})
        if int(iid) not in self.instances:
            return json_response({"instances": None})
        return json_response({"instances": self._row(int(iid))})

    def _destroy(self, iid: str) -> Response:
        if not iid.isdigit():
            return json_response({"error": "invalid_args", "msg": "invalid instance_id"}, 400)
        record = self.instances.pop(int(iid), None)
        if record is None:
            return json_response(
                {
                    "success": False,
                    "error": "no_such_instance",
                    "msg": f"Instance {iid} not found.",
                },
                404,
            )
        record["offer"]["rented"] = False
        self.destroyed.append(int(iid))
        return json_response({"success": True})


def _priced(offer: dict[str, Any], storage_gb: float) -> dict[str, Any]:
    """`offer` as vast answers it for `storage_gb` allocated: storage is part of dph_total."""
    row = dict(offer)
    dph, cost = row.get("dph_total"), row.get("storage_cost")
    if isinstance(dph, (int, float)) and dph > 0 and isinstance(cost, (int, float)):
        per_gb_hour = cost / STORAGE_HOURS_PER_MONTH
        row["dph_total"] = round(dph + per_gb_hour * (storage_gb - LISTED_STORAGE_GB), 9)
        row["storage_total_cost"] = round(per_gb_hour * storage_gb, 9)
    return row


def _too_frequent(limit: RateLimit) -> Response:
    """vast's 429 for `limit`'s endpoint: no Retry-After header in any of its shapes."""
    if limit.answer == "detail":
        return json_response({"detail": limit.message()}, 429)
    if limit.answer == "error":
        body = {"success": False, "error": "rate_limit_exceeded", "msg": limit.message()}
        return json_response(body, 429)
    return text_response(limit.message(), 429)


def _value(row: dict[str, Any], fieldname: str) -> Any:
    if fieldname == "geolocation":  # vast matches country codes against the location
        geo = str(row.get("geolocation", ""))
        return geo.rsplit(", ", 1)[-1]
    if fieldname == "reliability":
        return row.get("reliability2")
    return row.get(fieldname)
