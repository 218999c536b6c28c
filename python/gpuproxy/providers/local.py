"""The local fleet (provider `local`): the embedded default that needs no account.

It offers a catalogue of realistic GPU types at realistic prices (one offer per free
slot) plus the machine's real NVIDIA GPUs when NVML is available. Renting an offer starts
a real worker agent (`python -m gpuproxy.worker --backend simulate`, or on a real GPU
with CUDA_VISIBLE_DEVICES set) on a free loopback port; destroying it stops the process
group. Nothing here bills anyone; prices exist so the balancer, guard rails and credits
behave as they would with a marketplace.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import msgspec

from gpuproxy.providers._workerproc import WorkerProcess
from gpuproxy.providers.base import CallTimeouts, Provider
from gpuproxy.providers.errors import (
    InstanceStartFailed,
    ProviderBadRequest,
    ProviderNotFound,
)
from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.records import Instance, Offer

__all__ = ["DEFAULT_CATALOGUE", "LocalFleetProvider", "LocalGpuType"]


class LocalGpuType(msgspec.Struct, frozen=True, kw_only=True):
    """One GPU type of the catalogue: `slots` single-GPU offers at `price_per_hour`."""

    slug: str
    model: str
    vram_gb: int
    price_per_hour: int  # micro-dollars
    slots: int
    cuda_version: str = "12.4"
    nvml_index: int | None = None  # a real GPU, when set


#: On-demand list prices of mid-2025 marketplaces, rounded.
DEFAULT_CATALOGUE: tuple[LocalGpuType, ...] = (
    LocalGpuType(
        slug="h100-80gb", model="H100 80GB", vram_gb=80, price_per_hour=2_490_000, slots=2
    ),
    LocalGpuType(
        slug="a100-80gb", model="A100 80GB", vram_gb=80, price_per_hour=1_290_000, slots=4
    ),
    LocalGpuType(
        slug="rtx-a6000-48gb", model="RTX A6000 48GB", vram_gb=48, price_per_hour=490_000, slots=2
    ),
    LocalGpuType(slug="l40s-48gb", model="L40S 48GB", vram_gb=48, price_per_hour=790_000, slots=2),
    LocalGpuType(
        slug="rtx-4090-24gb", model="RTX 4090 24GB", vram_gb=24, price_per_hour=340_000, slots=4
    ),
)


class _Rental(msgspec.Struct, kw_only=True):
    instance_id: str
    offer_id: str
    gpu: LocalGpuType
    worker: WorkerProcess
    models: list[str]
    label: str | None
    created_at: float
    status: str = "running"


class LocalFleetProvider(Provider):
    name = "local"

    def __init__(
        self,
        *,
        catalogue: tuple[LocalGpuType, ...] | list[LocalGpuType] = DEFAULT_CATALOGUE,
        include_nvidia: bool = True,
        nvidia_price_per_hour: int = 0,
        token_rate: float = 0.0,
        log_dir: Path | None = None,
        start_timeout_s: float = 20.0,
        timeouts: CallTimeouts | None = None,
    ) -> None:
        super().__init__(
            timeouts=timeouts or CallTimeouts(create=start_timeout_s + 10), poll_interval_s=0.2
        )
        gpus = list(catalogue)
        if include_nvidia:
            from gpuproxy.worker.gpu import detect_nvidia_gpus

            for gpu in detect_nvidia_gpus():
                gpus.append(
                    LocalGpuType(
                        slug=f"nvidia-{gpu.index}",
                        model=gpu.name,
                        vram_gb=round(gpu.memory_total_mb / 1024),
                        price_per_hour=nvidia_price_per_hour,
                        slots=1,
                        nvml_index=gpu.index,
                    )
                )
        self.catalogue = gpus
        self.token_rate = token_rate
        self.log_dir = log_dir
        self.start_timeout_s = start_timeout_s
        self._rentals: dict[str, _Rental] = {}
        self._lock = asyncio.Lock()

    # ---- offers ------------------------------------------------------------------

    def _slot_ids(self, gpu: LocalGpuType) -> list[str]:
        return [f"{gpu.slug}-{n}" for n in range(1, gpu.slots + 1)]

    def _find_slot(self, offer_id: str) -> LocalGpuType | None:
        for gpu in self.catalogue:
            if offer_id in self._slot_ids(gpu):
                return gpu
        return None

    def _taken(self) -> set[str]:
        return {r.offer_id for r in self._rentals.values()}

    async def _list_offers(self, filters: OfferFilters) -> list[Offer]:
        taken = self._taken()
        offers = []
        for gpu in self.catalogue:
            for slot in self._slot_ids(gpu):
                if slot in taken:
                    continue
                offers.append(
                    Offer(
                        id=slot,
                        provider=self.name,
                        gpu_model=gpu.model,
                        num_gpus=1,
                        vram_gb=gpu.vram_gb,
                        price_per_hour=gpu.price_per_hour,
                        price_per_gpu_hour=gpu.price_per_hour,
                        location="local",
                        reliability=1.0,
                        cuda_version=gpu.cuda_version,
                        verified=True,
                        metadata={"real_gpu": str(gpu.nvml_index is not None).lower()},
                    )
                )
        return offers

    # ---- instances ---------------------------------------------------------------

    async def _create(self, offer_id: str, config: RentConfig) -> Instance:
        async with self._lock:  # two renters must not get the same slot
            gpu = self._find_slot(offer_id)
            if gpu is None:
                raise ProviderNotFound(self.name, f"no offer {offer_id[:64]!r}")
            if offer_id in self._taken():
                raise ProviderBadRequest(self.name, f"offer {offer_id} is already rented")
            instance_id = f"local-{secrets.token_hex(6)}"
            models = list(config.models) or ["gpuproxy-sim-1"]
            args = [
                "--backend",
                "simulate",
                "--token-rate",
                str(self.token_rate),
                "--gpu-name",
                gpu.model,
                "--gpu-memory-mb",
                str(gpu.vram_gb * 1024),
            ]
            for model in models:
                args += ["--model", model]
            env: dict[str, str] = {}
            if gpu.nvml_index is not None:
                args += ["--gpu-index", str(gpu.nvml_index)]
                env["CUDA_VISIBLE_DEVICES"] = str(gpu.nvml_index)
            if config.worker_token and config.proxy_url:
                env["GPUPROXY_WORKER_TOKEN"] = config.worker_token  # env, not argv: ps shows argv
                args += ["--proxy-url", config.proxy_url]
            log_path = self.log_dir / f"{instance_id}.log" if self.log_dir else None
            worker = WorkerProcess.spawn(args, env=env, log_path=log_path)
            self._rentals[instance_id] = _Rental(
                instance_id=instance_id,
                offer_id=offer_id,
                gpu=gpu,
                worker=worker,
                models=models,
                label=config.label,
                created_at=time.time(),
                status="starting",
            )
        if not await worker.wait_healthy(self.start_timeout_s):
            await self._remove(instance_id)
            raise InstanceStartFailed(self.name, instance_id, "the worker did not become healthy")
        self._rentals[instance_id].status = "running"
        return self._instance(self._rentals[instance_id])

    def _instance(self, rental: _Rental) -> Instance:
        alive = rental.worker.alive()
        status = rental.status if alive else "failed"
        return Instance(
            id=rental.instance_id,
            provider=self.name,
            status=status,  # type: ignore[arg-type]
            gpu_model=rental.gpu.model,
            num_gpus=1,
            vram_gb=rental.gpu.vram_gb,
            price_per_hour=rental.gpu.price_per_hour,
            price_per_gpu_hour=rental.gpu.price_per_hour,
            location="local",
            reliability=1.0,
            cuda_version=rental.gpu.cuda_version,
            offer_id=rental.offer_id,
            label=rental.label,
            endpoint=rental.worker.endpoint if alive else None,
            status_message="" if alive else f"worker exited ({rental.worker.process.returncode})",
            created_at=rental.created_at,
            metadata={"pid": str(rental.worker.pid), "models": ",".join(rental.models)},
        )

    async def _get(self, instance_id: str) -> Instance:
        rental = self._rentals.get(instance_id)
        if rental is None:
            raise ProviderNotFound(self.name, f"no instance {instance_id[:64]!r}")
        return self._instance(rental)

    async def _list_instances(self) -> list[Instance]:
        return [self._instance(r) for r in list(self._rentals.values())]

    async def _destroy(self, instance_id: str) -> None:
        if instance_id not in self._rentals:
            raise ProviderNotFound(self.name, f"no instance {instance_id[:64]!r}")
        await self._remove(instance_id)

    async def _remove(self, instance_id: str) -> None:
        rental = self._rentals.get(instance_id)
        if rental is None:
            return
        try:
            await rental.worker.stop()
        finally:
            self._rentals.pop(instance_id, None)  # frees the slot only once it is stopped

    async def aclose(self) -> None:
        """Stop every worker this fleet started (the server's shutdown calls this)."""
        await asyncio.gather(*(self._remove(i) for i in list(self._rentals)))
