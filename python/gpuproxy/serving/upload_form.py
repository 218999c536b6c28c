"""Reads a `multipart/form-data` upload as it arrives: text fields into memory (small, with
a limit), the one file part (`model`, or `file`) streamed to staging with the size limit and
its sha256. Nothing of the body is held whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field

from multipart import MultipartSegment, ParserError, PushMultipartParser, parse_options_header

from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.storage import ModelFiles, Staged, StagedWriter

__all__ = ["FILE_FIELDS", "UploadForm", "read_upload"]

#: The file part's name: the seed's `model`, or the common `file`.
FILE_FIELDS = ("model", "file")
_MAX_FIELD_BYTES = 4096
_MAX_PARTS = 32
#: Read (and drop) at most this much of a refused upload's remaining body before answering.
_DRAIN_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    staged: Staged | None = None
    filename: str | None = None

    def discard(self, files: ModelFiles) -> None:
        if self.staged is not None:
            files.discard(self.staged.path)


async def read_upload(
    content_type: str | None, body: AsyncIterable[bytes], files: ModelFiles, limit: int
) -> UploadForm:
    """The form; 400/413 naming the field on a bad body (nothing kept in staging then)."""
    kind, options = parse_options_header(content_type or "")
    boundary = options.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise ModelError(
            415,
            "content-type: expected multipart/form-data with a boundary "
            f"(the file in a part named {FILE_FIELDS[0]!r})",
            param="content-type",
        )
    form = UploadForm()
    writer: StagedWriter | None = None
    text: bytearray | None = None
    name = ""
    try:
        # Leaving the block closes the parser, which raises ParserError for a truncated body.
        with PushMultipartParser(boundary, max_segment_count=_MAX_PARTS, strict=True) as parser:
            async for chunk in body:
                if not chunk:
                    continue
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        name = event.name
                        if event.filename is not None or name in FILE_FIELDS:
                            if name not in FILE_FIELDS or form.staged or writer:
                                raise ModelError(
                                    400,
                                    f"{name}: one file is expected, in the part named 'model'",
                                    param=name,
                                )
                            form.filename = event.filename
                            writer = files.writer(limit, field=name)
                        else:
                            text = bytearray()
                    elif event:
                        if writer is not None:
                            await writer.write(bytes(event))
                        elif text is not None:
                            text += event
                            if len(text) > _MAX_FIELD_BYTES:
                                raise ModelError(
                                    400, f"{name}: longer than {_MAX_FIELD_BYTES} bytes", param=name
                                )
                    elif writer is not None:  # the end of the file part
                        form.staged = await writer.finish()
                        writer = None
                    elif text is not None:
                        form.fields[name] = text.decode("utf-8", "replace")
                        text = None
    except ParserError as exc:
        if writer is not None:
            writer.abort()
        form.discard(files)
        raise ModelError(400, f"body: malformed multipart body: {exc}", param="body") from exc
    except ModelError:
        if writer is not None:
            writer.abort()
        form.discard(files)
        await _drain(body)
        raise
    except BaseException:
        if writer is not None:
            writer.abort()
        form.discard(files)
        raise
    if form.staged is None:
        raise ModelError(400, "model: the upload has no file part named 'model'", param="model")
    return form


async def _drain(body: AsyncIterable[bytes]) -> None:
    """Consume the rest of a refused body (bounded) so the client, still sending, reads the
    4xx: answering and closing mid-upload makes it see a reset connection instead."""
    left = _DRAIN_BYTES
    try:
        async for chunk in body:
            left -= len(chunk)
            if left <= 0:
                return
    except Exception:  # the client went away: nothing to answer to
        return
