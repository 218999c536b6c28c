"""`aiserve-gpuproxyd` command line: the HTTP mode handed to Granian."""

from __future__ import annotations

import pytest

from gpuproxy.server import HTTP_MODES, build_parser


def test_http_defaults_to_http1_only() -> None:
    # HTTP/1.1 only: Granian's auto (h1 + h2) connection costs ~12 KiB more per held stream.
    assert build_parser().parse_args([]).http == "1"


@pytest.mark.parametrize("mode", HTTP_MODES)
def test_http_modes_map_to_granian(mode: str) -> None:
    from granian.constants import HTTPModes

    assert HTTPModes(build_parser().parse_args(["--http", mode]).http).value == mode


def test_unknown_http_mode_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--http", "3"])
    assert "--http" in capsys.readouterr().err
