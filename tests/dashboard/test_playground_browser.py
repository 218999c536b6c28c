"""The playground in a real browser: the page streams an answer from the public
/v1/chat/completions hot route with a short-lived session token (no API key in the page),
the text arrives in several steps, and the billed cost shows in the spend windows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.gateway.support import GatewayServer

from .browser import Browser, require_chromium
from .helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def _chat(url: str, email: str) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser = Browser()
    driver = browser.driver
    wait = WebDriverWait(driver, 15)
    seen: dict[str, Any] = {}
    try:
        driver.get(url + "/dashboard/login")
        driver.find_element(By.ID, "email").send_keys(email)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "sign-in").click()
        wait.until(ec.url_to_be(url + "/dashboard/overview"))
        seen["spent_before"] = driver.find_element(
            By.CSS_SELECTOR, '[data-field="total_spent_24h"]'
        ).text

        driver.find_element(By.LINK_TEXT, "Playground").click()
        wait.until(
            ec.presence_of_element_located((By.CSS_SELECTOR, '#play-model option[value="m1"]'))
        )
        Select(driver.find_element(By.ID, "play-model")).select_by_value("m1")
        driver.find_element(By.ID, "play-max-tokens").clear()
        driver.find_element(By.ID, "play-max-tokens").send_keys("16")
        driver.find_element(By.ID, "play-message").send_keys("Tell me about GPUs")
        driver.find_element(By.ID, "play-send").click()
        output = driver.find_element(By.ID, "play-output")
        # Watch the text while it streams: it must grow in more than one step.
        lengths: list[int] = []
        watch = WebDriverWait(driver, 15, poll_frequency=0.05)
        watch.until(
            lambda d: (
                lengths.append(len(output.text)) or output.get_attribute("data-done") == "true"
            )
        )
        seen["lengths"] = sorted({n for n in lengths if n > 0})
        seen["chunks"] = int(output.get_attribute("data-chunks"))
        seen["answer"] = output.text
        seen["usage"] = driver.find_element(By.ID, "play-usage").text
        seen["error"] = driver.find_element(By.ID, "play-error").text
        seen["curl"] = driver.find_element(By.ID, "snippet-curl").text
        seen["storage"] = driver.execute_script(
            "return JSON.stringify(window.localStorage) + JSON.stringify(window.sessionStorage)"
            " + document.cookie"
        )
        browser.screenshot("10-playground")
        seen["playground_errors"] = browser.collect_console()

        driver.find_element(By.LINK_TEXT, "Overview").click()
        spent = (By.CSS_SELECTOR, '[data-field="total_spent_24h"]')
        wait.until(lambda d: d.find_element(*spent).text not in ("", seen["spent_before"]))
        seen["spent_after"] = driver.find_element(*spent).text
        # The traffic table is rebuilt live from the JSON: the answer's request shows up.
        first = (By.CSS_SELECTOR, "#traffic-table tbody td")
        wait.until(ec.text_to_be_present_in_element(first, "all models"))
        browser.screenshot("11-overview-after-chat")
        # The usage chart is drawn from the usage table when the page loads: reload until
        # the answer's row has been written.
        wait.until(lambda d: d.refresh() or "1 requests in the last 24h" in d.page_source)
        seen["chart_bars"] = len(driver.find_elements(By.CSS_SELECTOR, "#usage-chart rect"))
        driver.execute_script("document.getElementById('usage-chart').scrollIntoView()")
        browser.screenshot("12-usage-chart")
        driver.find_element(By.LINK_TEXT, "Billing").click()
        wait.until(ec.presence_of_element_located((By.ID, "billing-windows")))
        seen["billing"] = driver.find_element(By.ID, "billing-windows").text
        browser.screenshot("13-billing")
        seen["billing_errors"] = browser.collect_console()
        return seen
    finally:
        browser.close()


async def test_playground_streams_through_the_hot_route(gateway: GatewayServer) -> None:
    require_chromium()
    platform = await gateway.user()
    await gateway.spawn_worker(platform, "--model", "m1", "--token-rate", "10")
    await gateway.share_and_price(platform, "m1")
    bob = await gateway.user()
    seen = await asyncio.to_thread(_chat, gateway.url, bob.email)

    assert seen["error"] == ""
    assert seen["playground_errors"] == []
    assert seen["billing_errors"] == []
    assert seen["answer"].strip()
    assert seen["chunks"] > 1
    assert len(seen["lengths"]) > 1, "the answer did not arrive in several steps"
    assert "out" in seen["usage"]
    assert "$GPUPROXY_API_KEY" in seen["curl"]
    assert "gpx_" not in seen["storage"]
    assert "eyJ" not in seen["storage"]
    assert seen["spent_after"] != seen["spent_before"]
    assert "1440min" in seen["billing"]
    assert seen["chart_bars"] == 24
