"""Admins' scikit-learn pickles (`.pkl`/`.joblib`), converted to ONNX in a child process
(`_pickle_child`: memory and CPU limits, a wall-clock timeout here), so the code a pickle
runs when loaded never runs in the server. Regular users get a 403; everyone gets a 400
while MODELS_ALLOW_PICKLE is false."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gpuproxy.serving.errors import ModelError

if TYPE_CHECKING:
    from gpuproxy.accounts.principal import Principal

__all__ = ["check_pickle_allowed", "convert_pickle"]

_TIMEOUT_S = 120.0


def check_pickle_allowed(owner: Principal, allowed: bool, fmt: str) -> None:
    if not allowed:
        raise ModelError(
            400,
            f"format: {fmt} files are pickles, which run code when loaded; upload the model "
            "in the skops format (skops.io.dump) or as ONNX",
            code="format_unsupported",
            param="format",
        )
    if not owner.is_admin:
        raise ModelError(
            403,
            f"format: only admins may upload {fmt} pickles (they run code when loaded); "
            "upload the model in the skops format or as ONNX",
            code="pickle_admin_only",
            param="format",
        )


async def convert_pickle(source: Path, target: Path) -> None:
    """Write `source` (a pickle) converted to ONNX at `target`, or raise a 400 saying why."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gpuproxy.serving._pickle_child",
        str(source),
        str(target),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(_TIMEOUT_S):
            _, stderr = await child.communicate()
    except TimeoutError as exc:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
        raise ModelError(
            400, f"model: converting the pickle took longer than {_TIMEOUT_S:g} s", param="model"
        ) from exc
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
        raise
    if child.returncode != 0:
        lines = stderr.decode("utf-8", "replace").strip().splitlines()
        reason = lines[-1] if lines else f"the converter exited with {child.returncode}"
        if not reason.startswith("model:"):
            reason = f"model: {reason}"
        raise ModelError(400, reason[:400], code="conversion_failed", param="model")
