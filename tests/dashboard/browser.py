"""Headless Chromium (Debian's chromium + chromedriver) driven by Selenium, for the
dashboard's browser tests. Synchronous: the tests run it in a thread, so the gateway,
which lives on the test's event loop, keeps serving."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ARTIFACTS", "Browser", "require_chromium"]

#: Screenshots for a reviewer (git-ignored).
ARTIFACTS = Path(__file__).parent / "artifacts"
_CHROMIUM = os.environ.get("GPUPROXY_TEST_CHROMIUM", "/usr/bin/chromium")
_DRIVER = os.environ.get("GPUPROXY_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


def require_chromium() -> None:
    """Skip without Chromium (a failure with CI=true: .ci/run installs it)."""
    if Path(_CHROMIUM).exists() and (Path(_DRIVER).exists() or shutil.which("chromedriver")):
        return
    message = f"headless Chromium is not installed ({_CHROMIUM}, {_DRIVER})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: .ci/run installs chromium and chromium-driver)")
    pytest.skip(message)


class Browser:
    """One headless Chromium; collects console errors page by page."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = _CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--window-size=1280,900", "--no-first-run"):  # fmt: skip
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # An explicit driver path: Selenium Manager would otherwise try to download one.
        self.driver: Any = webdriver.Chrome(
            service=Service(executable_path=_DRIVER), options=options
        )
        self.driver.set_page_load_timeout(20)
        self.console_errors: list[str] = []
        ARTIFACTS.mkdir(exist_ok=True)

    def collect_console(self) -> list[str]:
        """The console's SEVERE entries since the last call (reading clears them)."""
        entries = [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
        self.console_errors.extend(entries)
        return entries

    def screenshot(self, name: str) -> None:
        self.driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def close(self) -> None:
        self.driver.quit()
