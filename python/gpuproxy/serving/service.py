"""`ModelsService` (`services.models`): uploads, lookups, deletes and predictions.

An upload is staged, validated (and converted) in a thread, loaded once by ONNX Runtime
(the warm-up, which also proves it runs), recorded within the owner's quota, and only then
moved into place: any failure on the way leaves neither a file nor a row.
A prediction is admitted by billing first (the per-model price per call through
`services.billing.reserve`, with the same credit gate, guard rails and quotas as chat),
charged on success and released on failure.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterable, Awaitable
from typing import TYPE_CHECKING

import numpy as np

from gpuproxy.clock import now_ms
from gpuproxy.exceptions import ApiError
from gpuproxy.money import dollars_to_micros
from gpuproxy.serving.batching import Batcher, batchable
from gpuproxy.serving.catalog import ModelCatalog, ModelRecord, Quota
from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.formats import Prepared, inspect_onnx, prepare, resolve_format
from gpuproxy.serving.metrics import ServingMetrics
from gpuproxy.serving.pickles import check_pickle_allowed, convert_pickle
from gpuproxy.serving.runtime import ModelRuntime, Ran
from gpuproxy.serving.settings import ServingSettings
from gpuproxy.serving.storage import ModelFiles, Staged
from gpuproxy.serving.upload_form import read_upload

if TYPE_CHECKING:
    from gpuproxy.accounts.principal import Principal
    from gpuproxy.services import Services

__all__ = ["ModelsService", "start_serving"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MAX_PRICE_MICROS = 1_000_000_000  # $1000 per call: anything above is a typo


class ModelsService:
    def __init__(self, services: Services, settings: ServingSettings) -> None:
        self._services = services
        self.settings = settings
        self.files = ModelFiles(services.settings.data_dir / "models")
        self.catalog = ModelCatalog(services.db)
        self.runtime = ModelRuntime(settings)
        self.metrics = ServingMetrics()
        self._batchers: dict[str, Batcher] = {}

    # -- catalog --------------------------------------------------------------------------------

    async def upload(
        self, owner: Principal, content_type: str | None, body: AsyncIterable[bytes]
    ) -> ModelRecord:
        form = await read_upload(content_type, body, self.files, self.settings.max_upload_bytes)
        assert form.staged is not None
        staged: list[Staged] = [form.staged]
        model_id = "mdl_" + uuid.uuid4().hex
        try:
            fields = form.fields
            name = fields.get("name", "").strip()
            if not _NAME.match(name):
                raise ModelError(
                    400,
                    "name: expected 1-128 letters, digits, '.', '_' or '-' "
                    "(starting with a letter or digit)",
                    param="name",
                )
            visibility = fields.get("visibility", "private").strip().lower()
            if visibility not in ("private", "public"):
                raise ModelError(400, "visibility: expected private or public", param="visibility")
            price = _price(fields.get("price_per_call", "0"))
            fmt = resolve_format(fields.get("format"), form.filename)
            prepared = await self._prepare(owner, fmt, staged)
            served = staged[-1]
            await self.runtime.load(model_id, served.path, served.size)
            record = ModelRecord(
                id=model_id,
                owner_id=owner.user_id,
                name=name,
                version=0,
                source_format=prepared.source_format,
                visibility=visibility,
                size_bytes=served.size,
                sha256=form.staged.sha256,
                inputs=prepared.inputs,
                outputs=prepared.outputs,
                price_per_call_micros=price,
                created_at=now_ms(),
            )
            quota = Quota(self.settings.max_models_per_user, self.settings.max_bytes_per_user)
            record = await self.catalog.insert(record, quota)
            try:
                self.files.commit(served.path, model_id)
            except BaseException:
                await self.catalog.delete(model_id)
                raise
        except BaseException:
            self.runtime.evict(model_id)
            for item in staged:
                self.files.discard(item.path)
            raise
        for item in staged[:-1]:
            self.files.discard(item.path)
        log.info(
            "model %s uploaded: %s v%d (%s, %d bytes)",
            model_id, record.name, record.version, record.source_format, record.size_bytes,
        )  # fmt: skip
        return record

    async def _prepare(self, owner: Principal, fmt: str, staged: list[Staged]) -> Prepared:
        """Validate (and convert) the upload, `staged[0]`; a file made on the way is appended
        to `staged` (the last one is what will be served; the caller removes them all when
        anything fails)."""
        upload = staged[0].path
        if fmt not in ("pkl", "joblib"):
            prepared = await asyncio.to_thread(prepare, upload, fmt)
            if prepared.converted is not None:
                staged.append(await self.files.write_bytes(prepared.converted))
            return prepared
        check_pickle_allowed(owner, self.settings.allow_pickle, fmt)
        converted = self.files.temp_path(".onnx")
        staged.append(Staged(converted, 0, ""))
        await convert_pickle(upload, converted)
        prepared = await asyncio.to_thread(inspect_onnx, converted, fmt)
        staged[-1] = Staged(converted, converted.stat().st_size, "")
        return prepared

    async def find(self, caller: Principal, ref: str, version: int | None = None) -> ModelRecord:
        """The model `ref` names for the caller; 404 (also for another user's private one)."""
        record = await self.catalog.resolve(caller.user_id, ref, version, admin=caller.is_admin)
        if record is None:
            suffix = f" version {version}" if version is not None else ""
            raise ModelError(404, f"model {ref!r}{suffix} not found", code="model_not_found")
        return record

    async def visible(self, caller: Principal) -> list[ModelRecord]:
        return await self.catalog.visible(caller.user_id)

    async def delete(self, caller: Principal, ref: str) -> ModelRecord:
        record = await self.find(caller, ref)
        if record.owner_id != caller.user_id and not caller.is_admin:
            raise ModelError(403, "only the model's owner may delete it", code="not_owner")
        await self.catalog.delete(record.id)
        self.runtime.evict(record.id)
        self.metrics.forget(record.id)
        self._batchers.pop(record.id, None)
        self.files.delete(record.id)
        return record

    # -- inference ------------------------------------------------------------------------------

    async def run(
        self,
        caller: Principal,
        record: ModelRecord,
        feeds: dict[str, np.ndarray],
        output_names: list[str] | None = None,
    ) -> Ran:
        """Run the model once, billed at its price per call (402/429 before it runs)."""
        billing = self._services.billing
        if billing is None:
            raise ModelError(503, "billing is not started", code="unavailable")
        names = output_names or [o.name for o in record.outputs]
        price = record.price_per_call_micros
        try:
            reservation = await billing.reserve(caller, price)
        except ApiError:
            self.metrics.observe(record.id, "refused", None)
            raise
        started = time.perf_counter()
        try:
            ran = await self._execute(record, feeds, names)
        except BaseException as exc:
            reservation.release()
            self.metrics.observe(record.id, _outcome(exc), time.perf_counter() - started)
            raise
        reservation.commit(price, ref=f"model:{record.id}")
        self.metrics.observe(record.id, "ok", time.perf_counter() - started)
        return ran

    def _execute(
        self, record: ModelRecord, feeds: dict[str, np.ndarray], names: list[str]
    ) -> Awaitable[Ran]:
        path = self.files.path_of(record.id)

        def run(batch: dict[str, np.ndarray], wanted: list[str]) -> Awaitable[Ran]:
            return self.runtime.run(record.id, path, record.size_bytes, batch, wanted)

        window = self.settings.batch_window_ms
        if window <= 0 or not batchable(record.inputs, record.outputs):
            return run(feeds, names)
        batcher = self._batchers.get(record.id)
        if batcher is None:
            batcher = Batcher(run, window / 1000, self.settings.max_batch_size)
            self._batchers[record.id] = batcher
        return batcher.submit(feeds, names)

    async def close(self) -> None:
        for batcher in list(self._batchers.values()):
            await batcher.close()


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, ModelError) and exc.http_status == 504:
        return "timeout"
    if isinstance(exc, ModelError) and exc.http_status < 500:
        return "client_error"
    return "error"


def _price(value: str) -> int:
    try:
        micros = dollars_to_micros(value.strip() or "0")
    except ValueError as exc:
        raise ModelError(
            400, "price_per_call: expected a dollar amount such as 0.0001", param="price_per_call"
        ) from exc
    if not 0 <= micros <= _MAX_PRICE_MICROS:
        raise ModelError(
            400, "price_per_call: expected from 0 to 1000 dollars", param="price_per_call"
        )
    return micros


async def start_serving(services: Services) -> None:
    """Startup hook: `services.models` (model serving; MODELS_ENABLED=false leaves it None)."""
    settings = services.settings.serving
    if not settings.enabled:
        return
    service = ModelsService(services, settings)
    await asyncio.to_thread(service.files.ensure)
    services.models = service
    services.shutdown_hooks.append(service.close)
