from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = [
    "aiserve-gpuproxyd",
    "aiserve-gpuproxy-client",
    "aiserve-gpuproxy-admin",
    "aiserve-gpuproxy-seed",
    "aiserve-gpuproxy-worker",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    path = Path(sys.executable).parent / command
    result = subprocess.run([str(path), "--help"], capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert b"usage:" in result.stdout


def test_admin_migrate_applies_and_reports(tmp_path: Path) -> None:
    path = Path(sys.executable).parent / "aiserve-gpuproxy-admin"
    env = {"DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    first = subprocess.run(
        [str(path), "migrate"], env=env, cwd=tmp_path, capture_output=True, timeout=30, check=False
    )
    assert first.returncode == 0, first.stderr.decode()
    assert b"0001_accounts.sql" in first.stdout
    again = subprocess.run(
        [str(path), "migrate"], env=env, cwd=tmp_path, capture_output=True, timeout=30, check=False
    )
    assert b"up to date" in again.stdout
