"""The fake io.net's container (CaaS) inventory, derived from its VM hardware list.

io.net names container hardware and locations by their own integer ids (see
`ionet_contract`): a GPU type has one `hardware_id` (never a VMaaS `deploy_id`) and a
location one integer `id` next to its `iso2` code. The fake gives each GPU name of the VM
list an id from 200 up and each country a fixed id, so a product that sends VMaaS ids or
country codes to CaaS is refused as the real API would refuse it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LOCATION_IDS", "CaasInventory", "brand_and_name"]

LOCATION_IDS = {"US": 1, "CA": 2, "DE": 3, "AU": 4}
_FIRST_HARDWARE_ID = 200


def brand_and_name(gpu: str) -> tuple[str, str]:
    """io.net's (brand_name, hardware_name) for a VM hardware name ("GeForce RTX 4090")."""
    if gpu.startswith("GeForce "):
        return "GeForce", gpu.removeprefix("GeForce ")
    return "NVIDIA", gpu


class CaasInventory:
    def __init__(self, hardware: list[dict[str, Any]]) -> None:
        self.hardware = hardware  # the VM rows, shared with the fake (tests edit them)

    def _names(self) -> list[str]:
        return sorted({row["name"] for row in self.hardware})

    def hardware_id(self, gpu: str) -> int:
        return _FIRST_HARDWARE_ID + self._names().index(gpu)

    def gpu_of(self, hardware_id: Any) -> str | None:
        names = self._names()
        index = int(hardware_id) - _FIRST_HARDWARE_ID
        return names[index] if 0 <= index < len(names) else None

    def max_gpus(self) -> dict[str, Any]:
        """The answer of `GET caas/hardware/max-gpus-per-container`."""
        rows = []
        for gpu in self._names():
            offers = [r for r in self.hardware if r["name"] == gpu and not r["sold_out"]]
            brand, name = brand_and_name(gpu)
            rows.append(
                {
                    "hardware_id": self.hardware_id(gpu),
                    "hardware_name": name,
                    "brand_name": brand,
                    "max_gpus_per_container": max((r["num_cards"] for r in offers), default=0),
                    "available": sum(r["num_cards"] for r in offers),
                }
            )
        return {"data": {"hardware": rows, "total": sum(r["available"] for r in rows)}}

    def replicas(self, hardware_id: int, qty: int) -> list[dict[str, Any]]:
        """The `data` of `GET caas/available-replicas`: locations with room for `qty` GPUs."""
        gpu = self.gpu_of(hardware_id)
        counts: dict[str, int] = {}
        for row in self.hardware:
            if row["name"] == gpu and row["num_cards"] == qty and not row["sold_out"]:
                counts[row["location"]] = counts.get(row["location"], 0) + 1
        return [
            {"id": LOCATION_IDS.get(iso2, 9), "iso2": iso2, "name": iso2, "available_replicas": n}
            for iso2, n in sorted(counts.items())
        ]

    def row(self, hardware_id: Any, qty: int, location_id: Any) -> dict[str, Any] | None:
        """The VM row a container deploy takes its GPUs from (None: not available)."""
        gpu = self.gpu_of(hardware_id)
        iso2 = next((k for k, v in LOCATION_IDS.items() if v == int(location_id)), None)
        for row in self.hardware:
            if row["name"] == gpu and row["num_cards"] == qty and row["location"] == iso2:
                return row
        return None
