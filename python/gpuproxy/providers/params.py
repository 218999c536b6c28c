"""Validated inputs of the provider interface: offer filters and the rent configuration.

Both validate on construction and raise `InvalidRequest` naming the bad field, so the HTTP
layer can answer 400 with the field name. Money is integer micro-dollars.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from gpuproxy.money import dollars_to_micros
from gpuproxy.providers.errors import InvalidRequest
from gpuproxy.providers.records import Offer

__all__ = ["OfferFilters", "OfferOrder", "RentConfig", "Runtype", "parse_rent_config"]

OfferOrder = Literal["price", "reliability", "vram"]
#: vast.ai launch modes (`runtype`); other providers ignore it.
Runtype = Literal[
    "args", "ssh", "ssh_direct", "ssh_proxy", "jupyter", "jupyter_direct", "jupyter_proxy"
]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,511}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,255}$")
_MAX_LIMIT = 1000


class OfferFilters(msgspec.Struct, kw_only=True, frozen=True):
    """What offers to list. Every field is optional; `None` means "any".

    `max_price_per_hour` is micro-dollars per hour for the whole offer (all its GPUs);
    `gpu_model` matches case-insensitively as a substring ("4090" matches "RTX 4090");
    `location` matches as a case-insensitive substring of the provider's location text.
    """

    min_vram_gb: int | None = None
    max_price_per_hour: int | None = None
    gpu_model: str | None = None
    location: str | None = None
    min_gpus: int | None = None
    max_gpus: int | None = None
    min_reliability: float | None = None
    limit: int = 100
    order: OfferOrder = "price"

    def __post_init__(self) -> None:
        if self.min_vram_gb is not None and not 0 <= self.min_vram_gb <= 4096:
            raise InvalidRequest("min_vram", "must be between 0 and 4096 (GB)")
        if self.max_price_per_hour is not None and self.max_price_per_hour < 0:
            raise InvalidRequest("max_price", "must not be negative")
        if self.gpu_model is not None and not 0 < len(self.gpu_model) <= 64:
            raise InvalidRequest("gpu_model", "must be 1 to 64 characters")
        if self.location is not None and not 0 < len(self.location) <= 64:
            raise InvalidRequest("location", "must be 1 to 64 characters")
        for name, value in (("min_gpus", self.min_gpus), ("max_gpus", self.max_gpus)):
            if value is not None and not 1 <= value <= 64:
                raise InvalidRequest(name, "must be between 1 and 64")
        if self.min_gpus and self.max_gpus and self.min_gpus > self.max_gpus:
            raise InvalidRequest("min_gpus", "must not exceed max_gpus")
        if self.min_reliability is not None and not 0.0 <= self.min_reliability <= 1.0:
            raise InvalidRequest("min_reliability", "must be between 0 and 1")
        if not 1 <= self.limit <= _MAX_LIMIT:
            raise InvalidRequest("limit", f"must be between 1 and {_MAX_LIMIT}")

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> OfferFilters:
        """Parse the seed's query parameters (min_vram, max_price in dollars, gpu_model, ...).

        Unknown parameters are ignored (the router consumes `provider` itself).
        """
        kwargs: dict[str, Any] = {}
        ints = {"min_vram": "min_vram_gb", "min_gpus": "min_gpus", "max_gpus": "max_gpus"}
        for key, field in ints.items():
            if query.get(key, "") != "":
                kwargs[field] = _parse_number(key, query[key], int)
        if query.get("limit", "") != "":
            kwargs["limit"] = _parse_number("limit", query["limit"], int)
        if query.get("max_price", "") != "":
            try:
                kwargs["max_price_per_hour"] = dollars_to_micros(query["max_price"])
            except ValueError:
                raise InvalidRequest("max_price", "must be a dollar amount such as 1.50") from None
        if query.get("min_reliability", "") != "":
            kwargs["min_reliability"] = _parse_number(
                "min_reliability", query["min_reliability"], float
            )
        for key in ("gpu_model", "location"):
            if query.get(key, "").strip():
                kwargs[key] = query[key].strip()
        if query.get("order", "") != "":
            if query["order"] not in ("price", "reliability", "vram"):
                raise InvalidRequest("order", "must be one of price, reliability, vram")
            kwargs["order"] = query["order"]
        return cls(**kwargs)

    def matches(self, offer: Offer) -> bool:
        """Whether an offer passes every filter (providers apply this after their own)."""
        if self.min_vram_gb is not None and offer.vram_gb < self.min_vram_gb:
            return False
        if self.max_price_per_hour is not None and (
            not offer.rentable or offer.price_per_hour > self.max_price_per_hour
        ):
            return False  # an offer without a valid price is not known to be within budget
        if self.gpu_model and self.gpu_model.lower() not in offer.gpu_model.lower():
            return False
        if self.location and self.location.lower() not in offer.location.lower():
            return False
        if self.min_gpus is not None and offer.num_gpus < self.min_gpus:
            return False
        if self.max_gpus is not None and offer.num_gpus > self.max_gpus:
            return False
        return not (
            self.min_reliability is not None
            and (offer.reliability is None or offer.reliability < self.min_reliability)
        )

    def sort_and_limit(self, offers: list[Offer]) -> list[Offer]:
        """Order offers by `order` (price ascending, the others descending) and cut at `limit`.

        Offers that cannot be rented (no valid price) come after every rentable one, whatever
        the order: their price of 0 must never make them look cheapest.
        """
        if self.order == "price":
            ordered = sorted(offers, key=lambda o: (not o.rentable, o.price_per_hour, o.id))
        elif self.order == "reliability":
            ordered = sorted(
                offers, key=lambda o: (not o.rentable, -(o.reliability or 0.0), o.price_per_hour)
            )
        else:
            ordered = sorted(offers, key=lambda o: (not o.rentable, -o.vram_gb, o.price_per_hour))
        return ordered[: self.limit]


def _parse_number(field: str, raw: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(raw)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise InvalidRequest(field, f"must be {noun}, got {raw[:32]!r}") from None


class RentConfig(msgspec.Struct, kw_only=True, frozen=True):
    """How to start a rented instance.

    - `image`: container image (vast.ai, io.net containers); the local fleet ignores it.
    - `env`, `ports` (container ports to expose), `disk_gb`, `onstart` (shell run at boot),
      `label`, `runtype` and `args` (vast.ai launch mode and container arguments).
    - `duration_hours`: prepaid hours where the provider requires them (io.net).
    - `bid_price_per_hour`: micro-dollars; set it to rent an interruptible vast.ai offer.
    - `models`: model names the instance's worker should serve (the local fleet passes them
      to the worker; remote instances get them as GPUPROXY_MODELS).
    - `worker_token` / `proxy_url`: one-time registration token and the proxy's URL for the
      worker agent on the instance (sent as GPUPROXY_WORKER_TOKEN / GPUPROXY_PROXY_URL).
    - `start_timeout_s`: when > 0, `create` waits until the instance runs and destroys it
      if it fails to start or does not start in time.
    """

    image: str | None = None
    env: dict[str, str] = msgspec.field(default_factory=dict)
    ports: list[int] = msgspec.field(default_factory=list)
    disk_gb: int = 16
    onstart: str | None = None
    label: str | None = None
    runtype: Runtype | None = None
    args: list[str] | None = None
    duration_hours: int = 1
    bid_price_per_hour: int | None = None
    models: list[str] = msgspec.field(default_factory=list)
    worker_token: str | None = None
    proxy_url: str | None = None
    start_timeout_s: float = 0.0

    def __post_init__(self) -> None:
        if self.image is not None and not _IMAGE.match(self.image):
            raise InvalidRequest("image", "must be an image reference such as repo/name:tag")
        if len(self.env) > 64:
            raise InvalidRequest("env", "at most 64 variables")
        for key, value in self.env.items():
            if not _ENV_NAME.match(key):
                raise InvalidRequest("env", f"invalid variable name {key[:64]!r}")
            if len(value) > 8192:
                raise InvalidRequest("env", f"value of {key} is longer than 8192 characters")
        if len(self.ports) > 32 or len(set(self.ports)) != len(self.ports):
            raise InvalidRequest("ports", "at most 32 distinct ports")
        if any(not 1 <= port <= 65535 for port in self.ports):
            raise InvalidRequest("ports", "each port must be between 1 and 65535")
        if not 1 <= self.disk_gb <= 16384:
            raise InvalidRequest("disk", "must be between 1 and 16384 (GB)")
        if self.onstart is not None and len(self.onstart) > 16384:
            raise InvalidRequest("onstart", "longer than 16384 characters")
        if self.label is not None and len(self.label) > 128:
            raise InvalidRequest("label", "longer than 128 characters")
        if self.args is not None and (len(self.args) > 64 or any(len(a) > 4096 for a in self.args)):
            raise InvalidRequest("args", "at most 64 arguments of 4096 characters")
        if not 1 <= self.duration_hours <= 8760:
            raise InvalidRequest("duration_hours", "must be between 1 and 8760")
        if self.bid_price_per_hour is not None and self.bid_price_per_hour <= 0:
            raise InvalidRequest("bid_price", "must be positive")
        if len(self.models) > 16 or any(not _MODEL.match(m) for m in self.models):
            raise InvalidRequest("models", "at most 16 model names of [A-Za-z0-9._/:@+-]")
        if self.worker_token is not None and not 16 <= len(self.worker_token) <= 256:
            raise InvalidRequest("worker_token", "must be 16 to 256 characters")
        if self.proxy_url is not None and not self.proxy_url.startswith(
            ("http://", "https://", "ws://", "wss://")
        ):
            raise InvalidRequest("proxy_url", "must be an http(s) or ws(s) URL")
        if not 0 <= self.start_timeout_s <= 3600:
            raise InvalidRequest("start_timeout_s", "must be between 0 and 3600 seconds")

    def worker_env(self) -> dict[str, str]:
        """The environment a remote instance gets: `env` plus the worker agent's settings."""
        env = dict(self.env)
        if self.worker_token:
            env["GPUPROXY_WORKER_TOKEN"] = self.worker_token
        if self.proxy_url:
            env["GPUPROXY_PROXY_URL"] = self.proxy_url
        if self.models:
            env["GPUPROXY_MODELS"] = ",".join(self.models)
        return env


_FIELD_ALIASES = {"disk": "disk_gb", "bid_price": "bid_price_per_hour"}


def parse_rent_config(body: Mapping[str, Any]) -> RentConfig:
    """Build a RentConfig from a JSON body (the API's names: disk, bid_price in dollars).

    Raises InvalidRequest naming the first bad field.
    """
    data = dict(body)
    for public, internal in _FIELD_ALIASES.items():
        if public in data:
            data[internal] = data.pop(public)
    if data.get("bid_price_per_hour") is not None:
        try:
            data["bid_price_per_hour"] = dollars_to_micros(data["bid_price_per_hour"])
        except ValueError:
            raise InvalidRequest("bid_price", "must be a dollar amount") from None
    for key in ("worker_token", "proxy_url"):
        data.pop(key, None)  # set by the gateway, never by the caller
    try:
        return msgspec.convert(data, RentConfig)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = _field_of(message)
        raise InvalidRequest(field, message) from None


def _field_of(message: str) -> str:
    # msgspec reports "... - at `$.ports[0]`"; a __post_init__ error starts with "field: ".
    match = re.search(r"`\$\.([A-Za-z_]+)", message)
    if match:
        name = match.group(1)
        return {v: k for k, v in _FIELD_ALIASES.items()}.get(name, name)
    head = message.split(":", 1)[0].strip()
    return head if head.isidentifier() else "body"
