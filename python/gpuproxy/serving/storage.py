"""Model files on disk under `DATA_DIR/models`: written in full to a temporary name with a
size limit and a sha256, then renamed into place, so a reader never sees half a file and a
failed upload leaves nothing behind.

Disk writes run in a worker thread (the event loop keeps serving while a large file lands).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gpuproxy.serving.errors import ModelError

__all__ = ["ModelFiles", "Staged", "StagedWriter"]

#: Chunks are gathered up to this size before one write (one thread hop per MiB, not per chunk).
_FLUSH_BYTES = 1024 * 1024
#: A staged file untouched this long belongs to no upload still running.
_STALE_S = 3600.0


@dataclass(slots=True)
class Staged:
    """A complete upload under a temporary name: `commit` moves it into place."""

    path: Path
    size: int
    sha256: str


class ModelFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._staging = root / ".staging"

    def ensure(self) -> None:
        self._staging.mkdir(parents=True, exist_ok=True)
        # Old files in staging are from a process that died mid-upload. Recent ones may be
        # another worker's upload in progress (workers share the directory): left alone.
        cutoff = time.time() - _STALE_S
        for leftover in self._staging.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def path_of(self, model_id: str) -> Path:
        return self.root / f"{model_id}.onnx"

    def temp_path(self, suffix: str) -> Path:
        return self._staging / f"{uuid.uuid4().hex}{suffix}"

    def writer(self, limit: int, *, field: str = "model") -> StagedWriter:
        return StagedWriter(self.temp_path(".part"), limit, field)

    async def write_bytes(self, data: bytes) -> Staged:
        """Stage bytes produced here (a converted model)."""
        path = self.temp_path(".onnx")
        await asyncio.to_thread(path.write_bytes, data)
        return Staged(path, len(data), hashlib.sha256(data).hexdigest())

    def commit(self, staged: Path, model_id: str) -> Path:
        """Move a validated file into place (same file system: an atomic rename)."""
        target = self.path_of(model_id)
        os.replace(staged, target)
        return target

    def discard(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def delete(self, model_id: str) -> None:
        self.discard(self.path_of(model_id))


class StagedWriter:
    """One upload being written: `write` chunks, then `finish`; `abort` removes the file.

    More than `limit` bytes is a 413 naming `field`, and the partial file is removed."""

    def __init__(self, path: Path, limit: int, field: str) -> None:
        self.path = path
        self._limit = limit
        self._field = field
        self._digest = hashlib.sha256()
        self._size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._handle: BinaryIO | None = None

    async def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            self.abort()
            raise ModelError(
                413,
                f"{self._field}: the file is larger than the limit of {self._limit} bytes",
                code="model_too_large",
                param=self._field,
            )
        self._digest.update(chunk)
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= _FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._handle is None:
            self._handle = await asyncio.to_thread(self.path.open, "wb")
        data = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        await asyncio.to_thread(self._handle.write, data)

    async def finish(self) -> Staged:
        try:
            await self._flush()
            assert self._handle is not None
            await asyncio.to_thread(self._handle.close)
        except BaseException:
            self.abort()
            raise
        return Staged(self.path, self._size, self._digest.hexdigest())

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
