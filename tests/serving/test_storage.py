"""Model files on disk: staging leftovers of dead processes are removed at start, another
worker's upload in progress is not."""

from __future__ import annotations

import os
from pathlib import Path

from gpuproxy.serving.storage import ModelFiles


def test_staging_keeps_recent_files_and_removes_stale_ones(tmp_path: Path) -> None:
    files = ModelFiles(tmp_path / "models")
    files.ensure()
    recent, stale = files.temp_path(".part"), files.temp_path(".part")
    recent.write_bytes(b"in progress")
    stale.write_bytes(b"left by a dead process")
    os.utime(stale, (1, 1))
    files.ensure()
    assert recent.exists()
    assert not stale.exists()
