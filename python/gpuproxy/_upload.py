"""Moves a streamed request body from a Python async iterator into the Rust forwarder.

`Forwarder.forward(..., body=<async iterable>)` runs `pump_upload` as an asyncio task.
Chunks are queued synchronously while the forwarder's bounded queue has room; the task only
awaits when the upstream reads slower than the client sends (backpressure).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpuproxy._core import UploadSink

__all__ = ["pump_upload"]


async def pump_upload(source: AsyncIterable[bytes], sink: UploadSink) -> None:
    """Sends every chunk of `source`, then ends the body.

    A failing source aborts the upload (the upstream request fails instead of receiving a
    truncated body as if complete); the forward reports that error, so it is not re-raised
    here. `BrokenPipeError` from the sink means the request is already over.
    """
    try:
        async for chunk in source:
            data = chunk if isinstance(chunk, bytes) else bytes(chunk)
            if data and not sink.try_send(data):
                await sink.send(data)
    except BrokenPipeError:
        return
    except Exception:
        sink.abort()
        return
    except BaseException:
        sink.abort()
        raise
    sink.finish()
