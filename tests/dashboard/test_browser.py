"""The dashboard in a real browser (headless Chromium through Selenium) against a real
gateway: sign in, create a key and see it once, live overview under the CSP, rent from the
local fleet and see the instance appear, a non-admin
refused the admin page, a forged cross-site POST refused, sign out; no console errors on
any dashboard page; a screenshot of each step under tests/dashboard/artifacts/."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tests.gateway.support import GatewayServer
from tests.helpers import free_port

from .browser import Browser, require_chromium
from .helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

_WAIT_S = 10


def _forgery_page(target: str) -> bytes:
    """Another site's page that posts a form to the dashboard as soon as it loads."""
    return f"""<!doctype html><html><body>
<form id="f" method="post" action="{target}/dashboard/keys">
<input name="name" value="forged-by-another-site"></form>
<script>document.getElementById("f").submit();</script></body></html>""".encode()


class _Evil(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def evil_site(gateway: GatewayServer) -> Iterator[str]:
    """A page on another site: `localhost` is another site than `127.0.0.1` for the
    browser (the gateway is reached as 127.0.0.1)."""
    handler = type("Evil", (_Evil,), {"body": _forgery_page(gateway.url)})
    server = http.server.HTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def _journey(url: str, email: str, admin_email: str, evil: str) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser = Browser()
    driver = browser.driver
    wait = WebDriverWait(driver, _WAIT_S)
    seen: dict[str, Any] = {}

    def sign_in(who: str) -> None:
        driver.get(url + "/dashboard/")
        wait.until(ec.presence_of_element_located((By.ID, "login-form")))
        browser.screenshot("01-sign-in")
        driver.find_element(By.ID, "email").send_keys(who)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "sign-in").click()
        wait.until(ec.url_to_be(url + "/dashboard/overview"))

    try:
        sign_in(email)
        # The overview's script (loaded from 'self' under the CSP) updates it live.
        wait.until(ec.text_to_be_present_in_element((By.ID, "live-status"), "Updated"))
        browser.screenshot("02-overview")
        seen["overview_errors"] = browser.collect_console()

        driver.find_element(By.LINK_TEXT, "API keys").click()
        wait.until(ec.presence_of_element_located((By.ID, "create-key-form")))
        driver.find_element(By.ID, "key-name").send_keys("browser key")
        driver.find_element(By.ID, "create-key").click()
        new_key = wait.until(ec.presence_of_element_located((By.ID, "new-key")))
        seen["key"] = new_key.get_attribute("value")
        browser.screenshot("03-key-created")
        driver.get(url + "/dashboard/keys")
        wait.until(ec.presence_of_element_located((By.ID, "keys-table")))
        seen["keys_page_again"] = driver.page_source
        seen["keys_errors"] = browser.collect_console()

        driver.get(url + "/dashboard/gpus?provider=local")
        rent = (By.CSS_SELECTOR, "#offers button[type=submit]")
        wait.until(ec.element_to_be_clickable(rent)).click()
        instance = (By.CSS_SELECTOR, "#my-instances tr[data-instance-id]")
        seen["instances"] = len(wait.until(ec.presence_of_all_elements_located(instance)))
        browser.screenshot("04-gpu-rented")
        seen["gpus_errors"] = browser.collect_console()

        driver.get(url + "/dashboard/admin")
        seen["admin_refusal"] = driver.find_element(By.ID, "error-message").text
        seen["admin_link"] = driver.find_elements(By.LINK_TEXT, "Admin")
        browser.screenshot("05-admin-refused")
        browser.collect_console()  # the 403 itself is logged: expected, not collected

        driver.get(evil)
        wait.until(lambda d: d.current_url.startswith(url))
        seen["forged_landing"] = driver.current_url
        seen["forged_text"] = driver.find_element(By.TAG_NAME, "body").text
        browser.screenshot("06-forged-post-refused")
        browser.collect_console()  # the refusal's status is logged: expected

        driver.get(url + "/dashboard/overview")
        driver.find_element(By.CSS_SELECTOR, ".signout button").click()
        wait.until(ec.url_to_be(url + "/dashboard/login"))
        driver.get(url + "/dashboard/keys")
        seen["after_sign_out"] = driver.current_url
        browser.screenshot("07-signed-out")
        seen["signout_errors"] = browser.collect_console()

        sign_in(admin_email)
        driver.find_element(By.LINK_TEXT, "Admin").click()
        wait.until(ec.presence_of_element_located((By.ID, "users-table")))
        seen["admin_page"] = driver.page_source
        browser.screenshot("08-admin")
        seen["admin_errors"] = browser.collect_console()
        # A phone's width: the layout still fits (no horizontal page scroll).
        driver.set_window_size(390, 844)
        driver.get(url + "/dashboard/overview")
        seen["phone_overflow"] = driver.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth + 1"
        )
        browser.screenshot("09-overview-phone")
        seen["phone_errors"] = browser.collect_console()
        return seen
    finally:
        browser.close()


async def test_dashboard_in_a_real_browser(gateway: GatewayServer, evil_site: str) -> None:
    require_chromium()
    user = await gateway.user()
    admin = await gateway.user(admin=True)
    seen = await asyncio.to_thread(_journey, gateway.url, user.email, admin.email, evil_site)

    for page in ("overview", "keys", "gpus", "signout", "admin", "phone"):
        assert seen[f"{page}_errors"] == [], (page, seen[f"{page}_errors"])
    key = seen["key"]
    assert key.startswith("gpx_")
    assert key not in seen["keys_page_again"], "the key was shown a second time"
    assert "browser key" in seen["keys_page_again"]
    assert seen["instances"] == 1
    assert "administrators" in seen["admin_refusal"]
    assert seen["admin_link"] == []
    # The forged POST reached the dashboard without the session (SameSite=Strict) and
    # without a CSRF token: refused, and no key was made.
    assert "/dashboard/keys" in seen["forged_landing"]
    assert "not signed in" in seen["forged_text"]
    keys = await gateway.services.accounts.list_api_keys(user.id)  # type: ignore[union-attr]
    assert all(k.name != "forged-by-another-site" for k in keys)
    assert seen["after_sign_out"].endswith("/dashboard/login")
    assert user.email in seen["admin_page"]
    assert not seen["phone_overflow"]
