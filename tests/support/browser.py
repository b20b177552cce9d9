"""A real browser for the console tests: Debian's chromium driven by chromium-driver through Selenium.

`.ci/run` installs both packages when they are missing. Without them the browser tests are skipped,
except under TEST_REQUIRE_SERVICES=1, where they fail. Every page a test looks at is saved as a
screenshot under the test's temporary folder, and a failed step names those files in its message.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

CHROMIUM = ("chromium", "chromium-browser")
DRIVER = ("chromedriver", "chromium-driver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WIDTH, MIN_HEIGHT = 1280, 900


def _which(names: tuple[str, ...]) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


def require_chromium() -> tuple[str, str]:
    """(browser, driver) executables; fails under TEST_REQUIRE_SERVICES, skips otherwise."""
    browser, driver = _which(CHROMIUM), _which(DRIVER)
    if browser and driver:
        return browser, driver
    reason = "chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)"
    if os.environ.get("TEST_REQUIRE_SERVICES", "") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


class Browser:
    """One headless chromium with a fresh profile; pages are saved as numbered screenshots."""

    def __init__(self, folder: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        browser, driver = require_chromium()
        self.folder = folder
        self.screenshots: list[Path] = []
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={WIDTH},{MIN_HEIGHT}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, for errors()
        profile = folder / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        options.add_argument(f"--user-data-dir={profile}")
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        self.driver.set_page_load_timeout(30)
        self.driver.implicitly_wait(5)  # elements of a page still loading are waited for

    def submit(self, css: str) -> None:
        """Clicks a button that submits a form and waits until the next page has replaced this one."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.expected_conditions import staleness_of
        from selenium.webdriver.support.wait import WebDriverWait

        page = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.CSS_SELECTOR, css).click()
        WebDriverWait(self.driver, 15).until(staleness_of(page))

    def shot(self, name: str) -> Path:
        """The whole page (the viewport is stretched to its height for the shot) as the next numbered PNG."""
        path = self.folder / f"{len(self.screenshots) + 1:02d}-{name}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        metrics = {"width": WIDTH, "height": max(MIN_HEIGHT, min(int(height or 0), 4000))}
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {**metrics, "deviceScaleFactor": 1, "mobile": False}
        )
        try:
            self.driver.save_screenshot(str(path))
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        self.screenshots.append(path)
        return path

    @contextmanager
    def step(self, name: str):
        """A named part of a scenario: its page is saved afterwards, and a failure inside it is reported
        with the step's name and every screenshot taken so far (including the failing page)."""
        try:
            yield
        except Exception as error:
            with suppress(Exception):  # the browser itself may be what failed
                self.shot(f"{name}-failed")
            listing = "\n".join(str(path) for path in self.screenshots)
            raise AssertionError(f"step {name!r} failed: {error}\nscreenshots:\n{listing}") from error
        self.shot(name)

    def errors(self) -> list[str]:
        """The console's errors (failed loads, CSP violations, uncaught exceptions) since the last call."""
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def close(self) -> None:
        self.driver.quit()
