"""The rentals table: which user rented which provider instance, at what price, in what state.

The provider is the truth about an instance's state; this table is the truth about who
owns it (tenant isolation) and what it cost. Rows are never deleted: a destroyed instance
keeps its row (status "destroyed") as billing history.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from gpuproxy.clock import now_ms
from gpuproxy.providers.params import RentConfig
from gpuproxy.providers.records import Instance, Offer
from gpuproxy.storage.database import Database, Row

__all__ = [
    "LIVE_STATES",
    "TERMINAL_STATES",
    "InstanceRecord",
    "InstanceStore",
    "ReservationRecord",
    "config_summary",
    "now_ms",
]

#: States after which nothing changes any more (no billing, no polling).
TERMINAL_STATES: frozenset[str] = frozenset({"destroyed", "failed"})
#: States the availability poller refreshes from the provider.
LIVE_STATES: tuple[str, ...] = ("starting", "running", "stopped", "unknown", "destroying")

_COLUMNS = (
    "id, owner_id, provider, provider_instance_id, offer_id, gpu_model, num_gpus, vram_gb, "
    "price_per_hour, location, status, status_message, endpoint, config, reservation_id, "
    "billing_ref, node, created_at, updated_at, running_at, destroyed_at"
)


class InstanceRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One row of `gpu_instances`. Money in micro-dollars, times in unix milliseconds."""

    id: str
    owner_id: str
    provider: str
    provider_instance_id: str | None
    offer_id: str
    gpu_model: str
    num_gpus: int
    vram_gb: int
    price_per_hour: int
    location: str
    status: str
    status_message: str
    endpoint: str | None
    config: dict[str, Any]
    reservation_id: str | None
    billing_ref: str | None
    node: str | None
    created_at: int
    updated_at: int
    running_at: int | None
    destroyed_at: int | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    @classmethod
    def from_row(cls, row: Row) -> InstanceRecord:
        data = dict(row)
        data["config"] = msgspec.json.decode(data["config"] or "{}")
        return msgspec.convert(data, cls)


class ReservationRecord(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    owner_id: str
    requested: int
    reserved: int
    all_or_nothing: bool
    status: str
    filters: dict[str, Any]
    created_at: int
    updated_at: int


def config_summary(config: RentConfig) -> dict[str, Any]:
    """What of a rent configuration is stored: never env values (they may hold secrets)."""
    summary: dict[str, Any] = {
        "image": config.image,
        "env_names": sorted(config.env),
        "ports": list(config.ports),
        "disk_gb": config.disk_gb,
    }
    if config.label:
        summary["label"] = config.label
    if config.models:
        summary["models"] = list(config.models)
    return summary


class InstanceStore:
    """Data access for `gpu_instances` and `gpu_reservations` (both SQL dialects)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def begin_rent(
        self,
        *,
        owner_id: str,
        offer: Offer,
        config: RentConfig,
        reservation_id: str | None = None,
        billing_ref: str | None = None,
        node: str | None = None,
    ) -> InstanceRecord:
        """Insert the row before the provider is called, so a crash mid-rent leaves a trace."""
        now = now_ms()
        record = InstanceRecord(
            id=uuid.uuid4().hex,
            owner_id=owner_id,
            provider=offer.provider,
            provider_instance_id=None,
            offer_id=offer.id,
            gpu_model=offer.gpu_model,
            num_gpus=offer.num_gpus,
            vram_gb=offer.vram_gb,
            price_per_hour=offer.price_per_hour,
            location=offer.location,
            status="renting",
            status_message="",
            endpoint=None,
            config=config_summary(config),
            reservation_id=reservation_id,
            billing_ref=billing_ref,
            node=node,
            created_at=now,
            updated_at=now,
            running_at=None,
            destroyed_at=None,
        )
        await self.db.execute(
            f"INSERT INTO gpu_instances ({_COLUMNS}) VALUES "  # noqa: S608 - fixed column list
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
            "$19, $20, $21)",
            *_values(record),
        )
        return record

    async def set_billing_ref(
        self, record: InstanceRecord, billing_ref: str | None
    ) -> InstanceRecord:
        return await self._update(record, billing_ref=billing_ref)

    async def rented(self, record: InstanceRecord, instance: Instance) -> InstanceRecord:
        """The provider accepted: store its id and what it reports."""
        return await self._update(
            record,
            provider_instance_id=instance.id,
            gpu_model=instance.gpu_model or record.gpu_model,
            num_gpus=instance.num_gpus or record.num_gpus,
            vram_gb=instance.vram_gb or record.vram_gb,
            price_per_hour=instance.price_per_hour or record.price_per_hour,
            location=instance.location or record.location,
            status=instance.status,
            status_message=instance.status_message,
            endpoint=instance.endpoint,
        )

    async def observe(self, record: InstanceRecord, instance: Instance) -> InstanceRecord:
        """Store a fresh state from the provider (the poller and GET call this)."""
        if record.status == "destroying" and instance.status not in TERMINAL_STATES:
            return record  # a destroy is in flight; do not flip it back to running
        return await self._update(
            record,
            status=instance.status,
            status_message=instance.status_message,
            endpoint=instance.endpoint or record.endpoint,
        )

    async def set_status(
        self, record: InstanceRecord, status: str, message: str = ""
    ) -> InstanceRecord:
        return await self._update(record, status=status, status_message=message)

    async def _update(self, record: InstanceRecord, **changes: Any) -> InstanceRecord:
        now = now_ms()
        status = changes.get("status", record.status)
        if status == "running" and record.running_at is None:
            changes["running_at"] = now
        if status in TERMINAL_STATES and record.destroyed_at is None:
            changes["destroyed_at"] = now
        changes["updated_at"] = now
        updated = msgspec.structs.replace(record, **changes)
        names = sorted(changes)
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=1))
        await self.db.execute(
            f"UPDATE gpu_instances SET {assignments} WHERE id = ${len(names) + 1}",  # noqa: S608
            *(getattr(updated, name) for name in names),
            record.id,
        )
        return updated

    async def get(self, record_id: str) -> InstanceRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM gpu_instances WHERE id = $1",  # noqa: S608
            record_id,
        )
        return InstanceRecord.from_row(row) if row else None

    async def find(self, provider: str, provider_instance_id: str) -> InstanceRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM gpu_instances "  # noqa: S608
            "WHERE provider = $1 AND provider_instance_id = $2",
            provider,
            provider_instance_id,
        )
        return InstanceRecord.from_row(row) if row else None

    async def list_for_owner(
        self, owner_id: str, *, include_ended: bool = False, limit: int = 500
    ) -> list[InstanceRecord]:
        where = "owner_id = $1"
        if not include_ended:
            where += " AND status NOT IN ('destroyed', 'failed')"
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM gpu_instances WHERE {where} "  # noqa: S608
            "ORDER BY created_at DESC, id LIMIT $2",
            owner_id,
            limit,
        )
        return [InstanceRecord.from_row(row) for row in rows]

    async def list_live(self, limit: int = 10_000) -> list[InstanceRecord]:
        placeholders = ", ".join(f"${i}" for i in range(1, len(LIVE_STATES) + 1))
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM gpu_instances "  # noqa: S608
            f"WHERE status IN ({placeholders}) AND provider_instance_id IS NOT NULL "
            f"ORDER BY created_at LIMIT ${len(LIVE_STATES) + 1}",
            *LIVE_STATES,
            limit,
        )
        return [InstanceRecord.from_row(row) for row in rows]

    async def list_stale_renting(self, older_than_ms: int) -> list[InstanceRecord]:
        """Rents that never got an answer recorded (the process stopped mid-call)."""
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM gpu_instances "  # noqa: S608
            "WHERE status = 'renting' AND created_at < $1 ORDER BY created_at",
            older_than_ms,
        )
        return [InstanceRecord.from_row(row) for row in rows]

    async def list_for_reservation(self, reservation_id: str) -> list[InstanceRecord]:
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM gpu_instances WHERE reservation_id = $1 "  # noqa: S608
            "ORDER BY created_at, id",
            reservation_id,
        )
        return [InstanceRecord.from_row(row) for row in rows]

    # ---- reservations ---------------------------------------------------------------

    async def create_reservation(
        self, *, owner_id: str, requested: int, all_or_nothing: bool, filters: dict[str, Any]
    ) -> ReservationRecord:
        now = now_ms()
        record = ReservationRecord(
            id=uuid.uuid4().hex,
            owner_id=owner_id,
            requested=requested,
            reserved=0,
            all_or_nothing=all_or_nothing,
            status="pending",
            filters=filters,
            created_at=now,
            updated_at=now,
        )
        await self.db.execute(
            "INSERT INTO gpu_reservations (id, owner_id, requested, reserved, all_or_nothing, "
            "status, filters, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            record.id,
            owner_id,
            requested,
            0,
            int(all_or_nothing),
            record.status,
            msgspec.json.encode(filters).decode(),
            now,
            now,
        )
        return record

    async def finish_reservation(
        self, record: ReservationRecord, *, reserved: int, status: str
    ) -> ReservationRecord:
        now = now_ms()
        await self.db.execute(
            "UPDATE gpu_reservations SET reserved = $1, status = $2, updated_at = $3 WHERE id = $4",
            reserved,
            status,
            now,
            record.id,
        )
        return msgspec.structs.replace(record, reserved=reserved, status=status, updated_at=now)


def _values(record: InstanceRecord) -> list[Any]:
    values: list[Any] = []
    for name in _COLUMNS.split(", "):
        value = getattr(record, name)
        values.append(msgspec.json.encode(value).decode() if name == "config" else value)
    return values
